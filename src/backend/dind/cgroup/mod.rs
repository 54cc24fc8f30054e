//! A cgroup per job: memory, pids and cpu limits from `resources:`.
//!
//! Each controller is placed where this host offers it: the unified
//! hierarchy (cgroup v2) when the controller is available there, else its
//! v1 hierarchy (this project's CI machines are hybrid: v1 controllers,
//! a cgroup2 mount with none). The job's cgroups are created under the
//! runner's own, so a runner confined by its service manager stays
//! confined. What cannot be applied is said, not silently dropped.
//!
//! The shim writes itself into every `cgroup.procs` before it clones the
//! init, so the whole container is limited from its first instruction.
//! The cgroups are removed after the job, once the shim — and so every
//! process of the container — is gone.

mod v1;
mod v2;

use std::path::{Path, PathBuf};

use crate::model::Resources;

/// A controller nestci sets limits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    Memory,
    Pids,
    Cpu,
}

impl Controller {
    pub fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Cpu => "cpu",
        }
    }
}

/// One limit to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Limit {
    MemoryBytes(u64),
    Pids(u64),
    Cpus(f64),
}

impl Limit {
    fn controller(&self) -> Controller {
        match self {
            Limit::MemoryBytes(_) => Controller::Memory,
            Limit::Pids(_) => Controller::Pids,
            Limit::Cpus(_) => Controller::Cpu,
        }
    }
}

/// Where the OOM-kill counter of the job's memory cgroup lives.
#[derive(Debug, Clone)]
enum OomCounter {
    /// v1 `memory.oom_control` (`oom_kill N`).
    V1(PathBuf),
    /// v2 `memory.events` (`oom_kill N`).
    V2(PathBuf),
}

/// The job's cgroups.
#[derive(Debug, Default)]
pub struct JobCgroup {
    /// Directories created, removed in reverse order.
    dirs: Vec<PathBuf>,
    oom: Option<OomCounter>,
    /// The memory limit, for messages.
    pub memory_limit: Option<u64>,
    /// Limits that could not be applied, in words.
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("cgroup {path}: {source}")]
pub struct CgroupError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl CgroupError {
    /// The hierarchy is not ours to write (read-only, not delegated).
    fn not_permitted(&self) -> bool {
        matches!(
            self.source.raw_os_error(),
            Some(libc::EROFS | libc::EACCES | libc::EPERM)
        )
    }
}

impl JobCgroup {
    /// Create the cgroups for `resources` (none when nothing is limited),
    /// named `name` under the runner's own cgroup of each controller.
    pub fn create(name: &str, resources: &Resources) -> Result<JobCgroup, CgroupError> {
        let mut limits = Vec::new();
        if let Some(m) = &resources.memory {
            limits.push(Limit::MemoryBytes(m.value));
        }
        if let Some(p) = &resources.pids {
            limits.push(Limit::Pids(p.value));
        }
        if let Some(c) = &resources.cpus {
            limits.push(Limit::Cpus(c.value));
        }
        let mut cg = JobCgroup {
            memory_limit: resources.memory.as_ref().map(|m| m.value),
            ..JobCgroup::default()
        };
        if limits.is_empty() {
            return Ok(cg);
        }
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let unified = v2::Unified::find(&own);
        let mut v2_limits = Vec::new();
        for limit in limits {
            let controller = limit.controller();
            if unified.as_ref().is_some_and(|u| u.offers(controller)) {
                v2_limits.push(limit);
            } else if let Some(dir) = v1::controller_dir(&own, controller) {
                let created = match v1::create(&dir, name, &limit) {
                    Ok(created) => created,
                    // A cgroup tree we may not write (a read-only cgroupfs
                    // in a container, no delegation): the limit is not
                    // applied, and the job says so.
                    Err(e) if e.not_permitted() => {
                        cg.notes
                            .push(format!("{} limit not applied: {e}", controller.name()));
                        continue;
                    }
                    Err(e) => {
                        cg.remove_quietly();
                        return Err(e);
                    }
                };
                if controller == Controller::Memory {
                    cg.oom = Some(OomCounter::V1(created.join("memory.oom_control")));
                }
                cg.dirs.push(created);
            } else {
                cg.notes.push(format!(
                    "{} limit not applied: this host has no {} cgroup controller (v1 or v2)",
                    controller.name(),
                    controller.name()
                ));
            }
        }
        if let (Some(unified), false) = (unified, v2_limits.is_empty()) {
            match unified.create(name, &v2_limits) {
                Ok(dir) => {
                    if v2_limits
                        .iter()
                        .any(|l| l.controller() == Controller::Memory)
                    {
                        cg.oom = Some(OomCounter::V2(dir.join("memory.events")));
                    }
                    cg.dirs.push(dir);
                }
                Err(e) if e.not_permitted() => {
                    let names: Vec<&str> =
                        v2_limits.iter().map(|l| l.controller().name()).collect();
                    cg.notes
                        .push(format!("{} limits not applied: {e}", names.join(", ")));
                }
                Err(e) => {
                    cg.remove_quietly();
                    return Err(e);
                }
            }
        }
        Ok(cg)
    }

    /// The `cgroup.procs` files the container joins.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// The directories, for checks.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// How many processes the OOM killer has killed in the job so far.
    pub fn oom_kills(&self) -> Option<u64> {
        let path = match self.oom.as_ref()? {
            OomCounter::V1(p) | OomCounter::V2(p) => p,
        };
        read_counter(path, "oom_kill")
    }

    /// Remove the cgroups; the container must be gone.
    pub fn remove(mut self) -> Result<(), CgroupError> {
        let dirs = std::mem::take(&mut self.dirs);
        for dir in dirs.iter().rev() {
            remove_dir(dir)?;
        }
        Ok(())
    }

    fn remove_quietly(&mut self) {
        for dir in std::mem::take(&mut self.dirs).iter().rev() {
            let _ = remove_dir(dir);
        }
    }
}

/// `rmdir` a cgroup. The last process may still be leaving it for a
/// moment after its parent reaped it (EBUSY): try again briefly.
fn remove_dir(dir: &Path) -> Result<(), CgroupError> {
    const ATTEMPTS: u32 = 200;
    for attempt in 0.. {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < ATTEMPTS => {
                std::thread::yield_now();
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => {
                return Err(CgroupError {
                    path: dir.to_path_buf(),
                    source: e,
                });
            }
        }
    }
    Ok(())
}

/// The value of `key N` in a flat-keyed cgroup file.
fn read_counter(path: &Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// `256 MiB`, `1.5 GiB`: a byte size as users wrote it.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A cgroup name from the run id and the job's name: only characters that
/// are safe in a path, never `.` or `..`.
pub fn cgroup_name(run_id: &str, job: &str, unique: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!("nestci-{}-{}-{}", clean(run_id), clean(job), clean(unique))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_written() {
        assert_eq!(human_bytes(256 << 20), "256 MiB");
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
        assert_eq!(human_bytes(100), "100 B");
    }

    #[test]
    fn names_are_path_safe() {
        assert_eq!(
            cgroup_name("r1", "test [N=1]", "ab.c"),
            "nestci-r1-test__N_1_-ab_c"
        );
    }

    #[test]
    fn counters_are_read_by_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("memory.oom_control");
        std::fs::write(&file, "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n").expect("write");
        assert_eq!(read_counter(&file, "oom_kill"), Some(3));
        assert_eq!(read_counter(&file, "missing"), None);
    }
}
