//! NCI020: no_new_privs turned off.

use super::prelude::*;

pub struct NoNewPrivsOff;

static META: RuleMeta = RuleMeta {
    id: "NCI020",
    name: "no-new-privs-off",
    severity: Severity::Medium,
    title: "no_new_privs disabled",
    risk: "Without no_new_privs, setuid and file-capability binaries in the image raise the \
           privileges of whoever runs them: a non-root step can become root in the container.",
    safer: "Leave `no_new_privs` at its default (on); install what needs root in the image \
            instead of escalating at run time.",
    reference: "CIS Docker Benchmark v1.2.0 5.25 (container restricted from acquiring \
                additional privileges); Kubernetes Pod Security Standards (Restricted): \
                Privilege Escalation",
    help_uri: Some(
        "https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted",
    ),
};

impl Rule for NoNewPrivsOff {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, _cx: &Context, out: &mut Vec<Hit>) {
        if let Some(n) = job.security.no_new_privs.as_ref().filter(|n| !n.value) {
            out.push(Hit::new(&n.loc, "`no_new_privs` is turned off"));
        }
    }
}
