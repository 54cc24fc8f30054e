//! Capabilities a step keeps: Docker's default set of 14.
//!
//! The init holds every capability *of the job's user namespace* (which
//! gives nothing over the host). Before a step execs, all five sets are
//! narrowed to Docker's defaults, so `CAP_SYS_ADMIN` (mount, unshare, ...),
//! `CAP_SYS_PTRACE`, `CAP_NET_ADMIN` and the rest are gone even inside the
//! namespace.

use caps::{CapSet, Capability, CapsHashSet};

/// Docker's default capabilities (moby `oci/caps/defaults.go`).
pub const DEFAULT: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];

/// The default set as the bit mask `/proc/<pid>/status` shows (`CapEff`).
pub fn default_mask() -> u64 {
    DEFAULT.iter().fold(0, |m, c| m | c.bitmask())
}

/// Narrow the calling thread's capabilities to [`DEFAULT`].
///
/// Order matters: the bounding set first (dropping from it needs
/// `CAP_SETPCAP`, still effective at that point), then inheritable and
/// ambient (ambient cleared, as Docker does for root), then effective
/// before permitted (the kernel requires effective ⊆ permitted at every
/// step).
pub fn restrict_to_default() -> Result<(), caps::errors::CapsError> {
    let keep: CapsHashSet = DEFAULT.iter().copied().collect();
    for cap in caps::all() {
        if !keep.contains(&cap) {
            // A capability the running kernel does not know is not in the
            // bounding set to begin with.
            match caps::drop(None, CapSet::Bounding, cap) {
                Ok(()) => {}
                Err(_) if !caps::runtime::thread_all_supported().contains(&cap) => {}
                Err(e) => return Err(e),
            }
        }
    }
    caps::set(None, CapSet::Inheritable, &keep)?;
    caps::clear(None, CapSet::Ambient)?;
    caps::set(None, CapSet::Effective, &keep)?;
    caps::set(None, CapSet::Permitted, &keep)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_mask_is_dockers() {
        // `CapEff` of a default `docker run` as root.
        assert_eq!(super::default_mask(), 0x0000_0000_a804_25fb);
    }
}
