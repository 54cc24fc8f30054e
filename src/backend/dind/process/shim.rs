//! `nestci __dind-shim`: the host-side half of a job's container.
//!
//! Started by the runner with the control socket as stdin. In order:
//!
//! 1. read the [`ContainerConfig`] from the socket;
//! 2. join the job's cgroups, so the init and every step are limited from
//!    their first instruction (and the cgroup namespace the init creates is
//!    rooted at the job's cgroup);
//! 3. as root: clone the workspace's mount tree and give it an ID mapping
//!    (see [`super::super::idmap`]) while we still have `CAP_SYS_ADMIN` on
//!    the host;
//! 4. clone the init into new namespaces; it blocks on a pipe;
//! 5. write its uid/gid maps, then release it;
//! 6. wait for it and exit with its status. The runner learns that the
//!    container is gone when this process exits (the kernel has then
//!    killed and reaped every process of the pid namespace).

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::sched::{CloneFlags, clone};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, pipe2, read, write};

use super::init;
use super::protocol::{self, ContainerConfig};
use crate::backend::dind::idmap::{IdRange, write_map};
use crate::backend::dind::sys::{
    AT_RECURSIVE, MOUNT_ATTR_IDMAP, OPEN_TREE_CLOEXEC, OPEN_TREE_CLONE, mount_setattr, open_tree,
};

/// The hidden first argument that makes `nestci` act as the shim.
pub const ARG: &str = "__dind-shim";

/// Stack of the cloned init (its main function runs on it until it
/// forks steps); the memory is copy-on-write, so this costs little.
const INIT_STACK: usize = 1 << 20;

/// Run the shim; returns the process exit code.
pub fn main() -> i32 {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("nestci dind: {e}");
            125
        }
    }
}

fn run() -> Result<i32, String> {
    // SAFETY: the runner hands us the control socket as fd 0 and nothing
    // else in this process uses stdin; from here `sock` owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(0) };
    // The fds with the config: the services' output pipes.
    let (config, service_out) = protocol::recv::<ContainerConfig>(sock.as_fd())
        .map_err(|e| format!("reading the container config: {e}"))?
        .ok_or("the runner closed the control socket before sending the config")?;

    for procs in &config.cgroup_procs {
        // "0" is the writing process itself.
        std::fs::write(procs, "0")
            .map_err(|e| format!("cannot join cgroup {}: {e}", procs.display()))?;
    }

    // Cloning host mount trees (and ID-mapping them) takes CAP_SYS_ADMIN
    // on the host: root has it, a user does not, and neither does root in
    // an unprivileged container (nested use). Without it the init binds
    // the same paths itself, from its own mount namespace.
    let host_admin = caps::has_cap(
        None,
        caps::CapSet::Effective,
        caps::Capability::CAP_SYS_ADMIN,
    )
    .unwrap_or(false);
    let workspace = match config.ids.workspace_maps() {
        Some((uids, gids)) if host_admin => Some(idmapped_tree(&config.workspace, &uids, &gids)?),
        _ => None,
    };
    // The image's files are owned by host uid 0..65536 (as unpacked): an ID
    // mapping with the container's own maps shows them owned by the
    // container's users. A user's container needs none: its root is the
    // user, who unpacked the files.
    let rootfs =
        match &config.rootfs {
            Some(dir) if host_admin && nix::unistd::Uid::effective().is_root() => Some(
                idmapped_tree(dir, &config.ids.uid_map, &config.ids.gid_map)?,
            ),
            _ => None,
        };
    // The same for the images of services and image steps: one tree per
    // use, since a detached tree is attached only once.
    let trees = config
        .trees
        .iter()
        .map(|dir| {
            if host_admin && nix::unistd::Uid::effective().is_root() {
                idmapped_tree(dir, &config.ids.uid_map, &config.ids.gid_map).map(Some)
            } else {
                Ok(None)
            }
        })
        .collect::<Result<Vec<_>, String>>()?;
    // Host paths are cloned here too, while we can still traverse the
    // invoking user's home.
    let host_paths = config
        .host_paths
        .iter()
        .map(|p| {
            if !host_admin {
                return Ok(None);
            }
            open_tree(None, p, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE)
                .map(Some)
                .map_err(|e| format!("--host-path {}: {e}", p.display()))
        })
        .collect::<Result<Vec<_>, String>>()?;

    // Here, on the host side, where raising a limit is judged: the init
    // and every step inherit them.
    let notes = super::rlimits::apply();

    let (go_r, go_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let mut payload = Some(init::Inherited {
        go: go_r,
        go_w: go_w.as_raw_fd(),
        sock,
        workspace,
        host_paths,
        rootfs,
        trees,
        service_out,
        notes,
    });
    let mut stack = vec![0u8; INIT_STACK];
    // `network`, `ipc` and `uts: host` leave that namespace out: the job
    // shares the host's (still as an unprivileged uid, so it can use the
    // host's network but not reconfigure it).
    let mut flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWCGROUP;
    let security = &config.security;
    for (host, flag) in [
        (security.host_net, CloneFlags::CLONE_NEWNET),
        (security.host_ipc, CloneFlags::CLONE_NEWIPC),
        (security.host_uts, CloneFlags::CLONE_NEWUTS),
    ] {
        if !host {
            flags |= flag;
        }
    }
    let cb = Box::new(|| match payload.take() {
        Some(inherited) => init::main(&config, inherited),
        None => 1,
    });
    // SAFETY: this process is single-threaded (a fresh exec that started no
    // threads), so the child may run arbitrary code; without CLONE_VM it
    // gets a copy of our memory, and `stack` outlives the call in ours.
    let child = unsafe { clone(cb, &mut stack, flags, Some(Signal::SIGCHLD as i32)) }
        .map_err(|e| format!("cannot create the job's namespaces (clone): {e}"))?;

    // Our copies go: the runner must see the socket close when the init
    // dies, and the init must see the pipe close if we die.
    drop(payload);
    reopen_stdin_null();

    if let Err(e) = config.ids.write(child) {
        let _ = kill(child, Signal::SIGKILL);
        let _ = waitpid(child, None);
        return Err(format!("cannot map ids for the job's user namespace: {e}"));
    }
    // Release the init: its ids mean something now.
    write(&go_w, b"1").map_err(|e| format!("releasing the init: {e}"))?;
    drop(go_w);

    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("waiting for the init: {e}")),
        }
    }
}

