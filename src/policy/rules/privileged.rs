//! NCI001: a privileged container.

use super::prelude::*;

pub struct Privileged;

static META: RuleMeta = RuleMeta {
    id: "NCI001",
    name: "privileged",
    severity: Severity::Critical,
    title: "privileged container",
    risk: "`privileged: true` gives the step every capability, every host device and no \
           seccomp or AppArmor confinement: mounting the host's disk or loading a kernel \
           module is one command away from root on the host.",
    safer: "Drop `privileged` and add only the capability the step needs; to build images, \
            use nestci's dind mode (nested containers in a user namespace) or a rootless \
            builder such as BuildKit rootless or kaniko.",
    reference: "CIS Docker Benchmark v1.2.0 5.4; Kubernetes Pod Security Standards (Baseline): \
                Privileged Containers",
    help_uri: Some("https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline"),
};

impl Rule for Privileged {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, cx: &Context, out: &mut Vec<Hit>) {
        let Some(p) = job.security.privileged.as_ref().filter(|p| p.value) else {
            return;
        };
        let hit = Hit::new(&p.loc, format!("job `{}` runs privileged", job.name));
        out.push(if cx.root_is_mapped(job) {
            hit.severity(Severity::High).note(USERNS_WHY)
        } else if cx.is_dood() {
            hit.note(
                "in dood mode the host's Docker daemon starts this container with every \
                 capability and all host devices",
            )
        } else {
            hit
        });
    }
}
