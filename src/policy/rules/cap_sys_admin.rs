//! NCI004: CAP_SYS_ADMIN added.

use super::prelude::*;

pub struct CapSysAdmin;

static META: RuleMeta = RuleMeta {
    id: "NCI004",
    name: "cap-sys-admin",
    severity: Severity::Critical,
    title: "CAP_SYS_ADMIN (or ALL) added",
    risk: "CAP_SYS_ADMIN is \"the new root\": with it a step can mount filesystems, use \
           cgroup release agents and other kernel interfaces that have repeatedly led to \
           container escapes.",
    safer: "Add the narrow capability the step needs instead; to run nested containers use \
            nestci's dind mode, which needs no added capability.",
    reference: "CIS Docker Benchmark v1.2.0 5.3; Kubernetes Pod Security Standards (Baseline): \
                Capabilities",
    help_uri: Some("https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline"),
};

impl Rule for CapSysAdmin {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, cx: &Context, out: &mut Vec<Hit>) {
        for cap in &job.security.cap_add {
            if cap.value != "SYS_ADMIN" && cap.value != "ALL" {
                continue;
            }
            let hit = Hit::new(
                &cap.loc,
                format!("job `{}` adds CAP_{}", job.name, cap.value),
            );
            out.push(if cx.root_is_mapped(job) {
                hit.severity(Severity::High).note(USERNS_WHY)
            } else {
                hit
            });
        }
    }
}
