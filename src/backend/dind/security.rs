//! A job's `security:` block, as the dind runtime applies it.
//!
//! [`plan`] turns the model's keys into the [`Hardening`] the shim and the
//! init carry out, behaving as Docker does for each, but always inside the
//! job's user namespace: whatever a key grants is granted over the job's
//! own namespaces, never over the host's. So `privileged` is every
//! capability *of the user namespace* (container root stays an
//! unprivileged host uid, and host devices are not passed), `cap_add:
//! [SYS_ADMIN]` lets a step mount in its own mount namespace, and
//! `network: host` shares the host's network as that unprivileged uid.
//!
//! What cannot be honoured is said: `userns: host` (dind *is* user
//! namespaces) and `pid: host` (the init tracks the job's processes by
//! its pid namespace) are refused with the key's location; keys that
//! change nothing here (AppArmor, SELinux, volume propagation, `network:
//! bridge`) become notes in the job's output.

use std::path::{Path, PathBuf};

use super::caps;
use super::process::protocol::{Bind, BindKind, Hardening};
use crate::backend::BackendError;
use crate::model::{AppArmorMode, Job, Located, NamespaceMode, NetworkMode, SeccompMode};

/// Where the engine socket appears in the job (Docker's convention).
pub const SOCKET_TARGET: &str = "/var/run/docker.sock";

/// What the job's steps run with, and the notes for its output.
#[derive(Debug)]
pub struct Plan {
    pub hardening: Hardening,
    pub notes: Vec<String>,
}

fn host_mode(m: &Option<Located<NamespaceMode>>) -> Option<&Located<NamespaceMode>> {
    m.as_ref().filter(|m| m.value == NamespaceMode::Host)
}

fn names(v: &[Located<String>]) -> Vec<&str> {
    v.iter().map(|c| c.value.as_str()).collect()
}

fn refuse<T>(key: &Located<T>, what: &str) -> BackendError {
    BackendError::Runtime(format!("{}: {what}", key.loc))
}

