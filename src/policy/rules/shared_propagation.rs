//! NCI019: a bind mount with shared propagation.

use super::prelude::*;
use crate::model::Propagation;

pub struct SharedPropagation;

static META: RuleMeta = RuleMeta {
    id: "NCI019",
    name: "shared-propagation",
    severity: Severity::Medium,
    title: "bind mount with shared propagation",
    risk: "With shared propagation, mounts the job makes below the mount point appear on the \
           host too: a job able to mount can shadow host directories or leave mounts behind.",
    safer: "Use the default (`rprivate`), or `rslave` when the job must see mounts the host \
            makes later.",
    reference: "CIS Docker Benchmark v1.2.0 5.19 (mount propagation mode not set to shared)",
    help_uri: None,
};

impl Rule for SharedPropagation {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, _cx: &Context, out: &mut Vec<Hit>) {
        for v in &job.security.volumes {
            if matches!(
                v.value.propagation,
                Some(Propagation::Shared | Propagation::RShared)
            ) {
                out.push(Hit::new(
                    &v.loc,
                    format!(
                        "volume `{}` propagates mounts back to the host",
                        v.value.host
                    ),
                ));
            }
        }
    }
}
