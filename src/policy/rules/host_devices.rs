//! NCI012: host devices passed through.

use super::prelude::*;

pub struct HostDevices;

static META: RuleMeta = RuleMeta {
    id: "NCI012",
    name: "host-devices",
    severity: Severity::High,
    title: "host device passed through",
    risk: "A block device gives raw access to the host's disks (read any file, write past \
           every permission); character devices such as /dev/mem, /dev/kvm or GPU nodes \
           expose kernel drivers with large attack surfaces.",
    safer: "Remove `devices`; run jobs that truly need hardware on a dedicated runner and \
            record that with a policy exception.",
    reference: "CIS Docker Benchmark v1.2.0 5.17 (host devices not directly exposed)",
    help_uri: None,
};

impl Rule for HostDevices {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, cx: &Context, out: &mut Vec<Hit>) {
        for d in &job.security.devices {
            let hit = Hit::new(&d.loc, format!("device `{}` is passed through", d.value));
            out.push(if cx.root_is_mapped(job) {
                hit.severity(Severity::Medium).note(
                    "lowered in dind mode: the job's root is an unprivileged host uid, so \
                     device nodes owned by host root stay unusable unless their permissions \
                     are open",
                )
            } else {
                hit
            });
        }
    }
}
