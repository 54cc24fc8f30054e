//! cgroup v1: one hierarchy per controller under `/sys/fs/cgroup/<name>`.

use std::path::{Path, PathBuf};

use super::{CgroupError, Controller, Limit};

/// CFS period used for the cpu quota: 100 ms, the kernel's default.
const CFS_PERIOD_US: u64 = 100_000;

/// The runner's own cgroup directory for `controller`, when a v1
/// hierarchy has it (from `/proc/self/cgroup`: `N:cpu,cpuacct:/path`).
pub fn controller_dir(own: &str, controller: Controller) -> Option<PathBuf> {
    let name = controller.name();
    own.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let _id = parts.next()?;
        let list = parts.next()?;
        let path = parts.next()?;
        if !list.split(',').any(|c| c == name) {
            return None;
        }
        let rel = path.trim_start_matches('/');
        [list, name]
            .iter()
            .map(|mnt| Path::new("/sys/fs/cgroup").join(mnt))
            .find(|mnt| mnt.join("cgroup.procs").exists())
            .map(|mnt| mnt.join(rel))
            .filter(|dir| dir.is_dir())
    })
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    std::fs::write(&path, value).map_err(|source| CgroupError { path, source })
}

/// mkdir `parent/name` and write `limit` into it.
pub fn create(parent: &Path, name: &str, limit: &Limit) -> Result<PathBuf, CgroupError> {
    let dir = parent.join(name);
    std::fs::create_dir(&dir).map_err(|source| CgroupError {
        path: dir.clone(),
        source,
    })?;
    let result = match *limit {
        Limit::MemoryBytes(bytes) => write(&dir, "memory.limit_in_bytes", &bytes.to_string())
            .and_then(|()| {
                // With swap accounting, swap must not be a way around the limit.
                if dir.join("memory.memsw.limit_in_bytes").exists() {
                    write(&dir, "memory.memsw.limit_in_bytes", &bytes.to_string())
                } else {
                    Ok(())
                }
            }),
        Limit::Pids(n) => write(&dir, "pids.max", &n.to_string()),
        Limit::Cpus(cpus) => {
            write(&dir, "cpu.cfs_period_us", &CFS_PERIOD_US.to_string()).and_then(|()| {
                let quota = ((cpus * CFS_PERIOD_US as f64).round() as u64).max(1000);
                write(&dir, "cpu.cfs_quota_us", &quota.to_string())
            })
        }
    };
    if let Err(e) = result {
        let _ = std::fs::remove_dir(&dir);
        return Err(e);
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_cgroup_lines_are_parsed() {
        // No assertion on the host's layout here: only that a controller
        // missing from the file is not found.
        assert_eq!(
            super::controller_dir("0::/\n", super::Controller::Memory),
            None
        );
    }
}
