//! NCI006: the user namespace turned off.

use super::prelude::*;
use crate::model::NamespaceMode;

pub struct UsernsHost;

static META: RuleMeta = RuleMeta {
    id: "NCI006",
    name: "userns-host",
    severity: Severity::High,
    title: "user namespace disabled (`userns: host`)",
    risk: "Without a user namespace, root in the job is root on the host: any way out of the \
           container (a kernel bug, a writable host mount) lands with full privileges.",
    safer: "Remove `userns: host`; in dind mode container root is then an unprivileged host \
            uid. Files the job writes to the workspace are mapped back to your user.",
    reference: "CIS Docker Benchmark v1.2.0 5.30 (host's user namespace not shared), 2.8 \
                (user namespace support)",
    help_uri: None,
};

impl Rule for UsernsHost {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, cx: &Context, out: &mut Vec<Hit>) {
        if let Some(u) = job
            .security
            .userns
            .as_ref()
            .filter(|u| u.value == NamespaceMode::Host)
        {
            let hit = Hit::new(&u.loc, "the job runs in the host's user namespace");
            out.push(if cx.is_dood() {
                hit.note(
                    "in dood mode this also opts out of the daemon's userns-remap, if it has one",
                )
            } else {
                hit.note(
                    "in dind mode nestci refuses this key (the runtime is user namespaces): the \
                     job fails before it starts; only --mode dood can honour it",
                )
            });
        }
    }
}
