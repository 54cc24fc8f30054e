//! The container init: pid 1 of the job's pid namespace.
//!
//! It builds the container ([`setup`]), says [`Reply::Ready`], and then
//! serves the runner: one step at a time, forked from here so that steps
//! share the container's filesystem. It is also the pid namespace's
//! reaper: orphans are reparented to it and it collects them.
//!
//! It never execs: it is our own code, holding the full capabilities of
//! the job's user namespace (worth nothing on the host). It makes itself
//! non-dumpable, so a step (same uid, fewer capabilities) cannot ptrace it
//! or read its `/proc/1/{mem,environ,exe}` — the last one being the
//! runner's binary (the CVE-2019-5736 class; the binary is also owned by
//! a host uid the container cannot write as).

use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::prctl;
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Gid, Pid, Uid, read, setgroups, sethostname, setresgid, setresuid};

use super::protocol::{self, ContainerConfig, Reply, Request, StepSpec};
use super::step::Guard;
use super::{service, step};
use crate::backend::dind::hostimage;
use crate::backend::dind::rootfs::{self, Context, NewRoot};
use crate::backend::dind::subroot::{self, Shared};
use crate::backend::dind::sys::{self, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID};

/// The fds the init gets from the shim (its copies, same numbers).
pub struct Inherited {
    /// Read end of the "ids are mapped" pipe.
    pub go: OwnedFd,
    /// The write end's number: the init's copy must be closed so that a
    /// dying shim shows as end of file.
    pub go_w: RawFd,
    /// The control socket to the runner.
    pub sock: OwnedFd,
    /// The ID-mapped workspace tree, when the shim made one.
    pub workspace: Option<OwnedFd>,
    /// Detached trees of the `--host-path`s, in config order (see
    /// [`hostimage::HostPath`]).
    pub host_paths: Vec<Option<OwnedFd>>,
    /// The image's rootfs tree (ID-mapped for root), for non-host images.
    pub rootfs: Option<OwnedFd>,
    /// Trees of [`ContainerConfig::trees`] the shim could make (same
    /// order); the init clones the missing ones itself.
    pub trees: Vec<Option<OwnedFd>>,
    /// Write ends of the services' output pipes, in config order.
    pub service_out: Vec<OwnedFd>,
    /// What the shim has to say in the job's output (rlimits it could
    /// not raise).
    pub notes: Vec<String>,
}

