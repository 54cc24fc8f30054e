//! What the runner and a job's container init say to each other.
//!
//! They share a `SOCK_SEQPACKET` unix socket pair (message boundaries kept,
//! fds passed with `SCM_RIGHTS`). The runner sends the [`ContainerConfig`]
//! first, then one [`Request`] at a time; the init answers each with a
//! [`Reply`]. A step's own data (argv, env, working directory) travels in a
//! sealed-size memfd attached to [`Request::Run`], together with the write
//! ends of the step's stdout and stderr pipes, so that neither a big
//! environment nor a long script runs into the socket's message size.
//!
//! The runner closing its end is the signal for the init to kill
//! everything in the container and exit, which tears the pid namespace
//! down; it works the same when the runner crashes.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use nix::cmsg_space;
use nix::errno::Errno;
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::backend::dind::idmap::IdPlan;

/// Largest control message; configs and replies are far below it.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// At most this many fds ride on one message (the config carries one
/// output pipe per service).
const MAX_FDS: usize = 64;

/// Everything the shim and the init need to build a job's container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// The container's hostname: the job's name, made hostname-safe.
    pub hostname: String,
    /// An empty directory owned by the runner: the rootfs tmpfs is mounted
    /// here (in the container's mount namespace only).
    pub root_dir: PathBuf,
    /// The project checkout, bound read-write at `/workspace`.
    pub workspace: PathBuf,
    /// Host directories exposed read-only at the same path (`--host-path`).
    pub host_paths: Vec<PathBuf>,
    /// The image's rootfs directory (lower layer of an overlay); `None`
    /// for the `host` image.
    pub rootfs: Option<PathBuf>,
    pub ids: IdPlan,
    /// `cgroup.procs` files of the job's cgroups, joined before the
    /// container starts.
    pub cgroup_procs: Vec<PathBuf>,
    /// Image rootfs directories for the job's services and image steps,
    /// one entry per *use*: each becomes one detached mount tree that is
    /// attached exactly once (see [`super::super::subroot`]).
    pub trees: Vec<PathBuf>,
    /// The job's services, started before the container says ready. The
    /// config message carries one fd per service: the write end of its
    /// output pipe, in this order.
    pub services: Vec<ServiceSpec>,
    /// Copy the image into the writable layer instead of mounting an
    /// overlay (also done when the kernel refuses the overlay).
    pub force_copy: bool,
    /// What the job's `security:` block asks of the container (see
    /// [`super::super::security`]).
    #[serde(default)]
    pub security: Hardening,
}

/// The job's `security:` keys as the shim and the init apply them. The
/// default is nestci's safe default: every namespace private, Docker's
/// capabilities, seccomp filter, `no_new_privs`, masked system paths.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hardening {
    /// The capabilities a step keeps, as a `CapEff` bit mask.
    pub caps: u64,
    /// Install the default seccomp filter.
    pub seccomp: bool,
    /// Set `no_new_privs` before exec.
    pub no_new_privs: bool,
    /// Lay Docker's masked and read-only paths over /proc and /sys.
    pub mask_system_paths: bool,
    /// Mount /sys read-write (`privileged`).
    pub writable_sys: bool,
    /// Make the job's root filesystem read-only (/workspace, /tmp and
    /// /dev stay writable, as with `docker run --read-only`).
    pub read_only_root: bool,
    /// Namespaces the job shares with the host instead of making its own.
    pub host_net: bool,
    pub host_ipc: bool,
    pub host_uts: bool,
    /// Host paths bound into the job's root: volumes, devices, the engine
    /// socket; in this order.
    pub binds: Vec<Bind>,
}

impl Default for Hardening {
    fn default() -> Self {
        Hardening {
            caps: crate::backend::dind::caps::default_mask(),
            seccomp: true,
            no_new_privs: true,
            mask_system_paths: true,
            writable_sys: false,
            read_only_root: false,
            host_net: false,
            host_ipc: false,
            host_uts: false,
            binds: Vec::new(),
        }
    }
}