/// Translate `job.security` for the dind runtime. `engine_socket` is the
/// Docker daemon's socket for `mount_docker_socket` (`None`: none found).
pub fn plan(job: &Job, engine_socket: Option<&Path>) -> Result<Plan, BackendError> {
    let s = &job.security;
    let mut notes = Vec::new();
    let mut h = Hardening::default();

    if let Some(u) = host_mode(&s.userns) {
        return Err(refuse(
            u,
            "`userns: host` cannot be honoured in dind mode: dind runs every job in a user \
             namespace, that is what makes its root an unprivileged host uid; remove the key, \
             or run this pipeline with --mode dood",
        ));
    }
    if let Some(p) = host_mode(&s.pid) {
        return Err(refuse(
            p,
            "`pid: host` is not supported in dind mode: the runtime tracks and stops the job's \
             processes through its own pid namespace; remove the key, or run this pipeline with \
             --mode dood",
        ));
    }
    h.host_ipc = host_mode(&s.ipc).is_some();
    h.host_uts = host_mode(&s.uts).is_some();
    match s.network.as_ref().map(|n| n.value) {
        Some(NetworkMode::Host) => h.host_net = true,
        Some(NetworkMode::Bridge) => notes.push(
            "security.network: dind has no bridge: the job's network namespace has loopback only \
             (its services share it); use `network: host` to reach other machines"
                .to_string(),
        ),
        Some(NetworkMode::None) | None => {}
    }

    let privileged = s.is_privileged();
    h.caps =
        caps::job_mask(privileged, &names(&s.cap_add), &names(&s.cap_drop)).map_err(|bad| {
            let loc = s
                .cap_add
                .iter()
                .chain(&s.cap_drop)
                .find(|c| c.value == bad)
                .map_or_else(|| job.loc.to_string(), |c| c.loc.to_string());
            BackendError::Runtime(format!(
                "{loc}: unknown capability `{bad}` (expected a name such as NET_ADMIN or \
                 CAP_NET_ADMIN, or ALL)"
            ))
        })?;
    let unconfined = |m: &Option<Located<AppArmorMode>>| {
        m.as_ref()
            .is_some_and(|m| m.value == AppArmorMode::Unconfined)
    };
    h.seccomp = !privileged && s.seccomp.as_ref().map(|m| m.value) != Some(SeccompMode::Unconfined);
    h.mask_system_paths = !privileged && !unconfined(&s.systempaths);
    h.writable_sys = privileged;
    if let Some(n) = &s.no_new_privs {
        h.no_new_privs = n.value;
    }
    h.read_only_root = s.read_only.as_ref().is_some_and(|r| r.value);
    if privileged {
        notes.push(
            "security.privileged: every capability, no seccomp filter and unmasked /proc and \
             /sys — of the job's user namespace only: in dind `privileged` never means host \
             root, and host devices are not passed (list the ones the job needs under \
             `devices`)"
                .to_string(),
        );
    }
    if s.apparmor.is_some() || s.selinux.is_some() {
        notes.push(format!(
            "security.apparmor/selinux: the dind runtime applies no AppArmor profile or SELinux \
             label of its own{}",
            lsm_state()
        ));
    }

    for v in &s.volumes {
        let origin = format!(
            "volume `{}:{}` ({})",
            v.value.host, v.value.container, v.loc
        );
        let host = PathBuf::from(&v.value.host);
        if !host.is_absolute() {
            return Err(BackendError::Runtime(format!(
                "{origin}: the host path must be absolute in dind mode (there are no named \
                 volumes)"
            )));
        }
        if let Some(p) = v.value.propagation {
            notes.push(format!(
                "{origin}: propagation `{p:?}` is not applied; the job's mounts are private to \
                 it"
            ));
        }
        h.binds.push(Bind {
            host,
            target: v.value.container.clone(),
            read_only: v.value.read_only,
            kind: BindKind::Volume,
            origin,
        });
    }
    for d in &s.devices {
        // host[:container[:permissions]], as `docker run --device`.
        let mut parts = d.value.splitn(3, ':');
        let host = parts.next().unwrap_or_default().to_string();
        let target = parts
            .next()
            .filter(|t| !t.is_empty())
            .map_or_else(|| host.clone(), str::to_string);
        let perms = parts.next().unwrap_or("rwm");
        let origin = format!("device `{}` ({})", d.value, d.loc);
        if !host.starts_with('/') || !target.starts_with('/') {
            return Err(BackendError::Runtime(format!(
                "{origin}: expected `/dev/HOST[:/dev/CONTAINER[:rwm]]` with absolute paths"
            )));
        }
        h.binds.push(Bind {
            host: PathBuf::from(host),
            target,
            read_only: !perms.contains('w'),
            kind: BindKind::Device,
            origin,
        });
    }
    if let Some(m) = s.mount_docker_socket.as_ref().filter(|m| m.value) {
        let origin = format!("security.mount_docker_socket ({})", m.loc);
        let Some(socket) = engine_socket else {
            return Err(BackendError::Runtime(format!(
                "{origin}: no Docker daemon socket found (DOCKER_HOST, /var/run/docker.sock); \
                 start the daemon or remove the key"
            )));
        };
        notes.push(format!(
            "WARNING: {origin}: the host's Docker daemon ({}) is handed to this job at {SOCKET_TARGET}: \
             its steps can start privileged containers and so act as root on the host",
            socket.display()
        ));
        h.binds.push(Bind {
            host: socket.to_path_buf(),
            target: SOCKET_TARGET.to_string(),
            read_only: false,
            kind: BindKind::Socket,
            origin,
        });
    }
    Ok(Plan {
        hardening: h,
        notes,
    })
}

/// The engine socket for `mount_docker_socket`: `DOCKER_HOST` when it is
/// a unix socket, else the first default socket that exists.
pub fn engine_socket() -> Option<PathBuf> {
    crate::backend::dood::Endpoint::discover()
        .ok()
        .and_then(|e| e.socket().map(Path::to_path_buf))
}

/// Which Linux security module this host enforces, for the note.
fn lsm_state() -> String {
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y");
    let selinux = std::fs::read_to_string("/sys/fs/selinux/enforce").is_ok_and(|s| s.trim() == "1");
    match (apparmor, selinux) {
        (false, false) => "; this host enforces neither, so the key changes nothing".to_string(),
        (true, _) => "; this host has AppArmor, which still confines nestci's own processes as it \
             confines the runner, and the key does not change that"
            .to_string(),
        (false, true) => {
            "; this host enforces SELinux, which labels the job as it labels the runner, and \
             the key does not change that"
                .to_string()
        }
    }
}
