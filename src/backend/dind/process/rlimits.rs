//! Resource limits of a job's processes, set as Docker's do.
//!
//! A container started by dockerd inherits the limits of containerd's
//! service, which its systemd unit sets to `infinity` for open files,
//! processes and core dumps; open files then stop at the kernel's
//! `fs.nr_open` (1048576 by default). nestci gives its jobs the same, so
//! that a build that opens many files behaves as in Docker.
//!
//! The shim sets them before it clones the init (the init and every step
//! inherit them). Raising a *hard* limit needs `CAP_SYS_RESOURCE` in the
//! host's user namespace: the mapped root of the job's namespace never has
//! it, and root on the host may lack it too (a capability bounding set
//! without it, an unprivileged container). Then the soft limit is raised
//! to the hard one. A note says so only when what stayed is low enough to
//! break an ordinary build ([`ENOUGH`]): a line on every job of such a
//! host would say nothing the user can act on.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// `RLIM_INFINITY`.
const INFINITY: u64 = libc::RLIM_INFINITY;

/// Open files when `fs.nr_open` cannot be read.
const NOFILE_DEFAULT: u64 = 1 << 20;

/// Below this many open files or processes a limit that could not be
/// raised is worth a note (a linker or a test runner with many workers
/// needs thousands; systemd's default soft limit is 1024).
const ENOUGH: u64 = 16384;

/// The limits a job gets, soft = hard.
fn targets() -> [(Resource, &'static str, u64); 3] {
    let nofile = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(NOFILE_DEFAULT);
    [
        (Resource::RLIMIT_NOFILE, "RLIMIT_NOFILE", nofile),
        // The job's pids cgroup, not a per-uid count, limits processes.
        (Resource::RLIMIT_NPROC, "RLIMIT_NPROC", INFINITY),
        (Resource::RLIMIT_CORE, "RLIMIT_CORE", INFINITY),
    ]
}

fn show(value: u64) -> String {
    if value == INFINITY {
        "unlimited".into()
    } else {
        value.to_string()
    }
}

/// Set the job's limits on the calling process; returns a note for the
/// job's output when some could not be raised (empty when all were).
pub fn apply() -> Vec<String> {
    let mut short = Vec::new();
    for (resource, name, want) in targets() {
        let Ok((soft, hard)) = getrlimit(resource) else {
            continue;
        };
        if soft == want && hard == want {
            continue;
        }
        if setrlimit(resource, want, want).is_ok() {
            continue;
        }
        // No CAP_SYS_RESOURCE: as far as the hard limit lets us.
        let got = want.min(hard);
        let _ = setrlimit(resource, got, hard);
        if got < want && got < ENOUGH {
            short.push(format!("{name} {} (wanted {})", show(got), show(want)));
        }
    }
    if short.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "rlimits: could not raise {} — raising a hard limit needs CAP_SYS_RESOURCE on the host, \
             which this runner lacks",
            short.join(", ")
        )]
    }
}
