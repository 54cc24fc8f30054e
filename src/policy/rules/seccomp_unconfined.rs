//! NCI008: seccomp turned off.

use super::prelude::*;
use crate::model::SeccompMode;

pub struct SeccompUnconfined;

static META: RuleMeta = RuleMeta {
    id: "NCI008",
    name: "seccomp-unconfined",
    severity: Severity::High,
    title: "seccomp disabled",
    risk: "Without the seccomp filter every system call reaches the kernel, including the rare \
           ones (keyctl, userfaultfd, bpf, ...) behind most kernel privilege escalations.",
    safer: "Keep the default profile; if one call is missing, allow that call in a custom \
            profile rather than turning filtering off.",
    reference: "CIS Docker Benchmark v1.2.0 5.21; Kubernetes Pod Security Standards \
                (Restricted): Seccomp",
    help_uri: Some(
        "https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted",
    ),
};

impl Rule for SeccompUnconfined {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, cx: &Context, out: &mut Vec<Hit>) {
        if let Some(s) = job
            .security
            .seccomp
            .as_ref()
            .filter(|s| s.value == SeccompMode::Unconfined)
        {
            let hit = Hit::new(&s.loc, "the job runs without a seccomp filter");
            out.push(if cx.root_is_mapped(job) {
                hit.note(
                    "a user namespace does not make up for this: it opens more kernel code to \
                     the job, which is what seccomp filters",
                )
            } else {
                hit
            });
        }
    }
}
