//! A job's services, started by the container init before it says ready.
//!
//! Each service is a fork of the init that builds its own root from its
//! image ([`subroot`]) and execs the service's command: a process tree in
//! its own mount namespace sharing the job's user, pid, network, uts and
//! ipc namespaces, like the containers of a pod. Steps reach it on
//! `localhost`, or by alias through the job's `/etc/hosts`.
//!
//! Readiness, in order:
//!
//! 1. the command was exec'd: the service holds the write end of a
//!    close-on-exec pipe; end of file without a message means the exec
//!    happened, a message is why it did not (a bad image, no such
//!    command);
//! 2. every port the service declares accepts a TCP connection on
//!    127.0.0.1 (the init is in the job's network namespace), probed
//!    until [`READY_TIMEOUT`].
//!
//! A service that exits first fails the job's preparation with
//! [`Reply::ServiceFailed`]; the runner adds its last output lines.
//!
//! The init's "kill what a step left behind" spares services: it kills
//! only processes outside the services' mount namespaces (see
//! [`Service::mnt_ns`]). A step cannot join such a namespace: `setns`
//! needs `CAP_SYS_ADMIN`, which a step does not keep.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, pipe2, read};

use super::protocol::{Reply, ServiceSpec};
use super::step;
use crate::backend::dind::subroot::{self, Shared};

/// How long a service may take to exec its command and open its ports.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Pause between two connection attempts on a port not open yet.
const PROBE_INTERVAL: Duration = Duration::from_millis(20);

/// A started service, as the init tracks it.
pub struct Service {
    /// Inode of the service's mount namespace: its processes (and only
    /// they) live there.
    pub mnt_ns: u64,
}

/// Why a service did not come up.
pub struct Failed(pub Reply);

fn failed(alias: &str, message: impl Into<String>) -> Failed {
    Failed(Reply::ServiceFailed {
        alias: alias.to_string(),
        message: message.into(),
    })
}

/// Start one service and wait until it is ready. `tree` is its image's
/// mount tree (`None`: it runs in the job's own root), `output` the write
/// end of its output pipe, `sock` the control socket (a runner that goes
/// away ends the wait).
pub fn start(
    spec: &ServiceSpec,
    tree: Option<OwnedFd>,
    output: OwnedFd,
    shared: &Shared<'_>,
    guard: &step::Guard,
    sock: BorrowedFd<'_>,
) -> Result<Service, Failed> {
    let alias = spec.alias.as_str();
    let prepared = step::Prepared::new(&spec.process).map_err(|e| failed(alias, e))?;
    let stderr = output
        .try_clone()
        .map_err(|e| failed(alias, format!("dup: {e}")))?;
    let (ready_r, ready_w) =
        pipe2(OFlag::O_CLOEXEC).map_err(|e| failed(alias, format!("pipe: {e}")))?;
    // SAFETY: the init is single-threaded (see init::start_step), so the
    // child may run ordinary code until it execs.
    let pid = match unsafe { fork() }.map_err(|e| failed(alias, format!("fork: {e}")))? {
        ForkResult::Child => {
            drop(ready_r);
            if let Some(tree) = tree
                && let Err(e) = subroot::enter(tree, shared)
            {
                let msg = format!("cannot build its root: {e}");
                let _ = nix::unistd::write(&ready_w, msg.as_bytes());
                // SAFETY: _exit ends this forked child without running the
                // init's destructors.
                unsafe { libc::_exit(126) }
            }
            step::exec(&prepared, output, stderr, Some(ready_w), guard)
        }
        ForkResult::Parent { child } => child,
    };
    // Only the service holds these now: its exec closes the ready pipe,
    // its death closes the output pipe.
    drop((output, stderr, tree, ready_w));
    let deadline = Instant::now() + READY_TIMEOUT;

    // 1. The exec.
    let mut message = Vec::new();
    loop {
        wait_readable(ready_r.as_fd(), sock, deadline).map_err(|e| failed(alias, e))?;
        let mut buf = [0u8; 1024];
        match read(&ready_r, &mut buf) {
            Ok(0) => break,
            Ok(n) => message.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            Err(e) => return Err(failed(alias, format!("reading its ready pipe: {e}"))),
        }
    }
    if !message.is_empty() {
        reap(pid);
        return Err(failed(alias, String::from_utf8_lossy(&message)));
    }
    check_alive(alias, pid)?;
    let mnt_ns = std::fs::metadata(format!("/proc/{pid}/ns/mnt"))
        .map(|m| m.ino())
        .map_err(|e| failed(alias, format!("it ended right after starting ({e})")))?;

    // 2. The ports.
    for &port in &spec.ports {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        loop {
            if std::net::TcpStream::connect_timeout(&addr, PROBE_INTERVAL).is_ok() {
                break;
            }
            check_alive(alias, pid)?;
            if Instant::now() >= deadline {
                return Err(failed(
                    alias,
                    format!(
                        "port {port} did not accept connections within {}s",
                        READY_TIMEOUT.as_secs()
                    ),
                ));
            }
            // The pause between attempts doubles as the watch on the
            // runner: a closed socket ends the wait at once.
            if runner_gone(sock, PROBE_INTERVAL) {
                return Err(failed(alias, "the runner went away"));
            }
        }
    }
    Ok(Service { mnt_ns })
}

/// Wait until `fd` is readable; an error when the deadline passes or the
/// runner closes the control socket first.
fn wait_readable(
    fd: BorrowedFd<'_>,
    sock: BorrowedFd<'_>,
    deadline: Instant,
) -> Result<(), String> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "its command did not start within {}s",
                READY_TIMEOUT.as_secs()
            ));
        }
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [
            PollFd::new(fd, PollFlags::POLLIN),
            PollFd::new(sock, PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(format!("poll: {e}")),
        }
        if fds[0].any().unwrap_or(false) {
            return Ok(());
        }
        if fds[1].any().unwrap_or(false) {
            return Err("the runner went away".into());
        }
    }
}

/// Whether the control socket has news (the runner closed it) within
/// `wait`. During setup the runner sends nothing else.
fn runner_gone(sock: BorrowedFd<'_>, wait: Duration) -> bool {
    let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
    let mut fds = [PollFd::new(sock, PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::from(ms)), Ok(n) if n > 0)
}

/// An error when the service has exited (and reap it).
fn check_alive(alias: &str, pid: Pid) -> Result<(), Failed> {
    match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Err(failed(
            alias,
            format!("it exited with code {code} before it was ready"),
        )),
        Ok(WaitStatus::Signaled(_, sig, _)) => Err(failed(
            alias,
            format!("it was killed by {sig} before it was ready"),
        )),
        _ => Ok(()),
    }
}

fn reap(pid: Pid) {
    while let Err(Errno::EINTR) = waitpid(pid, None) {}
}
