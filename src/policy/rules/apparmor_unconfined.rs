//! NCI009: AppArmor (or SELinux) confinement turned off.

use super::prelude::*;
use crate::model::AppArmorMode;

pub struct AppArmorUnconfined;

static META: RuleMeta = RuleMeta {
    id: "NCI009",
    name: "apparmor-unconfined",
    severity: Severity::High,
    title: "AppArmor/SELinux confinement disabled",
    risk: "The mandatory access control profile is what stops a container from writing to \
           /proc/sys, mounting, or reaching host files it got a handle to; unconfined, the \
           step loses that second line of defence.",
    safer: "Keep the default profile, or write a profile that allows the one thing the step \
            needs.",
    reference: "CIS Docker Benchmark v1.2.0 5.1 (AppArmor), 5.2 (SELinux); Kubernetes Pod \
                Security Standards (Baseline): AppArmor, SELinux",
    help_uri: Some("https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline"),
};

impl Rule for AppArmorUnconfined {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, _cx: &Context, out: &mut Vec<Hit>) {
        let sec = &job.security;
        for (setting, what) in [
            (&sec.apparmor, "the job runs without an AppArmor profile"),
            (&sec.selinux, "the job runs without SELinux labels"),
        ] {
            if let Some(a) = setting
                .as_ref()
                .filter(|a| a.value == AppArmorMode::Unconfined)
            {
                out.push(Hit::new(&a.loc, what));
            }
        }
    }
}
