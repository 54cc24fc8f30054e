//! Who the container's users are on the host: uid/gid maps for the job's
//! user namespace, and the ID mapping of the workspace mount.
//!
//! Two cases, decided once per run by [`IdPlan::for_invoker`]:
//!
//! * **root** invokes nestci: container uid 0..65536 maps to a subordinate
//!   range — root's `/etc/subuid` entry, else the default
//!   `100000:65536` — written straight into `/proc/<pid>/uid_map` (root
//!   may; `newuidmap` refuses ranges missing from `/etc/subuid`). The
//!   container's root is thus an unprivileged uid on the host. So that
//!   files it writes to the workspace belong to the invoking user (root)
//!   and not to uid 100000, the workspace is an **ID-mapped mount**: a
//!   detached clone of it gets `MOUNT_ATTR_IDMAP` with a user namespace
//!   that maps host uid 0 to 100000, so container root sees the
//!   workspace's files as its own and writes them as uid 0 on disk.
//! * **a user** invokes nestci: container root *is* the invoking user (map
//!   `0 <uid> 1`) and 1..=count map to their `/etc/subuid` range, written
//!   through the setuid helpers `newuidmap`/`newgidmap` (like rootless
//!   Podman). Files in the workspace are naturally the user's; no ID-mapped
//!   mount is needed (nor allowed: it takes CAP_SYS_ADMIN on the host).

use std::io::Write;
use std::process::Command;

use nix::unistd::{Gid, Pid, Uid, User};
use serde::{Deserialize, Serialize};

/// The range root's containers use when `/etc/subuid` has none for root.
pub const DEFAULT_RANGE: (u32, u32) = (100_000, 65_536);

/// One line of `uid_map`/`gid_map`: `inside outside count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// The maps for a job's user namespace and how to write them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdPlan {
    pub uid_map: Vec<IdRange>,
    pub gid_map: Vec<IdRange>,
    /// Write through `newuidmap`/`newgidmap` (not root) instead of directly.
    pub use_helpers: bool,
    /// When set, the workspace gets an ID-mapped mount: host owner
    /// (uid, gid) shows as container root (the outside ids of container 0).
    pub workspace_owner: Option<(u32, u32)>,
}

impl IdPlan {
    /// The plan for whoever runs this process, or why there is none.
    pub fn for_invoker() -> Result<IdPlan, String> {
        let uid = Uid::effective();
        let gid = Gid::effective();
        let name = User::from_uid(uid).ok().flatten().map(|u| u.name);
        let subuid = read_subid("/etc/subuid", name.as_deref(), uid.as_raw());
        let subgid = read_subid("/etc/subgid", name.as_deref(), uid.as_raw());
        if uid.is_root() {
            let (us, uc) = subuid.unwrap_or_else(|| default_range("/proc/self/uid_map"));
            let (gs, gc) = subgid.unwrap_or_else(|| default_range("/proc/self/gid_map"));
            return Ok(IdPlan {
                uid_map: vec![IdRange {
                    inside: 0,
                    outside: us,
                    count: uc,
                }],
                gid_map: vec![IdRange {
                    inside: 0,
                    outside: gs,
                    count: gc,
                }],
                use_helpers: false,
                workspace_owner: Some((uid.as_raw(), gid.as_raw())),
            });
        }
        let who = name.clone().unwrap_or_else(|| uid.to_string());
        let hint = format!(
            "add a range for {who}: `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {who}` (as root)"
        );
        let (us, uc) =
            subuid.ok_or_else(|| format!("no /etc/subuid entry for user {who}; {hint}"))?;
        let (gs, gc) =
            subgid.ok_or_else(|| format!("no /etc/subgid entry for user {who}; {hint}"))?;
        Ok(IdPlan {
            uid_map: vec![
                IdRange {
                    inside: 0,
                    outside: uid.as_raw(),
                    count: 1,
                },
                IdRange {
                    inside: 1,
                    outside: us,
                    count: uc,
                },
            ],
            gid_map: vec![
                IdRange {
                    inside: 0,
                    outside: gid.as_raw(),
                    count: 1,
                },
                IdRange {
                    inside: 1,
                    outside: gs,
                    count: gc,
                },
            ],
            use_helpers: true,
            workspace_owner: None,
        })
    }

    /// The host uid container root runs as.
    pub fn root_outside_uid(&self) -> u32 {
        self.uid_map.first().map_or(0, |r| r.outside)
    }

    /// Write the maps of process `pid`'s user namespace. The caller (in the
    /// parent namespace) does this while the child waits on a pipe, so that
    /// nothing runs in the namespace before its ids mean anything.
    pub fn write(&self, pid: Pid) -> Result<(), String> {
        if self.use_helpers {
            helper("newgidmap", pid, &self.gid_map)?;
            helper("newuidmap", pid, &self.uid_map)
        } else {
            write_map(pid, "gid_map", &self.gid_map)?;
            write_map(pid, "uid_map", &self.uid_map)
        }
    }

