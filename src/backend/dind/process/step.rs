//! A step's process, between the init's fork and exec.
//!
//! The order, each for a reason:
//!
//! 1. signal mask and dispositions back to defaults (the init blocks
//!    SIGCHLD; Rust ignores SIGPIPE — both would leak through exec);
//! 2. a session of its own, so the step's process group can be told apart;
//! 3. stdio: /dev/null in, the runner's pipes out;
//! 4. every other fd closed — the control socket, the signalfd and any fd
//!    of the host must not reach the step — but for a service's "ready"
//!    pipe, kept as fd 3 with close-on-exec: its end of file tells the
//!    init that the exec happened;
//! 5. the working directory entered *by path, inside the new root* and
//!    checked to be reachable from `/` (a cwd outside the root is how the
//!    CVE-2024-21626 class escapes);
//! 6. the bounding set narrowed to the job's capabilities (Docker's 14
//!    unless `cap_add`/`cap_drop`/`privileged` say otherwise); then the
//!    job's `user:` or the image's `User`, if any (looked up in the step's
//!    own root, so after the pivot; a switch away from uid 0 clears the
//!    remaining capabilities, as in Docker); then effective and permitted
//!    narrowed; then `no_new_privs`, then the seccomp filter — last, so
//!    that the calls above are not filtered, and after no_new_privs, which
//!    an unprivileged filter requires. With `no_new_privs: false` the
//!    filter goes in first instead, while the step still holds
//!    `CAP_SYS_ADMIN` of its namespace (the kernel's other condition for
//!    installing one), as runc does;
//! 7. exec, searching `PATH` of the step's environment.

use std::ffi::CString;
use std::os::fd::{OwnedFd, RawFd};

use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, signal, sigprocmask};
use nix::unistd::{chdir, dup2_stderr, dup2_stdin, dup2_stdout, execve, getcwd, setsid};

use super::protocol::StepSpec;
use crate::backend::dind::caps;
use crate::backend::dind::seccomp::{self, Filters};
use crate::backend::dind::sys;

/// What a step may still do, from the job's `security:` block.
pub struct Guard {
    /// The seccomp filter; `None` for `seccomp: unconfined` and
    /// `privileged`.
    pub filters: Option<Filters>,
    /// The capabilities it keeps (a `CapEff` mask).
    pub caps: u64,
    pub no_new_privs: bool,
}

impl Guard {
    /// Docker's defaults (what services get: they are containers of their
    /// own, not subject to the job's `security:`), with no_new_privs.
    pub fn default_guard() -> Result<Guard, String> {
        Ok(Guard {
            filters: Some(seccomp::default_filters()?),
            caps: caps::default_mask(),
            no_new_privs: true,
        })
    }

    /// The guard of the job's steps.
    pub fn for_job(security: &super::protocol::Hardening) -> Result<Guard, String> {
        Ok(Guard {
            filters: if security.seccomp {
                Some(seccomp::default_filters()?)
            } else {
                None
            },
            caps: security.caps,
            no_new_privs: security.no_new_privs,
        })
    }
}

/// `PATH` when the step's environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A step's argv and env as C strings, made before the fork.
pub struct Prepared {
    argv: Vec<CString>,
    env: Vec<CString>,
    cwd: String,
    user: Option<String>,
    /// Candidate paths for argv[0], in PATH order.
    candidates: Vec<CString>,
}

impl Prepared {
    pub fn new(spec: &StepSpec) -> Result<Prepared, String> {
        let c = |s: &str| CString::new(s).map_err(|_| format!("a NUL byte in {s:?}"));
        let argv = spec
            .argv
            .iter()
            .map(|a| c(a))
            .collect::<Result<Vec<_>, _>>()?;
        let env = spec
            .env
            .iter()
            .map(|a| c(a))
            .collect::<Result<Vec<_>, _>>()?;
        let program = spec.argv.first().ok_or("empty command")?;
        let candidates = if program.contains('/') {
            vec![c(program)?]
        } else {
            let path = spec
                .env
                .iter()
                .find_map(|kv| kv.strip_prefix("PATH="))
                .unwrap_or(DEFAULT_PATH);
            path.split(':')
                .filter(|d| !d.is_empty())
                .map(|d| c(&format!("{}/{program}", d.trim_end_matches('/'))))
                .collect::<Result<Vec<_>, _>>()?
        };
        Ok(Prepared {
            argv,
            env,
            cwd: spec.cwd.clone(),
            user: spec.user.clone(),
            candidates,
        })
    }
}

/// Become the step and exec it; never returns. On failure the reason goes
/// to the step's stderr and the exit code is 127 (command not found) or
/// 126 (anything else), as a shell would report.
/// With `ready`, the reason also goes there (see [`super::service`]).
pub fn exec(
    step: &Prepared,
    stdout: OwnedFd,
    stderr: OwnedFd,
    ready: Option<OwnedFd>,
    guard: &Guard,
) -> ! {
    // From here the ready pipe is tracked by number: become_step moves it
    // to fd 3, and a failure must be reported wherever it is by then.
    let mut ready = ready.map(std::os::fd::IntoRawFd::into_raw_fd);
    let (code, msg) = match become_step(step, stdout, stderr, &mut ready, guard) {
        Ok(never) => match never {},
        Err((code, msg)) => (code, msg),
    };
    if let Some(fd) = ready {
        eprintln!("nestci: cannot start the service: {msg}");
        // SAFETY: `fd` is the ready pipe's write end, open in this process
        // (become_step keeps `ready` pointing at it); `msg` outlives the
        // call.
        unsafe { libc::write(fd, msg.as_ptr().cast(), msg.len()) };
    } else {
        eprintln!("nestci: cannot start the step: {msg}");
    }
    // SAFETY: _exit ends this forked child without running the init's
    // destructors or atexit handlers.
    unsafe { libc::_exit(code) }
}

