//! NCI010: the host's /proc or /sys exposed without masking.

use super::prelude::*;
use crate::model::AppArmorMode;

pub struct ProcSysExposed;

static META: RuleMeta = RuleMeta {
    id: "NCI010",
    name: "proc-sys-unmasked",
    severity: Severity::High,
    title: "host /proc or /sys mounted unmasked",
    risk: "The host's /proc and /sys hold kernel knobs (core_pattern, sysrq-trigger, \
           uevent_helper) that run programs as host root when written, and process \
           environments full of secrets when read.",
    safer: "Do not bind-mount /proc or /sys; the container has its own, with the dangerous \
            paths masked. Read the one value you need and pass it in as a variable.",
    reference: "Kubernetes Pod Security Standards (Baseline): /proc Mount Type; CIS Docker \
                Benchmark v1.2.0 5.5",
    help_uri: Some("https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline"),
};

impl Rule for ProcSysExposed {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, cx: &Context, out: &mut Vec<Hit>) {
        if let Some(s) = job
            .security
            .systempaths
            .as_ref()
            .filter(|s| s.value == AppArmorMode::Unconfined)
        {
            // The container's own /proc and /sys, but without the masks
            // over kcore, sysrq-trigger, /proc/sys, ...: writable kernel
            // knobs. Inside a user namespace most of them refuse writes.
            let hit = Hit::new(&s.loc, "`systempaths: unconfined` unmasks /proc and /sys");
            out.push(if cx.root_is_mapped(job) {
                hit.note(USERNS_WHY)
            } else {
                hit
            });
        }
        for v in &job.security.volumes {
            let host = normalize_path(&v.value.host);
            if !(is_under(&host, "/proc") || is_under(&host, "/sys")) {
                continue;
            }
            let mut hit = Hit::new(
                &v.loc,
                format!(
                    "volume exposes the host's `{host}` {}",
                    if v.value.read_only {
                        "read-only"
                    } else {
                        "read-write"
                    }
                ),
            );
            if !v.value.read_only {
                hit = if cx.root_is_mapped(job) {
                    hit.note(USERNS_WHY)
                } else {
                    hit.severity(Severity::Critical)
                        .note("read-write raises it to critical")
                };
            }
            out.push(hit);
        }
    }
}
