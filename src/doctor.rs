//! What this host offers nestci: each facility as ok or missing, what a
//! missing one costs and how to get it. `nestci doctor` prints this; the
//! checks probe the kernel for real (a user namespace is created, an
//! overlay mounted in one) rather than guess from version numbers.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;

use nix::sched::CloneFlags;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::ForkResult;

use crate::backend::dind::cgroup;
use crate::backend::dind::idmap::IdPlan;

/// How a facility stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Missing,
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Facility {
    pub name: &'static str,
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// When missing: what it costs and how to fix it.
    pub cost: String,
    /// dind cannot run without it.
    pub required_for_dind: bool,
}

impl Facility {
    fn new(name: &'static str, ok: bool, detail: String, cost: &str, required: bool) -> Facility {
        Facility {
            name,
            status: if ok { Status::Ok } else { Status::Missing },
            detail,
            cost: if ok { String::new() } else { cost.to_string() },
            required_for_dind: required,
        }
    }
}

/// Every check, in the order they are shown.
pub fn check() -> Vec<Facility> {
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let userns = probe_userns();
    let mut out = vec![Facility::new(
        "user namespaces",
        max > 0 && userns.is_ok(),
        match &userns {
            Ok(()) => format!("yes (max {max})"),
            Err(e) => format!("no: {e} (max {max})"),
        },
        "dind cannot run; enable them: `sysctl -w user.max_user_namespaces=15000` (and kernel.unprivileged_userns_clone=1 on older Debian kernels)",
        true,
    )];
    let ids = IdPlan::for_invoker();
    out.push(Facility::new(
        "subordinate ids",
        ids.is_ok(),
        match &ids {
            Ok(plan) => plan
                .uid_map
                .iter()
                .map(|r| format!("{}→{} ×{}", r.inside, r.outside, r.count))
                .collect::<Vec<_>>()
                .join(", "),
            Err(e) => e.clone(),
        },
        "dind cannot map container users; add a /etc/subuid and /etc/subgid range for this user",
        true,
    ));
    let root = nix::unistd::Uid::effective().is_root();
    let helper = which("newuidmap").is_some() && which("newgidmap").is_some();
    out.push(Facility::new(
        "newuidmap/newgidmap",
        root || helper,
        if root {
            "not needed: root writes the maps itself".into()
        } else if helper {
            "present".into()
        } else {
            "missing".into()
        },
        "a non-root user cannot map a uid range; install Debian's `uidmap` package",
        !root,
    ));
    let overlay = probe_overlay();
    out.push(Facility::new(
        "overlay in a user namespace",
        overlay.is_ok(),
        match &overlay {
            Ok(()) => "yes (userxattr)".into(),
            Err(e) => format!("no: {e}"),
        },
        "image layers would be copied per job instead of shared (slower start, more disk)",
        false,
    ));
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let v2 = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
        .or_else(|_| std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers"))
        .map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .ok();
    let mut usable = Vec::new();
    for c in [
        cgroup::Controller::Memory,
        cgroup::Controller::Pids,
        cgroup::Controller::Cpu,
    ] {
        let in_v2 = v2.as_ref().is_some_and(|l| l.iter().any(|x| x == c.name()));
        let in_v1 = cgroup_v1_has(&own, c);
        if in_v2 {
            usable.push(format!("{} (v2)", c.name()));
        } else if in_v1 {
            usable.push(format!("{} (v1)", c.name()));
        }
    }
    let layout = match (&v2, usable.iter().any(|u| u.ends_with("(v1)"))) {
        (Some(_), true) => "hybrid",
        (Some(_), false) => "v2",
        (None, _) => "v1",
    };
    out.push(Facility::new(
        "cgroups",
        usable.len() == 3,
        format!(
            "{layout}; usable: {}",
            if usable.is_empty() {
                "none".into()
            } else {
                usable.join(", ")
            }
        ),
        "`resources:` limits without a controller are not applied (each run says which)",
        false,
    ));
    let seccomp = std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail").ok();
    out.push(Facility::new(
        "seccomp",
        seccomp.as_deref().is_some_and(|a| a.contains("errno")),
        seccomp.map_or_else(
            || "no /proc/sys/kernel/seccomp".into(),
            |a| format!("actions: {}", a.trim()),
        ),
        "steps would run without a system call filter; use a kernel with CONFIG_SECCOMP_FILTER",
        false,
    ));
    let docker = probe_docker();
    out.push(Facility::new(
        "Docker daemon",
        docker.is_ok(),
        match &docker {
            Ok(found) => found.clone(),
            Err(e) => e.clone(),
        },
        "dood mode is unavailable (dind does not need it)",
        false,
    ));
    out
}

/// Whether dind can run given these results.
pub fn dind_can_run(facilities: &[Facility]) -> bool {
    facilities
        .iter()
        .all(|f| f.status == Status::Ok || !f.required_for_dind)
}

fn cgroup_v1_has(own: &str, c: cgroup::Controller) -> bool {
    own.lines().any(|l| {
        l.split(':')
            .nth(1)
            .is_some_and(|list| list.split(',').any(|x| x == c.name()))
    })
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Run `probe` in a forked child after `unshare(flags)`; the child's exit
/// code 0 means success, anything else is an errno.
fn in_child(
    flags: CloneFlags,
    probe: impl FnOnce() -> Result<(), nix::errno::Errno>,
) -> Result<(), String> {
    // SAFETY: `nestci doctor` runs this before starting any thread (no
    // async runtime), so the child may run ordinary code until _exit.
    match unsafe { nix::unistd::fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            let code = match nix::sched::unshare(flags).and_then(|()| probe()) {
                Ok(()) => 0,
                Err(e) => e as i32,
            };
            // SAFETY: leave the forked child without running the parent's
            // destructors or atexit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, 0)) => Ok(()),
            Ok(WaitStatus::Exited(_, code)) => {
                Err(nix::errno::Errno::from_raw(code).desc().to_string())
            }
            other => Err(format!("probe ended with {other:?}")),
        },
    }
}

fn probe_userns() -> Result<(), String> {
    in_child(
        CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID,
        || Ok(()),
    )
}

fn probe_overlay() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    for d in ["lower", "upper", "work", "merged"] {
        let p = dir.path().join(d);
        std::fs::create_dir(&p)
            .and_then(|()| std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)))
            .map_err(|e| format!("{}: {e}", p.display()))?;
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    let p = |d: &str| dir.path().join(d).to_string_lossy().into_owned();
    let data = format!(
        "lowerdir={},upperdir={},workdir={},userxattr",
        p("lower"),
        p("upper"),
        p("work")
    );
    let target = CString::new(p("merged")).map_err(|e| e.to_string())?;
    let data = CString::new(data).map_err(|e| e.to_string())?;
    let uid_map = format!("0 {} 1", nix::unistd::Uid::effective());
    let gid_map = format!("0 {} 1", nix::unistd::Gid::effective());
    in_child(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS, || {
        // Map ourselves as root of the namespace (the one mapping a process
        // may write for itself), so the overlay's directories have an owner.
        let write = |file: &str, text: &str| {
            std::fs::write(file, text)
                .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
        };
        write("/proc/self/setgroups", "deny")?;
        write("/proc/self/uid_map", &uid_map)?;
        write("/proc/self/gid_map", &gid_map)?;
        nix::mount::mount(
            Some("overlay"),
            target.as_c_str(),
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(data.as_c_str()),
        )
    })
}

/// Which engine dood mode would use, found the way dood finds it
/// (`DOCKER_HOST`, /var/run/docker.sock, the Podman sockets), with its
/// name and version: `Podman 4.3.1 (API 1.41) at unix:///run/podman/podman.sock`.
fn probe_docker() -> Result<String, String> {
    // A runtime of its own on a thread of its own: `check` may be called
    // from async code.
    std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        rt.block_on(async {
            let found = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                crate::backend::dood::Engine::discover(),
            )
            .await
            .map_err(|_| "the engine did not answer within 5 s".to_string())?;
            let engine = found.map_err(|e| e.to_string())?;
            Ok(format!("{} at {}", engine.info(), engine.endpoint()))
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the engine probe panicked".into()))
}