/// A host path bound into the container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bind {
    pub host: PathBuf,
    /// Absolute path inside the container, resolved in its root.
    pub target: String,
    pub read_only: bool,
    pub kind: BindKind,
    /// Where the job asked for it, for messages (`volume `/a:/b` at
    /// ci.yml:7:9`).
    pub origin: String,
}

/// What a [`Bind`] is, which decides what happens when the job's root
/// cannot use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BindKind {
    /// A volume: unreadable is an error.
    Volume,
    /// A device node: unusable is a note, the job runs without it.
    Device,
    /// The engine socket: bound, with a note when the job's root cannot
    /// connect to it.
    Socket,
}

/// A service: a process tree in its own mount namespace (its image's
/// rootfs) sharing the job's network namespace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// The name steps reach it by (an `/etc/hosts` entry for 127.0.0.1).
    pub alias: String,
    /// What it runs, as a step's argv/env/cwd.
    pub process: StepSpec,
    /// Index into [`ContainerConfig::trees`]; `None` runs the service in
    /// the job's own root (the `host` image).
    pub tree: Option<usize>,
    /// TCP ports that must accept a connection on 127.0.0.1 before the job
    /// is ready; empty: ready once the command is exec'd.
    pub ports: Vec<u16>,
}
/// What a step runs, sent in a memfd.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepSpec {
    pub argv: Vec<String>,
    /// `NAME=value` pairs: the whole environment of the step.
    pub env: Vec<String>,
    /// Absolute path inside the container.
    pub cwd: String,
    /// Index into [`ContainerConfig::trees`] for a step with an image of
    /// its own; `None` runs in the job's root.
    #[serde(default)]
    pub tree: Option<usize>,
    /// The image's `User` (`name`, `uid` or `uid:gid`, looked up in the
    /// step's root); `None`: container root.
    #[serde(default)]
    pub user: Option<String>,
}

/// Runner → init.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// Run a step; fds: the [`StepSpec`] memfd, stdout, stderr.
    Run,
    /// Kill the running step and every other process but the init.
    Kill,
}

/// Init → runner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Reply {
    /// The container is built and its services are up; steps may run.
    /// The notes are for the job's output (a fallback that was taken).
    Ready(Vec<String>),
    /// Building the container failed; the init exits.
    SetupFailed(String),
    /// A service did not come up (then the init exits too).
    ServiceFailed { alias: String, message: String },
    /// The step's process exited with this code.
    Exited(i32),
    /// The step's process was killed by this signal.
    Signaled(i32),
    /// The request could not be carried out.
    Error(String),
}

/// Send `msg` (as JSON) with `fds` attached.
pub fn send<T: Serialize>(sock: BorrowedFd<'_>, msg: &T, fds: &[RawFd]) -> Result<(), Errno> {
    let bytes = serde_json::to_vec(msg).map_err(|_| Errno::EINVAL)?;
    let iov = [IoSlice::new(&bytes)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &cmsg };
    sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None)?;
    Ok(())
}

/// Receive one message and the fds that came with it; `None` at end of
/// stream (the peer closed its end).
pub fn recv<T: DeserializeOwned>(sock: BorrowedFd<'_>) -> Result<Option<(T, Vec<OwnedFd>)>, Errno> {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut space = cmsg_space!([RawFd; MAX_FDS]);
    let (len, fds) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )?;
        let mut fds = Vec::new();
        for cmsg in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(raw) = cmsg {
                // SAFETY: SCM_RIGHTS fds were just installed in our table by
                // the kernel and belong to nobody else.
                fds.extend(
                    raw.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        (msg.bytes, fds)
    };
    if len == 0 {
        return Ok(None);
    }
    let msg = serde_json::from_slice(&buf[..len]).map_err(|_| Errno::EBADMSG)?;
    Ok(Some((msg, fds)))
}
