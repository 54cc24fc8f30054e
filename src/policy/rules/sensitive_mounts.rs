//! NCI011: a sensitive host path bind-mounted.

use super::prelude::*;

pub struct SensitiveMounts;

/// Host paths whose exposure hands over the host (or its secrets).
/// `/proc` and `/sys` are NCI010; engine sockets below `/run` are NCI002.
pub const SENSITIVE: &[&str] = &[
    "/",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib64",
    "/usr",
    "/bin",
    "/sbin",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/run",
    "/var/run",
    "/root",
    "/home",
    "~/.ssh",
    "~/.docker",
    "~/.kube",
    "~/.aws",
    "~/.gnupg",
];

static META: RuleMeta = RuleMeta {
    id: "NCI011",
    name: "sensitive-mount",
    severity: Severity::High,
    title: "sensitive host path mounted",
    risk: "System directories, /var/lib/docker, /run and home directories hold credentials \
           (ssh keys, ~/.docker/config.json, cloud tokens) and binaries the host runs as root; \
           read-only they leak, read-write they let the step plant code the host will run.",
    safer: "Mount only the project directory (the workspace) and pass secrets as variables; \
            if a tool needs a file from the host, copy that one file into the workspace.",
    reference: "CIS Docker Benchmark v1.2.0 5.5 (sensitive host system directories not \
                mounted); Kubernetes Pod Security Standards (Baseline): HostPath Volumes",
    help_uri: Some("https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline"),
};

/// The sensitive path `host` is, or lies below (ssh keys anywhere too).
pub fn sensitive_prefix(host: &str) -> Option<&'static str> {
    if host.split('/').any(|c| c == ".ssh") {
        return Some("~/.ssh");
    }
    if host.ends_with(".docker/config.json") {
        return Some("~/.docker");
    }
    SENSITIVE
        .iter()
        .copied()
        .filter(|p| *p != "/")
        .find(|p| is_under(host, p))
        .or((host == "/").then_some("/"))
}

impl Rule for SensitiveMounts {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, cx: &Context, out: &mut Vec<Hit>) {
        for v in &job.security.volumes {
            let host = normalize_path(&v.value.host);
            if !is_host_path(&host) || is_engine_socket(&host) {
                continue;
            }
            let Some(prefix) = sensitive_prefix(&host) else {
                continue;
            };
            let mut hit = Hit::new(
                &v.loc,
                format!(
                    "volume mounts `{host}` (under `{prefix}`) {}",
                    if v.value.read_only {
                        "read-only"
                    } else {
                        "read-write"
                    }
                ),
            );
            if !v.value.read_only {
                hit = if cx.root_is_mapped(job) {
                    hit.note(format!("read-write would be critical; {USERNS_WHY}"))
                } else {
                    hit.severity(Severity::Critical)
                        .note("read-write raises it to critical")
                };
            }
            out.push(hit);
        }
    }
}
