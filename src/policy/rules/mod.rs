//! The rules, one file each: metadata beside the check.
//!
//! To add a rule, add a file here with a `RuleMeta` (a new id, never a
//! reused one) and a `Rule` impl, then one line in [`ALL`]. The README's
//! rules table, `nestci policy rules` and SARIF's rule list all read
//! [`ALL`], so they cannot drift.

mod support;

mod apparmor_unconfined;
mod cap_sys_admin;
mod caps_not_dropped;
mod curl_pipe_shell;
mod dind_service;
mod docker_host_plain_tcp;
mod engine_socket;
mod escape_capabilities;
mod host_bind_mount;
mod host_devices;
mod host_namespaces;
mod host_paths_exposed;
mod host_uts;
mod image_unpinned;
mod no_new_privs_off;
mod no_resource_limits;
mod privileged;
mod proc_sys_exposed;
mod registry_credentials;
mod root_without_userns;
mod seccomp_unconfined;
mod secrets_in_clear;
mod sensitive_mounts;
mod shared_propagation;
mod tag_without_digest;
mod template_injection;
mod untrusted_host_access;
mod userns_host;

use super::rule::Rule;

/// What every rule file needs.
mod prelude {
    pub(super) use super::super::engine::{Context, USERNS_WHY};
    pub(super) use super::super::finding::Severity;
    pub(super) use super::super::rule::{Hit, Rule, RuleMeta};
    pub(super) use super::support::*;
    pub(super) use crate::model::Job;
}

/// Every rule, in id order.
pub static ALL: &[&dyn Rule] = &[
    &privileged::Privileged,
    &engine_socket::EngineSocket,
    &docker_host_plain_tcp::DockerHostPlainTcp,
    &cap_sys_admin::CapSysAdmin,
    &host_namespaces::HostNamespaces,
    &userns_host::UsernsHost,
    &escape_capabilities::EscapeCapabilities,
    &seccomp_unconfined::SeccompUnconfined,
    &apparmor_unconfined::AppArmorUnconfined,
    &proc_sys_exposed::ProcSysExposed,
    &sensitive_mounts::SensitiveMounts,
    &host_devices::HostDevices,
    &registry_credentials::RegistryCredentials,
    &untrusted_host_access::UntrustedHostAccess,
    &dind_service::DindService,
    &template_injection::TemplateInjection,
    &host_uts::HostUts,
    &host_bind_mount::HostBindMount,
    &shared_propagation::SharedPropagation,
    &no_new_privs_off::NoNewPrivsOff,
    &root_without_userns::RootWithoutUserns,
    &image_unpinned::ImageUnpinned,
    &secrets_in_clear::SecretsInClear,
    &curl_pipe_shell::CurlPipeShell,
    &caps_not_dropped::CapsNotDropped,
    &tag_without_digest::TagWithoutDigest,
    &no_resource_limits::NoResourceLimits,
    &host_paths_exposed::HostPathsExposed,
];

/// The rule with this id (`NCI001`, any case) or name (`privileged`).
pub fn find(word: &str) -> Option<&'static dyn Rule> {
    ALL.iter()
        .copied()
        .find(|r| r.meta().id.eq_ignore_ascii_case(word) || r.meta().name == word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_sequential_and_documented() {
        for (i, rule) in ALL.iter().enumerate() {
            let m = rule.meta();
            assert_eq!(
                m.id,
                format!("NCI{:03}", i + 1),
                "ids follow the registry order"
            );
            assert!(!m.risk.is_empty() && !m.safer.is_empty() && !m.reference.is_empty());
            assert_eq!(
                ALL.iter().filter(|r| r.meta().name == m.name).count(),
                1,
                "name {} is unique",
                m.name
            );
        }
    }
}
