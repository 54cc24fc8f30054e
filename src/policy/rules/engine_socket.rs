//! NCI002: a container-engine socket mounted into the job.

use super::prelude::*;

pub struct EngineSocket;

static META: RuleMeta = RuleMeta {
    id: "NCI002",
    name: "engine-socket",
    severity: Severity::Critical,
    title: "container-engine socket mounted",
    risk: "A step that can talk to docker.sock (or containerd, podman, buildkitd, cri-o) can \
           start a privileged container with the host's root filesystem mounted: root on the \
           host, and every other job's secrets.",
    safer: "Do not mount the socket. Build images with nestci's dind mode, or with a rootless \
            builder (BuildKit rootless, kaniko, buildah --isolation chroot).",
    reference: "CIS Docker Benchmark v1.2.0 5.31 (Docker socket not mounted inside containers)",
    help_uri: None,
};

const DOOD_NOTE: &str = "in dood mode this is the very daemon that runs the job: the step can \
                         start privileged sibling containers on the host";

const DIND_NOTE: &str = "in dind mode the socket is bound into the job as asked; whether the \
                         job's root (an unprivileged host uid) can use it depends only on the \
                         socket's permissions, and whoever can use it is root on the host";

impl Rule for EngineSocket {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, cx: &Context, out: &mut Vec<Hit>) {
        let note = |hit: Hit| {
            if cx.is_dood() {
                hit.note(DOOD_NOTE)
            } else if cx.root_is_mapped(job) {
                hit.note(DIND_NOTE)
            } else {
                hit
            }
        };
        if let Some(m) = job
            .security
            .mount_docker_socket
            .as_ref()
            .filter(|m| m.value)
        {
            out.push(note(Hit::new(
                &m.loc,
                format!("job `{}` mounts the Docker socket", job.name),
            )));
        }
        for v in &job.security.volumes {
            let host = normalize_path(&v.value.host);
            if is_host_path(&host) && is_engine_socket(&host) {
                out.push(note(Hit::new(
                    &v.loc,
                    format!("volume mounts the container-engine socket `{host}`"),
                )));
            }
        }
    }
}