fn reopen_stdin_null() {
    // fd 0 was closed with `sock`; the lowest free fd is 0 again.
    let _ = std::fs::File::open("/dev/null").map(std::mem::forget::<std::fs::File>);
}

/// A detached clone of `dir` with an ID mapping (for the workspace: the
/// invoking user's files show as container root's).
fn idmapped_tree(
    dir: &std::path::Path,
    uids: &[IdRange],
    gids: &[IdRange],
) -> Result<OwnedFd, String> {
    let tree = open_tree(
        None,
        dir,
        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE,
    )
    .map_err(|e| format!("cannot clone the mount {}: {e}", dir.display()))?;
    let userns = mapping_userns(uids, gids)?;
    mount_setattr(tree.as_fd(), MOUNT_ATTR_IDMAP, Some(userns.as_fd())).map_err(|e| {
        format!(
            "cannot ID-map {} (needs a kernel and filesystem with ID-mapped mounts): {e}",
            dir.display()
        )
    })?;
    Ok(tree)
}

/// A user namespace with the given maps, as an fd: made by a short-lived
/// child that unshares it and waits until we hold a reference.
fn mapping_userns(uids: &[IdRange], gids: &[IdRange]) -> Result<OwnedFd, String> {
    let (ready_r, ready_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let (done_r, done_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: single-threaded process (see `run`); the child only calls
    // unshare, write, read and _exit.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(ready_r);
            drop(done_w);
            let ok = nix::sched::unshare(CloneFlags::CLONE_NEWUSER).is_ok();
            let _ = write(&ready_w, if ok { b"1" } else { b"0" });
            let mut byte = [0u8; 1];
            let _ = read(&done_r, &mut byte);
            // SAFETY: _exit ends the child without running our destructors
            // or atexit handlers, which belong to the parent.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(ready_w);
            drop(done_r);
            let result = (|| {
                let mut byte = [0u8; 1];
                match read(&ready_r, &mut byte) {
                    Ok(1) if byte[0] == b'1' => {}
                    _ => {
                        return Err(
                            "cannot create a user namespace for the workspace mapping".to_string()
                        );
                    }
                }
                write_map(child, "uid_map", uids)?;
                write_map(child, "gid_map", gids)?;
                nix::fcntl::open(
                    format!("/proc/{child}/ns/user").as_str(),
                    OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .map_err(|e| format!("opening the mapping namespace: {e}"))
            })();
            drop(done_w);
            reap(child);
            result
        }
    }
}

fn reap(child: Pid) {
    while let Err(nix::errno::Errno::EINTR) = waitpid(child, None) {}
}