enum Never {}

/// The number a service's ready pipe has in the process that execs.
const READY_FD: i32 = 3;

fn become_step(
    step: &Prepared,
    stdout: OwnedFd,
    stderr: OwnedFd,
    ready: &mut Option<RawFd>,
    guard: &Guard,
) -> Result<Never, (i32, String)> {
    let fail = |what: &str, e: &dyn std::fmt::Display| (126, format!("{what}: {e}"));
    // 1.
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(|e| fail("sigprocmask", &e))?;
    for sig in [Signal::SIGPIPE, Signal::SIGCHLD] {
        // SAFETY: restoring the default disposition installs no handler.
        unsafe { signal(sig, SigHandler::SigDfl) }.map_err(|e| fail("signal", &e))?;
    }
    // 2.
    setsid().map_err(|e| fail("setsid", &e))?;
    // 3.
    let null = std::fs::File::open("/dev/null").map_err(|e| fail("/dev/null", &e))?;
    dup2_stdin(&null).map_err(|e| fail("stdin", &e))?;
    dup2_stdout(&stdout).map_err(|e| fail("stdout", &e))?;
    dup2_stderr(&stderr).map_err(|e| fail("stderr", &e))?;
    // 4.
    let keep = match *ready {
        Some(fd) => {
            if fd != READY_FD {
                // SAFETY: dup3 onto fd 3 with O_CLOEXEC: whatever fd 3 was
                // is not used again (only stdio from here on, already in
                // place); the old number is closed by close_range below.
                let ret = unsafe { libc::dup3(fd, READY_FD, libc::O_CLOEXEC) };
                nix::errno::Errno::result(ret).map_err(|e| fail("ready pipe", &e))?;
                *ready = Some(READY_FD);
            }
            READY_FD as u32 + 1
        }
        None => 3,
    };
    sys::close_from(keep).map_err(|e| fail("close_range", &e))?;
    std::mem::forget((null, stdout, stderr)); // already closed by close_range
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    // 5.
    chdir(step.cwd.as_str()).map_err(|e| fail(&format!("working directory {}", step.cwd), &e))?;
    match getcwd() {
        Ok(cwd) if cwd.is_absolute() => {}
        _ => {
            return Err((
                126,
                format!("working directory {} lies outside the container", step.cwd),
            ));
        }
    }
    // 6.
    if !guard.no_new_privs
        && let Some(filters) = &guard.filters
    {
        filters.install().map_err(|e| (126, e))?;
    }
    caps::restrict_bounding(guard.caps).map_err(|e| fail("capabilities", &e))?;
    if let Some(user) = &step.user {
        switch_user(user).map_err(|e| (126, format!("user {user}: {e}")))?;
    }
    caps::restrict_rest(guard.caps).map_err(|e| fail("capabilities", &e))?;
    if guard.no_new_privs {
        nix::sys::prctl::set_no_new_privs().map_err(|e| fail("no_new_privs", &e))?;
        if let Some(filters) = &guard.filters {
            filters.install().map_err(|e| (126, e))?;
        }
    }
    // 7.
    let mut last = nix::errno::Errno::ENOENT;
    for candidate in &step.candidates {
        // execve returns only on failure.
        let Err(e) = execve(candidate, &step.argv, &step.env);
        if e != nix::errno::Errno::ENOENT && e != nix::errno::Errno::ENOTDIR {
            last = e;
        }
    }
    let program = step
        .argv
        .first()
        .map_or_else(String::new, |a| a.to_string_lossy().into_owned());
    let code = if last == nix::errno::Errno::ENOENT {
        127
    } else {
        126
    };
    Err((code, format!("{program}: {last}")))
}

/// Become `user` (`name`, `uid`, with `:group` or `:gid` optionally), as
/// Docker reads an image's `User`: names from the root's `/etc/passwd`
/// and `/etc/group`; without a group, the user's primary group.
fn switch_user(user: &str) -> Result<(), String> {
    use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};
    let (name, group) = match user.split_once(':') {
        Some((n, g)) => (n, Some(g)),
        None => (user, None),
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    // name:x:uid:gid:...
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && (f[0] == name || f[2] == name));
    let uid: u32 = match (name.parse(), &entry) {
        (Ok(uid), _) => uid,
        (Err(_), Some(f)) => f[2].parse().map_err(|_| "a bad uid in /etc/passwd")?,
        (Err(_), None) => return Err("no such user in the image's /etc/passwd".into()),
    };
    let gid: u32 = match group {
        Some(g) => match g.parse() {
            Ok(gid) => gid,
            Err(_) => std::fs::read_to_string("/etc/group")
                .unwrap_or_default()
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() > 2 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or("no such group in the image's /etc/group")?,
        },
        None => entry.and_then(|f| f[3].parse().ok()).unwrap_or(0),
    };
    // Groups before ids: after setresuid we may no longer change them.
    setgroups(&[Gid::from_raw(gid)]).map_err(|e| format!("setgroups: {e}"))?;
    setresgid(Gid::from_raw(gid), Gid::from_raw(gid), Gid::from_raw(gid))
        .map_err(|e| format!("setresgid: {e}"))?;
    setresuid(Uid::from_raw(uid), Uid::from_raw(uid), Uid::from_raw(uid))
        .map_err(|e| format!("setresuid: {e}"))
}
