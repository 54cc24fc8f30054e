//! cgroup v2: the unified hierarchy, where a controller must be enabled in
//! the parent's `cgroup.subtree_control` before a child can use it.

use std::path::{Path, PathBuf};

use super::{CgroupError, Controller, Limit};

const CPU_PERIOD_US: u64 = 100_000;

/// The runner's own cgroup in the unified hierarchy.
pub struct Unified {
    dir: PathBuf,
    available: Vec<String>,
}

impl Unified {
    /// From `/proc/self/cgroup` (`0::/path`) and the unified mount
    /// (`/sys/fs/cgroup` on pure v2, `/sys/fs/cgroup/unified` on hybrid).
    pub fn find(own: &str) -> Option<Unified> {
        let rel = own.lines().find_map(|l| l.strip_prefix("0::"))?;
        let mount = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
            .iter()
            .map(Path::new)
            .find(|m| m.join("cgroup.controllers").exists())?;
        let dir = mount.join(rel.trim_start_matches('/'));
        let available = std::fs::read_to_string(dir.join("cgroup.controllers"))
            .ok()?
            .split_whitespace()
            .map(str::to_string)
            .collect();
        Some(Unified { dir, available })
    }

    pub fn offers(&self, controller: Controller) -> bool {
        self.available.iter().any(|c| c == controller.name())
    }

    /// Enable the controllers for children, mkdir `name`, write the limits.
    pub fn create(&self, name: &str, limits: &[Limit]) -> Result<PathBuf, CgroupError> {
        let enable: Vec<String> = limits
            .iter()
            .map(|l| format!("+{}", l.controller().name()))
            .collect();
        write(&self.dir, "cgroup.subtree_control", &enable.join(" "))?;
        let dir = self.dir.join(name);
        std::fs::create_dir(&dir).map_err(|source| CgroupError {
            path: dir.clone(),
            source,
        })?;
        for limit in limits {
            let result = match *limit {
                Limit::MemoryBytes(bytes) => write(&dir, "memory.max", &bytes.to_string())
                    .and_then(|()| {
                        if dir.join("memory.swap.max").exists() {
                            write(&dir, "memory.swap.max", "0")
                        } else {
                            Ok(())
                        }
                    }),
                Limit::Pids(n) => write(&dir, "pids.max", &n.to_string()),
                Limit::Cpus(cpus) => {
                    let quota = ((cpus * CPU_PERIOD_US as f64).round() as u64).max(1000);
                    write(&dir, "cpu.max", &format!("{quota} {CPU_PERIOD_US}"))
                }
            };
            if let Err(e) = result {
                let _ = std::fs::remove_dir(&dir);
                return Err(e);
            }
        }
        Ok(dir)
    }
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    std::fs::write(&path, value).map_err(|source| CgroupError { path, source })
}
