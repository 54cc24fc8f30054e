//! A root filesystem of its own for one process tree inside a job: a
//! service, or a step with an image of its own.
//!
//! Such a process is forked from the container init *after* the job's
//! root is built and pivoted into, and calls [`enter`] before it execs.
//! It leaves the job's mount namespace for a private copy, builds its
//! image's root there (overlay or copy, exactly as the job's own root, see
//! [`NewRoot::mount_image`]) and `pivot_root`s into it. Everything else it
//! shares with the job, like the containers of a pod:
//!
//! * the user, pid, network, uts and ipc namespaces (it inherits them) —
//!   so a step reaches a service on `localhost`, and the init stays the
//!   one reaper that ends everything when the job ends;
//! * the job's cgroup (inherited), so the job's limits cover it;
//! * the job's `/dev`, `/proc` (with Docker's masks already on it) and
//!   `/sys`, bound recursively from the job's root;
//! * for an image step: the job's `/workspace`, read-write.
//!
//! Why bind `/proc` rather than mount a new one: a fresh procfs is allowed
//! only while a fully visible proc is reachable (see [`super::rootfs`]);
//! after the job's pivot none is, and the job's proc is the right one
//! anyway, since the pid namespace is shared.
//!
//! The image's detached mount tree is made by the shim (or the init,
//! before its pivot, while host paths are reachable) and is attached
//! exactly once: one tree per service and per image step.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::mount::MsFlags;
use nix::sched::{CloneFlags, unshare};

use super::rootfs::{Context, NewRoot, Result};
use super::sys::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};

/// Where, inside the job's root, a sub-root's staging tmpfs is mounted (in
/// the sub-root's own mount namespace only; in the job's it stays empty).
pub const STAGING: &str = "/run/nestci/sub";

/// What a sub-root takes from the job.
pub struct Shared<'a> {
    /// Bind the job's `/workspace` (image steps; services do not get it).
    pub workspace: bool,
    /// The job's `/etc` files ([`super::rootfs::etc_files`]).
    pub etc: &'a [(&'a str, Vec<u8>)],
    pub force_copy: bool,
}

/// Build the process's own root from `tree` and pivot into it. Runs in
/// the forked child, still with the init's full capabilities in the job's
/// user namespace; the caller hardens and execs afterwards.
pub fn enter(tree: OwnedFd, shared: &Shared<'_>) -> Result<()> {
    // A mount namespace of our own first: nothing below may change the
    // job's mounts (mount_image also makes every mount private, so no
    // event propagates back either).
    unshare(CloneFlags::CLONE_NEWNS).context(|| "unshare(CLONE_NEWNS)".into())?;
    let (root, _note) = NewRoot::mount_image(Path::new(STAGING), tree.as_fd(), shared.force_copy)?;
    drop(tree);
    for (dir, mode) in [
        ("/workspace", 0o755),
        ("/tmp", 0o1777),
        ("/etc", 0o755),
        ("/dev", 0o755),
        ("/proc", 0o555),
        ("/sys", 0o555),
    ] {
        root.mkdir(dir, mode)?;
    }
    if shared.workspace {
        // Bound from the job's root (our current `/`), with the ID mapping
        // the job's workspace mount already carries.
        root.bind_host(
            Path::new("/workspace"),
            "/workspace",
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        )?;
    }
    root.mount_fs(
        "tmpfs",
        "/tmp",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )?;
    root.bind_host(
        Path::new("/dev"),
        "/dev",
        MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
    )?;
    root.install_etc(shared.etc)?;
    // Recursive binds keep the masks and read-only sub-mounts laid over
    // the job's /proc; `0` leaves their attributes as they are.
    root.bind_host(Path::new("/proc"), "/proc", 0)?;
    root.bind_host(
        Path::new("/sys"),
        "/sys",
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
    )?;
    root.pivot()
}