    /// The maps of the user namespace that serves as the workspace mount's
    /// ID mapping: the workspace owner on disk is container root.
    pub fn workspace_maps(&self) -> Option<(Vec<IdRange>, Vec<IdRange>)> {
        let (uid, gid) = self.workspace_owner?;
        let root_uid = self.uid_map.first()?.outside;
        let root_gid = self.gid_map.first()?.outside;
        Some((
            vec![IdRange {
                inside: uid,
                outside: root_uid,
                count: 1,
            }],
            vec![IdRange {
                inside: gid,
                outside: root_gid,
                count: 1,
            }],
        ))
    }
}

/// Write `ranges` to `/proc/<pid>/<file>` in one write, as the kernel
/// requires.
pub fn write_map(pid: Pid, file: &str, ranges: &[IdRange]) -> Result<(), String> {
    let text: String = ranges
        .iter()
        .map(|r| format!("{} {} {}\n", r.inside, r.outside, r.count))
        .collect();
    let path = format!("/proc/{pid}/{file}");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| {
            format!(
                "cannot write {path} ({}): {e}",
                text.trim_end().replace('\n', ", ")
            )
        })
}

fn helper(program: &str, pid: Pid, ranges: &[IdRange]) -> Result<(), String> {
    let mut cmd = Command::new(program);
    cmd.arg(pid.to_string());
    for r in ranges {
        cmd.args([
            r.inside.to_string(),
            r.outside.to_string(),
            r.count.to_string(),
        ]);
    }
    let out = cmd.output().map_err(|e| {
        format!(
            "cannot run {program}: {e}; install the `uidmap` package (Debian) or run nestci as root"
        )
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Root's range without a subuid entry: [`DEFAULT_RANGE`] when this
/// process's user namespace has those ids (the host's namespace has all).
/// Nested in a smaller one — nestci run by a step of a dind job, whose
/// namespace maps 65536 ids — it cannot map ids its own namespace lacks,
/// so its jobs get the ids it has, as they are: their root is the outer
/// job's root, as a user's jobs have that user as root. That is still an
/// unprivileged uid on the host, and files the inner jobs write to the
/// workspace belong to the invoking (outer) root, as they should.
fn default_range(map_file: &str) -> (u32, u32) {
    let text = std::fs::read_to_string(map_file).unwrap_or_default();
    nested_range(&text).unwrap_or(DEFAULT_RANGE)
}

/// The range for [`default_range`] from a `uid_map`'s text; `None` means
/// the default fits.
fn nested_range(map: &str) -> Option<(u32, u32)> {
    let lines: Vec<(u64, u64)> = map
        .lines()
        .filter_map(|l| {
            let f: Vec<u64> = l
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            (f.len() == 3).then(|| (f[0], f[2]))
        })
        .collect();
    let (start, count) = (u64::from(DEFAULT_RANGE.0), u64::from(DEFAULT_RANGE.1));
    if lines.is_empty()
        || lines
            .iter()
            .any(|&(inside, n)| inside <= start && start + count <= inside + n)
    {
        return None;
    }
    let &(inside, n) = lines.iter().max_by_key(|&&(_, n)| n)?;
    Some((u32::try_from(inside).ok()?, u32::try_from(n).ok()?))
}

/// The first `name:start:count` (or `uid:start:count`) line for the user.
fn read_subid(file: &str, name: Option<&str>, uid: u32) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(file).ok()?;
    parse_subid(&text, name, uid)
}

fn parse_subid(text: &str, name: Option<&str>, uid: u32) -> Option<(u32, u32)> {
    let uid = uid.to_string();
    text.lines().find_map(|line| {
        let mut parts = line.trim().split(':');
        let who = parts.next()?;
        if Some(who) != name && who != uid {
            return None;
        }
        let start = parts.next()?.parse().ok()?;
        let count = parts.next()?.parse().ok()?;
        Some((start, count))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_ranges_fit_the_namespace() {
        assert_eq!(nested_range("         0          0 4294967295\n"), None);
        assert_eq!(
            nested_range("         0     100000      65536\n"),
            Some((0, 65536))
        );
        assert_eq!(nested_range(""), None);
    }

    #[test]
    fn subid_lines_match_by_name_or_uid() {
        let text = "alice:100000:65536\n# comment\n1001:200000:1000\n";
        assert_eq!(
            parse_subid(text, Some("alice"), 1000),
            Some((100_000, 65_536))
        );
        assert_eq!(parse_subid(text, Some("bob"), 1001), Some((200_000, 1000)));
        assert_eq!(parse_subid(text, Some("carol"), 1002), None);
    }

    #[test]
    fn workspace_maps_map_the_owner_onto_container_root() {
        let plan = IdPlan {
            uid_map: vec![IdRange {
                inside: 0,
                outside: 100_000,
                count: 65_536,
            }],
            gid_map: vec![IdRange {
                inside: 0,
                outside: 100_000,
                count: 65_536,
            }],
            use_helpers: false,
            workspace_owner: Some((0, 0)),
        };
        let (u, g) = plan
            .workspace_maps()
            .expect("root has an idmapped workspace");
        assert_eq!(
            u,
            vec![IdRange {
                inside: 0,
                outside: 100_000,
                count: 1
            }]
        );
        assert_eq!(
            g,
            vec![IdRange {
                inside: 0,
                outside: 100_000,
                count: 1
            }]
        );
    }
}