/// What the init keeps once the container is built.
struct Built {
    /// What the job's steps may do.
    guard: Guard,
    /// What services may do: Docker's defaults (each is a container of
    /// its own, outside the job's `security:`).
    service_guard: Guard,
    /// Detached image trees for services and image steps, each taken once.
    trees: Vec<Option<OwnedFd>>,
    /// The job's `/etc` files, for sub-roots.
    etc: Vec<(&'static str, Vec<u8>)>,
    notes: Vec<String>,
}

/// The init's main function, run in the cloned child; returns its exit code.
pub fn main(config: &ContainerConfig, fds: Inherited) -> isize {
    // If the shim dies, so do we (and with us the whole pid namespace).
    let _ = prctl::set_pdeathsig(Signal::SIGKILL);
    // SAFETY: `go_w` is this process's copy of the pipe's write end, which
    // nothing here uses; closing it by number is all we do with it.
    unsafe { libc::close(fds.go_w) };

    // Nothing runs before the shim has written our uid/gid maps.
    let mut byte = [0u8; 1];
    if !matches!(read(&fds.go, &mut byte), Ok(1)) {
        return 1;
    }
    drop(fds.go);

    let sock = fds.sock.as_fd();
    let mut built = match setup(
        config,
        fds.workspace,
        &fds.host_paths,
        fds.rootfs,
        fds.trees,
    ) {
        Ok(mut built) => {
            built.notes.splice(0..0, fds.notes);
            built
        }
        Err(e) => {
            let _ = protocol::send(sock, &Reply::SetupFailed(e), &[]);
            return 1;
        }
    };
    // Services after the pivot: each builds its root from the job's (see
    // subroot), and the job must be complete before they may start.
    let mut services = Vec::new();
    for (spec, output) in config.services.iter().zip(fds.service_out) {
        let tree = match spec.tree.map(|i| take_tree(&mut built.trees, i)) {
            Some(Ok(tree)) => Some(tree),
            Some(Err(e)) => {
                let _ = protocol::send(sock, &Reply::SetupFailed(e), &[]);
                return 1;
            }
            None => None,
        };
        let shared = Shared {
            workspace: false,
            etc: &built.etc,
            force_copy: config.force_copy,
        };
        match service::start(spec, tree, output, &shared, &built.service_guard, sock) {
            Ok(service) => services.push(service),
            Err(service::Failed(reply)) => {
                let _ = protocol::send(sock, &reply, &[]);
                kill_all(&[]);
                return 1;
            }
        }
    }
    let spare: Vec<u64> = services.iter().map(|s| s.mnt_ns).collect();
    if protocol::send(sock, &Reply::Ready(std::mem::take(&mut built.notes)), &[]).is_err() {
        return 1;
    }
    serve(sock, config, &mut built, &spare)
}

/// Take tree `index` out of `trees`; each is attached exactly once.
fn take_tree(trees: &mut [Option<OwnedFd>], index: usize) -> Result<OwnedFd, String> {
    trees
        .get_mut(index)
        .and_then(Option::take)
        .ok_or_else(|| format!("image tree {index} is missing or was used already"))
}

/// Become root of the namespace, build the container, pivot into it.
fn setup(
    config: &ContainerConfig,
    workspace: Option<OwnedFd>,
    host_paths: &[Option<OwnedFd>],
    rootfs: Option<OwnedFd>,
    trees: Vec<Option<OwnedFd>>,
) -> Result<Built, String> {
    // Ids first: until now we were the overflow uid, unable to create
    // files anyone could own.
    setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
        .map_err(|e| format!("setresgid: {e}"))?;
    setgroups(&[]).map_err(|e| format!("setgroups: {e}"))?;
    setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
        .map_err(|e| format!("setresuid: {e}"))?;
    // With `uts: host` the hostname is the host's and not ours to set.
    if !config.security.host_uts {
        sethostname(&config.hostname).map_err(|e| format!("sethostname: {e}"))?;
    }
    // Modes given when building the container are meant exactly (steps get
    // the usual 022 back before exec).
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());

    // The trees the shim could not make (no CAP_SYS_ADMIN on the host):
    // cloned here, unmapped, while the host's paths are still reachable.
    let trees = config
        .trees
        .iter()
        .zip(trees.into_iter().chain(std::iter::repeat_with(|| None)))
        .map(|(dir, tree)| match tree {
            Some(tree) => Ok(Some(tree)),
            None => sys::open_tree(
                None,
                dir,
                sys::OPEN_TREE_CLONE | sys::OPEN_TREE_CLOEXEC | sys::AT_RECURSIVE,
            )
            .map(Some)
            .map_err(|e| format!("cloning the image rootfs {}: {e}", dir.display())),
        })
        .collect::<Result<Vec<_>, String>>()?;
    let aliases: Vec<String> = config.services.iter().map(|s| s.alias.clone()).collect();
    let etc = rootfs::etc_files(&config.hostname, &aliases);
    let notes =
        build_root(config, workspace, host_paths, rootfs, &etc).map_err(|e| e.to_string())?;

    // The job's own network namespace: loopback only, but up. (With
    // `network: host` the interfaces are the host's, not ours to touch.)
    if !config.security.host_net {
        sys::loopback_up().map_err(|e| format!("bringing up lo: {e}"))?;
    }
    let _ = prctl::set_name(c"nestci-init");
    // After the mounts (which read our own /proc entries): from here on a
    // step cannot ptrace us or open /proc/1/{mem,exe,environ}.
    prctl::set_dumpable(false).map_err(|e| format!("prctl(PR_SET_DUMPABLE): {e}"))?;
    Ok(Built {
        guard: Guard::for_job(&config.security)?,
        service_guard: Guard::default_guard()?,
        trees,
        etc,
        notes,
    })
}

