//! The default seccomp filter of a step.
//!
//! Docker's default profile is an allow-list; what it leaves out for a
//! container without extra capabilities is the set of system calls below.
//! We express that as a deny-list (`EPERM`), which blocks the same calls
//! on this kernel and stays short enough to read. Two extras follow
//! Docker's reasoning too:
//!
//! * `clone` with any `CLONE_NEW*` flag is denied (new namespaces would
//!   reopen what the capability drop closed), and `clone3`, whose flags sit
//!   in memory a BPF filter cannot read, fails with `ENOSYS` so that libc
//!   falls back to `clone`.
//! * `mount` and the new mount API are denied outright, as is `unshare`.
//!
//! The filter is compiled once in the init and installed in each step's
//! process right before exec, after `no_new_privs` (which the kernel
//! requires of an unprivileged filter).

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// The system calls a default step may not make (`c_long` is seccompiler's
/// `i64` on the 64-bit targets nestci supports).
const DENIED: &[libc::c_long] = &[
    libc::SYS_acct,
    libc::SYS_add_key,
    libc::SYS_bpf,
    libc::SYS_clock_adjtime,
    libc::SYS_clock_settime,
    libc::SYS_delete_module,
    libc::SYS_finit_module,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fsopen,
    libc::SYS_fspick,
    libc::SYS_get_mempolicy,
    libc::SYS_init_module,
    libc::SYS_kcmp,
    libc::SYS_kexec_file_load,
    libc::SYS_kexec_load,
    libc::SYS_keyctl,
    libc::SYS_lookup_dcookie,
    libc::SYS_mbind,
    libc::SYS_mount,
    libc::SYS_mount_setattr,
    libc::SYS_move_mount,
    libc::SYS_move_pages,
    libc::SYS_name_to_handle_at,
    libc::SYS_nfsservctl,
    libc::SYS_open_by_handle_at,
    libc::SYS_open_tree,
    libc::SYS_perf_event_open,
    libc::SYS_pivot_root,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_quotactl,
    libc::SYS_reboot,
    libc::SYS_request_key,
    libc::SYS_set_mempolicy,
    libc::SYS_setns,
    libc::SYS_settimeofday,
    libc::SYS_swapoff,
    libc::SYS_swapon,
    libc::SYS_umount2,
    libc::SYS_unshare,
    libc::SYS_userfaultfd,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS__sysctl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_sysfs,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_uselib,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ustat,
];

/// Namespace flags `clone` may not carry.
const CLONE_NS_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWCGROUP,
];

/// The compiled filters, installed in this order.
pub struct Filters {
    deny: BpfProgram,
    clone3: BpfProgram,
}

fn arch() -> Result<TargetArch, String> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|e| {
        format!(
            "seccomp: unsupported architecture {}: {e}",
            std::env::consts::ARCH
        )
    })
}

/// Compile the default filters for this architecture.
pub fn default_filters() -> Result<Filters, String> {
    let arch = arch()?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|&nr| (nr, Vec::new())).collect();
    // clone(flags, ...): flags are the first argument on every architecture
    // nestci supports; each rule matches one namespace bit being set.
    let clone_rules = CLONE_NS_FLAGS
        .iter()
        .map(|&flag| {
            let flag = flag as u64;
            SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            )
            .and_then(|c| SeccompRule::new(vec![c]))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("seccomp: {e}"))?;
    rules.insert(libc::SYS_clone, clone_rules);
    let deny = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .and_then(BpfProgram::try_from)
    .map_err(|e| format!("seccomp: {e}"))?;
    let clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .and_then(BpfProgram::try_from)
    .map_err(|e| format!("seccomp: {e}"))?;
    Ok(Filters { deny, clone3 })
}

impl Filters {
    /// Install both filters on the calling thread. Needs `no_new_privs`.
    pub fn install(&self) -> Result<(), String> {
        seccompiler::apply_filter(&self.deny).map_err(|e| format!("seccomp: {e}"))?;
        seccompiler::apply_filter(&self.clone3).map_err(|e| format!("seccomp: {e}"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn filters_compile_for_this_architecture() {
        let filters = super::default_filters().expect("filters compile");
        assert!(filters.deny.len() > super::DENIED.len());
        assert!(!filters.clone3.is_empty());
    }
}
