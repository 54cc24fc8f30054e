//! NCI017: the host's uts namespace.

use super::prelude::*;
use crate::model::NamespaceMode;

pub struct HostUts;

static META: RuleMeta = RuleMeta {
    id: "NCI017",
    name: "host-uts",
    severity: Severity::Medium,
    title: "host uts namespace shared",
    risk: "With the host's uts namespace a step can change the host's hostname and domain \
           name (with CAP_SYS_ADMIN) and learns the host's identity, which confuses logs and \
           services that trust the name.",
    safer: "Leave `uts` unset: the job gets its own hostname.",
    reference: "CIS Docker Benchmark v1.2.0 5.20 (host's UTS namespace not shared)",
    help_uri: None,
};

impl Rule for HostUts {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, _cx: &Context, out: &mut Vec<Hit>) {
        if let Some(u) = job
            .security
            .uts
            .as_ref()
            .filter(|u| u.value == NamespaceMode::Host)
        {
            out.push(Hit::new(&u.loc, "the job shares the host's uts namespace"));
        }
    }
}
