//! The image `host`: a sandbox over the host's own filesystem.
//!
//! SPEC "Images": the system directories (`/usr`, `/bin`, `/sbin`,
//! `/lib*`, `/opt`, `/etc`) read-only, `/etc` without its secrets (shadow
//! and gshadow files, ssh host keys), and never `/root`, `/home`, `/run`,
//! `/var/run`, `/tmp` or a daemon socket: those exist only as empty
//! directories of the container's own tmpfs root. Home-directory
//! toolchains (`~/.cargo`, `~/.rustup`) come in read-only only when asked
//! for (`host_paths:` in the pipeline, `--host-path` on the command line;
//! [`resolve_host_path`]).
//!
//! On merged-/usr systems `/bin`, `/sbin` and `/lib*` are symlinks into
//! `/usr`; they are recreated as the same symlinks.

use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use super::rootfs::{Context, MountError, NewRoot, Result, has_prefix, names_in};
use super::sys::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};

/// Host directories shown read-only.
pub const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/etc",
];

/// Files under `/etc` hidden behind an empty file.
pub const ETC_SECRETS: &[&str] = &[
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
];

/// Read-only and no set-uid: a set-uid binary of the host must not gain
/// anything (no_new_privs blocks it too; this is the second lock).
const RO: u64 = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;

/// A host path to expose, with the detached mount tree the shim cloned
/// for it while it could still see the host (root's home is not
/// traversable by the container's unmapped root); `None` when the
/// runner is not root, whose container root may open the path itself.
pub struct HostPath<'a> {
    pub path: &'a Path,
    pub tree: Option<std::os::fd::BorrowedFd<'a>>,
}

/// A job's `host_paths` entry as a host path: `~` is `$HOME`, symlinks are
/// resolved (the mount shows what the link points to) and the path must
/// exist.
pub fn resolve_host_path(written: &str) -> std::result::Result<PathBuf, String> {
    let path = match written.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            let home = std::env::var_os("HOME")
                .ok_or("`~` needs $HOME, which is not set; write the absolute path")?;
            PathBuf::from(home).join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(written),
    };
    path.canonicalize().map_err(|e| {
        if path.as_os_str() == written {
            e.to_string()
        } else {
            format!("{}: {e}", path.display())
        }
    })
}

/// Lay out the host image in `root` (a fresh tmpfs). The job's host paths
/// come later ([`expose_all`]), once `/tmp` and `/workspace` are mounted,
/// so that neither hides one of them.
pub fn populate(root: &NewRoot) -> Result<()> {
    for dir in SYSTEM_DIRS {
        let host = Path::new(dir);
        let Ok(meta) = fs::symlink_metadata(host) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            let to = fs::read_link(host).context(|| format!("reading the symlink {dir}"))?;
            root.symlink(to, dir)?;
        } else if meta.is_dir() {
            root.mkdir(dir, 0o755)?;
            root.bind_host(host, dir, RO)?;
        }
    }
    // The container's own, empty and writable where it makes sense.
    for (dir, mode) in [
        ("/root", 0o700),
        ("/home", 0o755),
        ("/run", 0o755),
        ("/var", 0o755),
        ("/var/tmp", 0o1777),
        ("/tmp", 0o1777),
        ("/workspace", 0o755),
    ] {
        root.mkdir(dir, mode)?;
    }
    root.symlink("../run", "/var/run")?;
    hide_etc_secrets(root)?;
    Ok(())
}

/// Expose each host path read-only at the same place, over whatever the
/// root has there by now.
pub fn expose_all(root: &NewRoot, host_paths: &[HostPath<'_>]) -> Result<()> {
    host_paths.iter().try_for_each(|p| expose(root, p))
}

/// Bind an empty read-only file over each secret in `/etc`.
fn hide_etc_secrets(root: &NewRoot) -> Result<()> {
    root.mkdir("/run/nestci", 0o755)?;
    root.touch("/run/nestci/empty", 0o444)?;
    let empty = root.target("/run/nestci/empty")?;
    let mut secrets: Vec<String> = ETC_SECRETS.iter().map(|s| s.to_string()).collect();
    for name in names_in(Path::new("/etc/ssh")) {
        if has_prefix(&name, "ssh_host_") {
            secrets.push(format!("/etc/ssh/{}", name.to_string_lossy()));
        }
    }
    for secret in secrets {
        if fs::symlink_metadata(&secret).is_ok_and(|m| m.is_file()) {
            let tree = super::sys::open_tree(
                Some(empty.as_fd()),
                Path::new(""),
                super::sys::OPEN_TREE_CLONE
                    | super::sys::OPEN_TREE_CLOEXEC
                    | libc::AT_EMPTY_PATH as u32,
            )
            .context(|| "cloning the empty file".into())?;
            root.attach(tree.as_fd(), &secret, RO)?;
        }
    }
    Ok(())
}

/// Expose a host path read-only at the same place (`host_paths`).
fn expose(root: &NewRoot, host_path: &HostPath<'_>) -> Result<()> {
    let path = host_path.path;
    let inner = path.to_string_lossy().to_string();
    let is_dir = match host_path.tree {
        Some(tree) => nix::sys::stat::fstat(tree)
            .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
            .context(|| format!("host path {inner}"))?,
        None => fs::metadata(path)
            .context(|| format!("host path {inner}"))?
            .is_dir(),
    };
    if root.target(&inner).is_err() {
        if is_dir {
            root.mkdir(&inner, 0o755)?;
        } else {
            if let Some(parent) = path.parent() {
                root.mkdir(&parent.to_string_lossy(), 0o755)?;
            }
            root.touch(&inner, 0o444)?;
        }
    }
    let attached = match host_path.tree {
        Some(tree) => root.attach(tree, &inner, RO),
        None => root.bind_host(path, &inner, RO),
    };
    attached.map_err(|e| MountError {
        what: format!("host path {inner}: {}", e.what),
        source: e.source,
    })
}
