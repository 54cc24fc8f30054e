//! NCI005: the host's pid, network or ipc namespace.

use super::prelude::*;
use crate::model::{NamespaceMode, NetworkMode};

pub struct HostNamespaces;

static META: RuleMeta = RuleMeta {
    id: "NCI005",
    name: "host-namespaces",
    severity: Severity::High,
    title: "host pid, network or ipc namespace shared",
    risk: "With the host's pid namespace a step sees (and, as the same uid, can signal or \
           trace) every host process and reads their command lines; with its network it \
           reaches services bound to localhost and the cloud metadata endpoint; with its ipc \
           namespace it reads other processes' shared memory.",
    safer: "Leave `pid`, `ipc` and `network` unset (private namespaces); use `network: \
            bridge` and services for what the step must reach.",
    reference: "CIS Docker Benchmark v1.2.0 5.9, 5.15, 5.16; Kubernetes Pod Security \
                Standards (Baseline): Host Namespaces",
    help_uri: Some("https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline"),
};

impl Rule for HostNamespaces {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, _cx: &Context, out: &mut Vec<Hit>) {
        let s = &job.security;
        if let Some(n) = s.network.as_ref().filter(|n| n.value == NetworkMode::Host) {
            out.push(Hit::new(
                &n.loc,
                "the job shares the host's network namespace",
            ));
        }
        for (key, ns) in [("pid", &s.pid), ("ipc", &s.ipc)] {
            if let Some(n) = ns.as_ref().filter(|n| n.value == NamespaceMode::Host) {
                out.push(Hit::new(
                    &n.loc,
                    format!("the job shares the host's {key} namespace"),
                ));
            }
        }
    }
}
