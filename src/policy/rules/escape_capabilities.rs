//! NCI007: capabilities with a known path out of a container.

use super::prelude::*;

pub struct EscapeCapabilities;

/// Capabilities that allow escapes or host tampering (SYS_ADMIN is NCI004).
pub const ESCAPE_CAPS: &[&str] = &[
    "SYS_PTRACE",
    "SYS_MODULE",
    "DAC_READ_SEARCH",
    "SYS_RAWIO",
    "NET_ADMIN",
    "BPF",
    "PERFMON",
    "SYS_BOOT",
    "MAC_ADMIN",
];

static META: RuleMeta = RuleMeta {
    id: "NCI007",
    name: "escape-capabilities",
    severity: Severity::High,
    title: "escape-grade capability added",
    risk: "SYS_MODULE loads kernel code, SYS_PTRACE injects into processes, DAC_READ_SEARCH \
           opens host files by handle (the \"shocker\" escape), SYS_RAWIO, BPF and PERFMON \
           reach kernel memory, NET_ADMIN rewires the network, SYS_BOOT reboots and \
           MAC_ADMIN rewrites the LSM policy.",
    safer: "Remove the capability; if a tool insists on it, run that step in a throw-away VM \
            or find a variant that does not need it.",
    reference: "CIS Docker Benchmark v1.2.0 5.3; Kubernetes Pod Security Standards (Baseline): \
                Capabilities",
    help_uri: Some("https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline"),
};

impl Rule for EscapeCapabilities {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, cx: &Context, out: &mut Vec<Hit>) {
        for cap in &job.security.cap_add {
            if !ESCAPE_CAPS.contains(&cap.value.as_str()) {
                continue;
            }
            let hit = Hit::new(
                &cap.loc,
                format!("job `{}` adds CAP_{}", job.name, cap.value),
            );
            out.push(if cx.root_is_mapped(job) {
                hit.severity(Severity::Medium).note(USERNS_WHY)
            } else {
                hit
            });
        }
    }
}
