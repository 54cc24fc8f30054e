//! Capabilities a step keeps: Docker's default set of 14, or what the
//! job's `cap_add` / `cap_drop` / `privileged` make of it.
//!
//! The init holds every capability *of the job's user namespace* (which
//! gives nothing over the host). Before a step execs, all five sets are
//! narrowed to the job's set, so by default `CAP_SYS_ADMIN` (mount,
//! unshare, ...), `CAP_SYS_PTRACE`, `CAP_NET_ADMIN` and the rest are gone
//! even inside the namespace. Whatever the job adds, it is a capability
//! over the job's own namespaces: `CAP_SYS_ADMIN` lets a step mount in its
//! mount namespace, never on the host's.

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

/// Every capability this kernel knows, as a mask: what `privileged` and
/// `cap_add: [ALL]` give (inside the user namespace).
pub fn all_mask() -> u64 {
    caps::runtime::thread_all_supported()
        .iter()
        .fold(0, |m, c| m | c.bitmask())
}

/// A capability by the name a pipeline uses: `SYS_ADMIN`, `CAP_SYS_ADMIN`,
/// any case.
pub fn parse(name: &str) -> Option<Capability> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    full.parse().ok()
}

/// The set a job's steps keep, computed as Docker does
/// (moby `oci/caps.TweakCapabilities`): `privileged` is everything; else
/// `ALL` in `add` means everything but `drop`; `ALL` in `drop` means only
/// `add`; otherwise the defaults plus `add` minus `drop`. An unknown name
/// is returned as the error.
pub fn job_mask(privileged: bool, add: &[&str], drop: &[&str]) -> Result<u64, String> {
    let all = |names: &[&str]| names.iter().any(|n| n.eq_ignore_ascii_case("ALL"));
    let mask_of = |names: &[&str]| {
        names
            .iter()
            .filter(|n| !n.eq_ignore_ascii_case("ALL"))
            .try_fold(0u64, |m, n| {
                parse(n).map(|c| m | c.bitmask()).ok_or(n.to_string())
            })
    };
    let (add_mask, drop_mask) = (mask_of(add)?, mask_of(drop)?);
    Ok(if privileged {
        all_mask()
    } else if all(add) {
        all_mask() & !drop_mask
    } else if all(drop) {
        add_mask & all_mask()
    } else {
        (default_mask() | add_mask) & !drop_mask & all_mask()
    })
}

/// The capabilities in `mask`.
fn set_of(mask: u64) -> CapsHashSet {
    caps::all()
        .into_iter()
        .filter(|c| mask & c.bitmask() != 0)
        .collect()
}

/// First half of narrowing to `mask`: the bounding and inheritable sets,
/// ambient cleared (as Docker does). Dropping from the bounding set needs
/// `CAP_SETPCAP`, still effective at that point. Between this and
/// [`restrict_rest`] the step may change its user (which needs
/// `CAP_SETUID`/`CAP_SETGID`, also still effective): a switch away from
/// uid 0 empties the permitted and effective sets, as Docker's non-root
/// users have them.
pub fn restrict_bounding(mask: u64) -> Result<(), caps::errors::CapsError> {
    let keep = set_of(mask);
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
    caps::clear(None, CapSet::Ambient)
}

/// Second half: effective before permitted (the kernel requires
/// effective ⊆ permitted at every step). For a process that is no longer
/// uid 0 both are already empty and narrowing them changes nothing.
pub fn restrict_rest(mask: u64) -> Result<(), caps::errors::CapsError> {
    let keep = set_of(mask);
    let permitted = caps::read(None, CapSet::Permitted)?;
    let keep: CapsHashSet = keep.intersection(&permitted).copied().collect();
    caps::set(None, CapSet::Effective, &keep)?;
    caps::set(None, CapSet::Permitted, &keep)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{all_mask, default_mask, job_mask};

    #[test]
    fn job_sets_follow_docker() {
        let sys_admin = 1u64 << 21;
        let chown = 1u64 << 0;
        assert_eq!(job_mask(false, &[], &[]), Ok(default_mask()));
        assert_eq!(
            job_mask(false, &["sys_admin"], &["CAP_CHOWN"]),
            Ok((default_mask() | sys_admin) & !chown)
        );
        assert_eq!(job_mask(false, &["SYS_ADMIN"], &["ALL"]), Ok(sys_admin));
        assert_eq!(
            job_mask(false, &["ALL"], &["CHOWN"]),
            Ok(all_mask() & !chown)
        );
        assert_eq!(job_mask(true, &[], &["ALL"]), Ok(all_mask()));
        assert_eq!(job_mask(false, &["NOPE"], &[]), Err("NOPE".to_string()));
    }

    #[test]
    fn default_mask_is_dockers() {
        // `CapEff` of a default `docker run` as root.
        assert_eq!(super::default_mask(), 0x0000_0000_a804_25fb);
    }
}
