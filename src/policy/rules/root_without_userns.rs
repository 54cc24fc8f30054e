//! NCI021: root in the job is root on the host.

use super::prelude::*;

pub struct RootWithoutUserns;

static META: RuleMeta = RuleMeta {
    id: "NCI021",
    name: "root-without-userns",
    severity: Severity::Medium,
    title: "root without a user namespace",
    risk: "The job runs as uid 0 and that uid is the host's root: any escape from the \
           container (a kernel bug, a writable mount, a mistake in another rule) lands as \
           root on the host.",
    safer: "Run in dind mode (container root is an unprivileged host uid), or set `user:` to \
            an unprivileged uid, or enable userns-remap on the Docker daemon.",
    reference: "Kubernetes Pod Security Standards (Restricted): Running as Non-root; CIS \
                Docker Benchmark v1.2.0 2.8 (user namespace support), 4.1",
    help_uri: Some(
        "https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted",
    ),
};

/// `user:` unset (the image's default is usually root) or naming root.
fn runs_as_root(job: &Job) -> bool {
    match &job.security.user {
        None => true,
        Some(u) => {
            let name = u.value.split(':').next().unwrap_or("").trim();
            name == "root" || name == "0"
        }
    }
}

impl Rule for RootWithoutUserns {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, cx: &Context, out: &mut Vec<Hit>) {
        if !runs_as_root(job) || cx.root_is_mapped(job) {
            // In dind mode the user namespace maps container root to an
            // unprivileged host uid: the risk this rule is about is gone.
            return;
        }
        let loc = job.security.user.as_ref().map_or(&job.loc, |u| &u.loc);
        let hit = Hit::new(
            loc,
            format!("job `{}` runs as root, which is root on the host", job.name),
        );
        out.push(if cx.is_dood() {
            hit.severity(Severity::High).note(
                "raised in dood mode: Docker runs container root as host root unless the \
                 daemon uses userns-remap",
            )
        } else if job.security.userns.is_some() {
            hit.note(
                "in dind mode this comes from `userns: host`, which the dind runtime refuses: \
                 the job fails before it starts",
            )
        } else {
            hit.note("in dind mode this comes from the host lacking user namespaces")
        });
    }
}