fn build_root(
    config: &ContainerConfig,
    workspace: Option<OwnedFd>,
    host_paths: &[Option<OwnedFd>],
    rootfs: Option<OwnedFd>,
    etc: &[(&str, Vec<u8>)],
) -> crate::backend::dind::rootfs::Result<Vec<String>> {
    // Without a tree from the shim (no CAP_SYS_ADMIN on the host), clone
    // the image's rootfs here, unmapped.
    let rootfs = match (rootfs, &config.rootfs) {
        (Some(tree), _) => Some(tree),
        (None, Some(dir)) => Some(
            sys::open_tree(
                None,
                dir,
                sys::OPEN_TREE_CLONE | sys::OPEN_TREE_CLOEXEC | sys::AT_RECURSIVE,
            )
            .context(|| format!("cloning the image rootfs {}", dir.display()))?,
        ),
        (None, None) => None,
    };
    let (root, note) = match &rootfs {
        Some(tree) => NewRoot::mount_image(&config.root_dir, tree.as_fd(), config.force_copy)?,
        None => (NewRoot::mount_tmpfs(&config.root_dir)?, None),
    };
    let host_paths: Vec<hostimage::HostPath<'_>> = config
        .host_paths
        .iter()
        .zip(host_paths)
        .map(|(path, tree)| hostimage::HostPath {
            path,
            tree: tree.as_ref().map(|t| t.as_fd()),
        })
        .collect();
    if rootfs.is_some() {
        // An image brings its own tree; make sure the mount points exist
        // (created inside the root, never through an image's symlink).
        for (dir, mode) in [
            ("/workspace", 0o755),
            ("/tmp", 0o1777),
            ("/run/nestci", 0o755),
            ("/etc", 0o755),
        ] {
            root.mkdir(dir, mode)?;
        }
    } else {
        hostimage::populate(&root)?;
    }
    match workspace {
        Some(tree) => root.attach(
            tree.as_fd(),
            "/workspace",
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        )?,
        None => root.bind_host(
            &config.workspace,
            "/workspace",
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        )?,
    }
    root.mount_fs(
        "tmpfs",
        "/tmp",
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
        Some("mode=1777"),
    )?;
    // Host paths last among the tree's mounts: one under /tmp would be
    // hidden by the tmpfs above. (Only the host image has any.)
    hostimage::expose_all(&root, &host_paths)?;
    let security = &config.security;
    // An mqueue filesystem belongs to an ipc namespace of ours: with
    // `ipc: host` there is none to mount.
    root.populate_dev(!security.host_ipc)?;
    let mut notes: Vec<String> = note.into_iter().collect();
    // The job's binds after /tmp and /dev, which would hide one below
    // them. Each source is opened here, as the job's root: a path that
    // uid cannot reach is refused now, with the key that asked for it.
    for bind in &security.binds {
        notes.extend(root.bind_job(bind, config.ids.root_outside_uid())?);
    }
    root.install_etc(etc)?;
    root.mkdir(subroot::STAGING, 0o755)?;
    // /proc before the old root goes (see rootfs's module docs).
    root.mount_proc(security.mask_system_paths)?;
    root.mount_sys(security.mask_system_paths, security.writable_sys)?;
    // Last, when every mount point the job needs exists: `read_only`
    // makes the root's own mount read-only; the mounts on it (/workspace,
    // /tmp, /dev, /proc, volumes) keep their own flags.
    if security.read_only_root {
        root.make_root_read_only()?;
    }
    root.pivot()?;
    Ok(notes)
}

/// Serve requests until the runner closes the socket.
fn serve(
    sock: BorrowedFd<'_>,
    config: &ContainerConfig,
    built: &mut Built,
    spare: &[u64],
) -> isize {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    if mask.thread_block().is_err() {
        return 1;
    }
    let Ok(sigfd) = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
    else {
        return 1;
    };
    let mut running: Option<Pid> = None;
    loop {
        let mut fds = [
            PollFd::new(sock, PollFlags::POLLIN),
            PollFd::new(sigfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return 1,
        }
        let sock_ready = fds[0].any().unwrap_or(true);
        let child_ready = fds[1].any().unwrap_or(false);
        if sock_ready {
            match protocol::recv::<Request>(sock) {
                Ok(Some((Request::Run, fds))) => {
                    let reply = if running.is_some() {
                        Some(Reply::Error("a step is already running".into()))
                    } else {
                        match start_step(fds, config, built) {
                            Ok(pid) => {
                                running = Some(pid);
                                None
                            }
                            Err(e) => Some(Reply::Error(e)),
                        }
                    };
                    if let Some(reply) = reply {
                        let _ = protocol::send(sock, &reply, &[]);
                    }
                }
                Ok(Some((Request::Kill, _))) => kill_all(spare),
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                // The runner is gone or done: end the container, services
                // included.
                Ok(None) | Err(_) => {
                    kill_all(&[]);
                    return 0;
                }
            }
        }
        if child_ready {
            while let Ok(Some(_)) = sigfd.read_signal() {}
            reap(sock, &mut running, spare);
        }
    }
}

/// Collect every exited child; when it is the step, end what is left of
/// it and tell the runner.
fn reap(sock: BorrowedFd<'_>, running: &mut Option<Pid>, spare: &[u64]) {
    loop {
        let (pid, reply) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => (pid, Reply::Exited(code)),
            Ok(WaitStatus::Signaled(pid, sig, _)) => (pid, Reply::Signaled(sig as i32)),
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => return,
        };
        if Some(pid) == *running {
            // A step's processes end with it: background children left
            // behind would hold its output open and keep running into the
            // next step (and a fork bomb would keep the pids limit full).
            // The services stay.
            kill_all(spare);
            *running = None;
            let _ = protocol::send(sock, &reply, &[]);
        }
    }
}

