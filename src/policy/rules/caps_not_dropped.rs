//! NCI025: the default capabilities kept.

use super::prelude::*;

pub struct CapsNotDropped;

static META: RuleMeta = RuleMeta {
    id: "NCI025",
    name: "caps-not-dropped",
    severity: Severity::Low,
    title: "capabilities not dropped below the defaults",
    risk: "The default set (CHOWN, DAC_OVERRIDE, FOWNER, SETUID, NET_RAW, MKNOD, ...) lets a \
           root step ignore file permissions, spoof packets and create device nodes: small \
           steps toward an escape.",
    safer: "Add `cap_drop: [ALL]` and add back only what the job needs.",
    reference: "CIS Docker Benchmark v1.2.0 5.3; Kubernetes Pod Security Standards \
                (Restricted): Capabilities",
    help_uri: Some(
        "https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted",
    ),
};

impl Rule for CapsNotDropped {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, _cx: &Context, out: &mut Vec<Hit>) {
        // A privileged job has every capability anyway; NCI001 says so.
        if job.security.is_privileged() || job.security.cap_drop.iter().any(|c| c.value == "ALL") {
            return;
        }
        let loc = job.security.cap_drop.first().map_or(&job.loc, |c| &c.loc);
        out.push(Hit::new(
            loc,
            format!("job `{}` keeps the default capabilities", job.name),
        ));
    }
}
