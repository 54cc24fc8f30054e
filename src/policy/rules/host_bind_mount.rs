//! NCI018: a host directory bind-mounted that no allow-list names.

use super::prelude::*;
use super::sensitive_mounts::sensitive_prefix;

pub struct HostBindMount;

static META: RuleMeta = RuleMeta {
    id: "NCI018",
    name: "host-bind-mount",
    severity: Severity::Medium,
    title: "host path mounted outside the allow-list",
    risk: "Every host directory mounted into a job is readable (and, unless `:ro`, writable) \
           by whatever the job runs, including its dependencies' install scripts.",
    safer: "Keep what the job needs inside the workspace; mount host paths read-only, and \
            list the ones you accept under `allow_mounts` in `.nestci/policy.yml`.",
    reference: "CIS Docker Benchmark v1.2.0 5.5; Kubernetes Pod Security Standards \
                (Baseline): HostPath Volumes",
    help_uri: Some("https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline"),
};

impl Rule for HostBindMount {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, cx: &Context, out: &mut Vec<Hit>) {
        for v in &job.security.volumes {
            let host = normalize_path(&v.value.host);
            // Paths in the workspace are the project's own; sockets,
            // /proc, /sys and sensitive paths have rules of their own.
            if !is_host_path(&host)
                || is_engine_socket(&host)
                || is_under(&host, "/proc")
                || is_under(&host, "/sys")
                || sensitive_prefix(&host).is_some()
            {
                continue;
            }
            if cx
                .allowed_mounts
                .iter()
                .any(|a| is_under(&host, &normalize_path(a)))
            {
                continue;
            }
            out.push(Hit::new(
                &v.loc,
                format!("host path `{host}` is not in the policy's `allow_mounts`"),
            ));
        }
    }
}