/// SIGKILL every process of the namespace but ourselves and the processes
/// in the `spare` mount namespaces (the services), pass after pass until
/// none is left alive (a fork bomb may fork while we kill).
fn kill_all(spare: &[u64]) {
    const MAX_PASSES: usize = 10_000;
    for _ in 0..MAX_PASSES {
        let mut alive = 0;
        let Ok(entries) = fs::read_dir("/proc") else {
            return;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            if pid == 1 || is_zombie(pid) || in_namespaces(pid, spare) {
                continue;
            }
            if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
                alive += 1;
            }
        }
        if alive == 0 {
            return;
        }
    }
}

/// Whether `pid` lives in one of the mount namespaces `inodes`.
fn in_namespaces(pid: i32, inodes: &[u64]) -> bool {
    use std::os::unix::fs::MetadataExt;
    !inodes.is_empty()
        && fs::metadata(format!("/proc/{pid}/ns/mnt")).is_ok_and(|m| inodes.contains(&m.ino()))
}

fn is_zombie(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true; // gone already
    };
    // `pid (comm) S ...`: the state follows the last ')'.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
        .is_none_or(|state| state == 'Z' || state == 'X')
}

/// Fork the step's process; it hardens itself and execs (see [`step`]).
fn start_step(
    fds: Vec<OwnedFd>,
    config: &ContainerConfig,
    built: &mut Built,
) -> Result<Pid, String> {
    let [spec, stdout, stderr]: [OwnedFd; 3] = fds
        .try_into()
        .map_err(|_| "a run request needs three fds (spec, stdout, stderr)".to_string())?;
    let mut text = Vec::new();
    fs::File::from(spec)
        .read_to_end(&mut text)
        .map_err(|e| format!("reading the step spec: {e}"))?;
    let spec: StepSpec =
        serde_json::from_slice(&text).map_err(|e| format!("bad step spec: {e}"))?;
    let prepared = step::Prepared::new(&spec)?;
    let tree = spec
        .tree
        .map(|i| take_tree(&mut built.trees, i))
        .transpose()?;
    // SAFETY: the init is single-threaded (the shim cloned it from a
    // single-threaded process and it started no threads), so the child
    // may run ordinary code until it execs.
    match unsafe { nix::unistd::fork() }.map_err(|e| format!("fork: {e}"))? {
        nix::unistd::ForkResult::Child => {
            if let Some(tree) = tree {
                // A step with an image of its own: its root first, still
                // with the init's capabilities (step::exec drops them).
                let shared = Shared {
                    workspace: true,
                    etc: &built.etc,
                    force_copy: config.force_copy,
                };
                if let Err(e) = subroot::enter(tree, &shared) {
                    let msg = format!("nestci: cannot build the step's root: {e}\n");
                    let _ = nix::unistd::write(&stderr, msg.as_bytes());
                    // SAFETY: _exit ends this forked child without running
                    // the init's destructors.
                    unsafe { libc::_exit(126) }
                }
            }
            step::exec(&prepared, stdout, stderr, None, &built.guard)
        }
        nix::unistd::ForkResult::Parent { child } => Ok(child),
    }
}
