//! The container's root filesystem and its special mounts, built inside
//! the job's mount namespace, then `pivot_root` into it.
//!
//! Every step here runs in the container init, as root of the job's user
//! namespace, before any step exists. The order is deliberate:
//!
//! 1. `/` becomes recursively private, so nothing we mount propagates back
//!    to the host's mount namespace (and nothing of the host's comes in).
//! 2. A fresh tmpfs is the new root; the image's content goes in
//!    ([`super::hostimage`] for `host`), the workspace is attached.
//! 3. `/dev`, `/tmp`, `/etc/hosts`... are added.
//! 4. `/proc` is mounted **before** the old root is detached: the kernel
//!    lets a user namespace mount procfs only while a fully visible proc
//!    is reachable in its mount namespace (HOST-FACTS). Docker's masked and
//!    read-only paths are laid over it right after.
//! 5. `/sys` read-only.
//! 6. `pivot_root` (never chroot, which a root process can escape) and the
//!    old root detached.
//!
//! Every mount target is opened with `openat2(RESOLVE_IN_ROOT)` and mounts
//! are attached to that fd, so a symlink in an image can never redirect a
//! mount outside the new root.

use std::ffi::OsStr;
use std::fs;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::unistd::{chdir, fchdir, pivot_root};

use super::process::protocol::{Bind, BindKind};
use super::sys::{
    AT_RECURSIVE, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY,
    OPEN_TREE_CLOEXEC, OPEN_TREE_CLONE, mount_setattr, move_mount, open_in_root, open_tree,
};

/// Files Docker hides behind `/dev/null` (or an empty read-only tmpfs for
/// directories): kernel memory, keys, timing side channels, firmware.
pub const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only: kernel tunables and triggers.
pub const READ_ONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Device nodes bound from the host into the container's `/dev`.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// A mount step that failed, with what it was doing.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct MountError {
    pub what: String,
    #[source]
    pub source: std::io::Error,
}

pub type Result<T> = std::result::Result<T, MountError>;

/// Attach context to any error.
pub(crate) trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<std::io::Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| MountError {
            what: what(),
            source: e.into(),
        })
    }
}

/// The new root while it is being built: its mount point on the old root
/// and an fd on it that every target is resolved against.
pub struct NewRoot {
    pub path: PathBuf,
    pub fd: OwnedFd,
}

impl NewRoot {
    /// Mount a fresh tmpfs at `dir` (an empty directory) as the new root.
    pub fn mount_tmpfs(dir: &Path) -> Result<NewRoot> {
        // Step 1: nothing propagates between the host and us from here on.
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .context(|| "making / private".into())?;
        mount(
            Some("nestci-root"),
            dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=0755"),
        )
        .context(|| format!("mounting the root tmpfs on {}", dir.display()))?;
        NewRoot::open(dir)
    }

    /// Mount an image as the new root: `lower` (a detached tree of the
    /// image's rootfs, ID-mapped by the shim) read-only below, a tmpfs
    /// above for what the job writes. Everything lives under a staging
    /// tmpfs at `dir`; the root is `dir/merged`.
    ///
    /// The upper layer is an overlay where the kernel allows one in the
    /// user namespace; where it refuses (or `force_copy` asks), the lower
    /// layer is copied into the tmpfs instead, and the returned note says
    /// so for the job's output.
    pub fn mount_image(
        dir: &Path,
        lower: BorrowedFd<'_>,
        force_copy: bool,
    ) -> Result<(NewRoot, Option<String>)> {
        let staging = NewRoot::mount_tmpfs(dir)?;
        for d in ["/lower", "/upper", "/work", "/merged"] {
            staging.mkdir(d, 0o755)?;
        }
        staging.attach(lower, "/lower", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)?;
        let at = |d: &str| staging.path.join(d);
        let merged = at("merged");
        let refused = if force_copy {
            "forced by NESTCI_DIND_COPY_ROOTFS".to_string()
        } else {
            // userxattr: inside a user namespace overlay keeps its metadata
            // in user.overlay.* xattrs (trusted.* needs host privileges).
            let data = format!(
                "lowerdir={},upperdir={},workdir={},userxattr",
                at("lower").display(),
                at("upper").display(),
                at("work").display()
            );
            match mount(
                Some("overlay"),
                &merged,
                Some("overlay"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some(data.as_str()),
            ) {
                Ok(()) => return Ok((NewRoot::open(&merged)?, None)),
                Err(e) => format!("the kernel refused overlayfs in the user namespace: {e}"),
            }
        };
        // The fallback: a private copy of the image on the staging tmpfs,
        // bound onto itself because pivot_root needs a mount point.
        copy_tree(&at("lower"), &merged)
            .context(|| "copying the image into the job's writable layer".into())?;
        mount(
            Some(&merged),
            &merged,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .context(|| "binding the copied image".into())?;
        let note = format!(
            "{refused}; copied the image into the job's writable layer instead of an overlay (slower, and it takes memory)"
        );
        Ok((NewRoot::open(&merged)?, Some(note)))
    }

    fn open(dir: &Path) -> Result<NewRoot> {
        let fd = nix::fcntl::open(
            dir,
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .context(|| format!("opening {}", dir.display()))?;
        Ok(NewRoot {
            path: dir.to_path_buf(),
            fd,
        })
    }

    /// An `O_PATH` fd on `inner`, resolved without leaving the root.
    pub fn target(&self, inner: &str) -> Result<OwnedFd> {
        open_in_root(self.fd.as_fd(), Path::new(inner))
            .context(|| format!("resolving mount target {inner} inside the container root"))
    }

    /// Whether `inner` exists (resolved inside the root).
    pub fn exists(&self, inner: &str) -> bool {
        open_in_root(self.fd.as_fd(), Path::new(inner)).is_ok()
    }

    /// Whether `inner` is a regular file (resolved inside the root).
    pub fn is_file(&self, inner: &str) -> bool {
        open_in_root(self.fd.as_fd(), Path::new(inner))
            .and_then(|fd| nix::sys::stat::fstat(&fd))
            .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG)
    }

    /// The parent directory of `inner` (resolved inside the root) and the
    /// last component. Files are created *at* that fd, never through a
    /// host path, so a symlink in an image cannot send a write outside.
    fn parent(&self, inner: &str) -> Result<(OwnedFd, String)> {
        let path = Path::new(inner);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| MountError {
                what: format!("{inner} has no file name"),
                source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
            })?;
        let parent = path.parent().unwrap_or(Path::new("/"));
        Ok((self.target(&parent.to_string_lossy())?, name))
    }

    /// `mkdir -p` inside the root, with `mode` for the directories made
    /// (the init runs with umask 0, so the mode is exact).
    pub fn mkdir(&self, inner: &str, mode: u32) -> Result<()> {
        let mut sofar = PathBuf::from("/");
        for component in Path::new(inner).components().skip(1) {
            sofar.push(component);
            let (parent, name) = self.parent(&sofar.to_string_lossy())?;
            match nix::sys::stat::mkdirat(
                &parent,
                name.as_str(),
                nix::sys::stat::Mode::from_bits_truncate(mode),
            ) {
                Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                Err(e) => return Err(e).context(|| format!("creating {inner}")),
            }
        }
        Ok(())
    }

    /// Create (or truncate) a regular file with `content` and `mode`,
    /// refusing to follow a symlink in its place.
    pub fn write_file(&self, inner: &str, content: &[u8], mode: u32) -> Result<()> {
        use nix::fcntl::OFlag;
        let (parent, name) = self.parent(inner)?;
        let fd = nix::fcntl::openat(
            &parent,
            name.as_str(),
            OFlag::O_WRONLY
                | OFlag::O_CREAT
                | OFlag::O_TRUNC
                | OFlag::O_NOFOLLOW
                | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::from_bits_truncate(mode),
        )
        .context(|| format!("creating {inner}"))?;
        let mut file = fs::File::from(fd);
        std::io::Write::write_all(&mut file, content).context(|| format!("writing {inner}"))
    }

    /// Create an empty regular file (a mount point for a file bind).
    pub fn touch(&self, inner: &str, mode: u32) -> Result<()> {
        self.write_file(inner, b"", mode)
    }

    /// Write a file with `content`.
    pub fn write(&self, inner: &str, content: &[u8]) -> Result<()> {
        self.write_file(inner, content, 0o644)
    }

    pub fn symlink(&self, target: impl AsRef<Path>, inner: &str) -> Result<()> {
        let (parent, name) = self.parent(inner)?;
        nix::unistd::symlinkat(target.as_ref(), &parent, name.as_str())
            .context(|| format!("creating symlink {inner}"))
    }

    /// Bind `source` (a host path) onto `inner`, the whole subtree, with
    /// `attrs` (`MOUNT_ATTR_*`) set on every mount of it.
    pub fn bind_host(&self, source: &Path, inner: &str, attrs: u64) -> Result<()> {
        let tree = open_tree(
            None,
            source,
            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE,
        )
        .context(|| format!("cloning the mount tree of {}", source.display()))?;
        self.attach(tree.as_fd(), inner, attrs)
            .map_err(|e| MountError {
                what: format!("binding {} at {inner}: {}", source.display(), e.what),
                source: e.source,
            })
    }

    /// Set `attrs` on the detached tree `tree` and attach it at `inner`.
    pub fn attach(&self, tree: BorrowedFd<'_>, inner: &str, attrs: u64) -> Result<()> {
        if attrs != 0 {
            mount_setattr(tree, attrs, None).context(|| "setting mount attributes".into())?;
        }
        let target = self.target(inner)?;
        move_mount(tree, target.as_fd()).context(|| "attaching the mount".into())
    }

    /// Mount a new filesystem (tmpfs, proc, ...) at `inner`. The target is
    /// resolved in the root first and mounted through its `/proc/self/fd`
    /// link, which names exactly that directory.
    pub fn mount_fs(
        &self,
        fstype: &str,
        inner: &str,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<()> {
        let target = self.target(inner)?;
        let via = format!("/proc/self/fd/{}", target.as_raw_fd());
        mount(Some(fstype), via.as_str(), Some(fstype), flags, data)
            .context(|| format!("mounting {fstype} on {inner}"))
    }

    /// Re-bind `inner` onto itself read-only (the whole subtree).
    fn make_read_only(&self, inner: &str) -> Result<()> {
        let target = self.target(inner)?;
        let tree = open_tree(
            Some(target.as_fd()),
            Path::new(""),
            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | libc::AT_EMPTY_PATH as u32,
        )
        .context(|| format!("cloning {inner}"))?;
        self.attach(
            tree.as_fd(),
            inner,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
        )
    }

    /// Hide `inner`: `/dev/null` over a file, an empty read-only tmpfs over
    /// a directory; a path the kernel does not have is skipped.
    fn mask(&self, inner: &str) -> Result<()> {
        let Ok(fd) = self.target(inner) else {
            return Ok(());
        };
        let is_dir =
            nix::sys::stat::fstat(&fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
        if is_dir {
            self.mount_fs(
                "tmpfs",
                inner,
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("size=0"),
            )
        } else {
            let null = self.target("/dev/null")?;
            let tree = open_tree(
                Some(null.as_fd()),
                Path::new(""),
                OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as u32,
            )
            .context(|| "cloning /dev/null".into())?;
            self.attach(tree.as_fd(), inner, 0)
        }
    }

    /// `/dev`: a tmpfs with the usual nodes bound from the host (a device
    /// node *created* in a user namespace would not open: such mounts are
    /// implicitly nodev), a private devpts instance, `/dev/shm`, `/dev/mqueue`.
    pub fn populate_dev(&self, mqueue: bool) -> Result<()> {
        self.mkdir("/dev", 0o755)?;
        self.mount_fs(
            "tmpfs",
            "/dev",
            MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
            Some("mode=0755,size=65536k"),
        )?;
        for dev in DEVICES {
            let inner = format!("/dev/{dev}");
            self.touch(&inner, 0o666)?;
            self.bind_host(
                Path::new(&inner),
                &inner,
                MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
            )?;
        }
        self.mkdir("/dev/pts", 0o755)?;
        self.mount_fs(
            "devpts",
            "/dev/pts",
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some("newinstance,ptmxmode=0666,mode=0620"),
        )?;
        self.symlink("pts/ptmx", "/dev/ptmx")?;
        self.mkdir("/dev/shm", 0o1777)?;
        self.mount_fs(
            "tmpfs",
            "/dev/shm",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("mode=1777,size=65536k"),
        )?;
        if mqueue {
            self.mkdir("/dev/mqueue", 0o755)?;
            self.mount_fs(
                "mqueue",
                "/dev/mqueue",
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                None,
            )?;
        }
        for (name, to) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            self.symlink(to, &format!("/dev/{name}"))?;
        }
        Ok(())
    }

    /// `/proc` for the job's pid namespace, with Docker's masked and
    /// read-only paths unless `mask` is off (`systempaths: unconfined`,
    /// `privileged`). Must run while the old root is still attached.
    pub fn mount_proc(&self, mask: bool) -> Result<()> {
        self.mkdir("/proc", 0o555)?;
        self.mount_fs(
            "proc",
            "/proc",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None,
        )?;
        if !mask {
            return Ok(());
        }
        for path in MASKED.iter().filter(|p| p.starts_with("/proc/")) {
            self.mask(path)?;
        }
        for path in READ_ONLY {
            if self.exists(path) {
                self.make_read_only(path)?;
            }
        }
        Ok(())
    }

    /// `/sys` read-only (read-write for `privileged`, as Docker does; its
    /// files still belong to host root, whom the job's root is not): a
    /// fresh sysfs (allowed when the job has its own network namespace),
    /// or the host's bound read-only where that is refused (`network:
    /// host`); then the masked paths, unless `mask` is off.
    pub fn mount_sys(&self, mask: bool, writable: bool) -> Result<()> {
        self.mkdir("/sys", 0o555)?;
        let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        if !writable {
            flags |= MsFlags::MS_RDONLY;
        }
        if self.mount_fs("sysfs", "/sys", flags, None).is_err() {
            self.bind_host(
                Path::new("/sys"),
                "/sys",
                MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
            )?;
        }
        if !mask {
            return Ok(());
        }
        for path in MASKED.iter().filter(|p| p.starts_with("/sys/")) {
            self.mask(path)?;
        }
        Ok(())
    }

    /// `read_only: true`: remount the root's own mount read-only (not the
    /// mounts on it). A bind remount keeps the flags it is given, so the
    /// root's nosuid and nodev are repeated.
    pub fn make_root_read_only(&self) -> Result<()> {
        let via = format!("/proc/self/fd/{}", self.fd.as_raw_fd());
        mount(
            None::<&str>,
            via.as_str(),
            None::<&str>,
            MsFlags::MS_REMOUNT
                | MsFlags::MS_BIND
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV,
            None::<&str>,
        )
        .context(|| "making the root filesystem read-only".into())
    }

    /// Bind one of the job's host paths (a volume, a device, the engine
    /// socket) at its target, resolved inside the root. `root_uid` is the
    /// host uid of the job's root, for messages. Returns a note when the
    /// bind is skipped or of no use (a device or socket the job's root
    /// cannot open); an unreadable volume is an error.
    pub fn bind_job(&self, bind: &Bind, root_uid: u32) -> Result<Option<String>> {
        use nix::unistd::AccessFlags;
        let host = &bind.host;
        let meta = fs::metadata(host).map_err(|e| MountError {
            what: format!("{}: cannot use {}", bind.origin, host.display()),
            source: e,
        })?;
        let is_dir = meta.is_dir();
        let need = match bind.kind {
            BindKind::Volume if is_dir => AccessFlags::R_OK | AccessFlags::X_OK,
            BindKind::Volume => AccessFlags::R_OK,
            // A device bound read-only (`--device /dev/x:/dev/x:r`) need
            // only be readable.
            BindKind::Device if bind.read_only => AccessFlags::R_OK,
            BindKind::Device | BindKind::Socket => AccessFlags::R_OK | AccessFlags::W_OK,
        };
        // access() answers for our ids here: the job's root, which is host
        // uid `root_uid` to the file's owner (its capabilities in the user
        // namespace do not count for files of unmapped owners).
        let mut note = None;
        if let Err(e) = nix::unistd::access(host, need) {
            let who = format!("the job's root (host uid {root_uid})");
            match bind.kind {
                BindKind::Volume => {
                    return Err(MountError {
                        what: format!(
                            "{}: {who} cannot read {} (make it readable for that uid, or mount \
                             something it can read)",
                            bind.origin,
                            host.display()
                        ),
                        source: e.into(),
                    });
                }
                BindKind::Device => {
                    return Ok(Some(format!(
                        "{}: device {} is not passed: {who} cannot open it ({e}); dind never \
                             grants host root's access to devices",
                        bind.origin,
                        host.display()
                    )));
                }
                // Bound anyway: the job sees the socket, and the note
                // says why connecting fails.
                BindKind::Socket => {
                    note = Some(format!(
                        "{}: {who} cannot connect to {} ({e}); the job's docker commands will \
                             be refused",
                        bind.origin,
                        host.display()
                    ));
                }
            }
        }
        let with_origin = |e: MountError| MountError {
            what: format!(
                "{}: {} (the mount point must exist or be creatable; with the `host` image the \
                 system directories are read-only)",
                bind.origin, e.what
            ),
            source: e.source,
        };
        if is_dir {
            self.mkdir(&bind.target, 0o755).map_err(with_origin)?;
        } else {
            if let Some(parent) = Path::new(&bind.target).parent() {
                self.mkdir(&parent.to_string_lossy(), 0o755)
                    .map_err(with_origin)?;
            }
            if !self.exists(&bind.target) {
                self.touch(&bind.target, 0o644).map_err(with_origin)?;
            }
        }
        let mut attrs = MOUNT_ATTR_NOSUID;
        if bind.kind != BindKind::Device {
            attrs |= MOUNT_ATTR_NODEV;
        }
        if bind.read_only {
            attrs |= MOUNT_ATTR_RDONLY;
        }
        self.bind_host(host, &bind.target, attrs)
            .map_err(|e| MountError {
                what: format!("{}: {}", bind.origin, e.what),
                source: e.source,
            })?;
        Ok(note)
    }

    /// Install the job's `/etc/hostname`, `/etc/hosts` and
    /// `/etc/resolv.conf` ([`etc_files`]): written under `/run/nestci` and
    /// bound read-only over the image's files, or written in place when
    /// the image has none.
    pub fn install_etc(&self, files: &[(&str, Vec<u8>)]) -> Result<()> {
        self.mkdir("/run/nestci", 0o755)?;
        for (name, content) in files {
            let ours = format!("/run/nestci/{name}");
            self.write(&ours, content)?;
            let theirs = format!("/etc/{name}");
            if self.is_file(&theirs) {
                let src = self.target(&ours)?;
                let tree = open_tree(
                    Some(src.as_fd()),
                    Path::new(""),
                    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as u32,
                )
                .context(|| format!("cloning {ours}"))?;
                self.attach(
                    tree.as_fd(),
                    &theirs,
                    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                )?;
            } else if !self.exists(&theirs) && self.exists("/etc") {
                // An image without the file: the job's own copy (writable
                // images only; the host image always has these files).
                let _ = self.write(&theirs, content);
            }
        }
        Ok(())
    }

    /// Make the new root `/` and detach the old one. After this nothing of
    /// the host's tree is reachable but what was bound in.
    pub fn pivot(self) -> Result<()> {
        // pivot_root(".", "."): the old root ends up stacked under the new
        // one at "/", and the detach below removes it; no directory for
        // the old root is needed inside the image.
        fchdir(&self.fd).context(|| "entering the new root".into())?;
        pivot_root(".", ".").context(|| "pivot_root".into())?;
        umount2(".", MntFlags::MNT_DETACH).context(|| "detaching the old root".into())?;
        chdir("/").context(|| "chdir /".into())?;
        Ok(())
    }
}

/// The job's `/etc` files: its hostname, `hosts` with the services'
/// aliases on the loopback address (they share the job's network
/// namespace, like containers in a pod), and the host's `resolv.conf`.
pub fn etc_files(hostname: &str, aliases: &[String]) -> Vec<(&'static str, Vec<u8>)> {
    let resolv = fs::read("/etc/resolv.conf").unwrap_or_default();
    let mut names = hostname.to_string();
    for alias in aliases {
        names.push(' ');
        names.push_str(alias);
    }
    let hosts = format!(
        "127.0.0.1\tlocalhost {names}\n::1\tlocalhost ip6-localhost ip6-loopback {hostname}\n"
    );
    vec![
        ("hostname", format!("{hostname}\n").into_bytes()),
        ("hosts", hosts.into_bytes()),
        ("resolv.conf", resolv),
    ]
}

/// Copy the tree `from` into the existing directory `to`: files,
/// directories, symlinks and fifos with their modes and owners (device
/// nodes cannot be made in a user namespace and are skipped; hard links
/// become separate files). Runs in the init before `pivot_root`, on paths
/// of the staging tmpfs only; symlinks are recreated, never followed.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let meta = fs::symlink_metadata(&src)?;
        let kind = meta.file_type();
        if kind.is_dir() {
            fs::create_dir(&dst)?;
            copy_tree(&src, &dst)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
        } else if kind.is_file() {
            fs::copy(&src, &dst)?;
        } else if std::os::unix::fs::FileTypeExt::is_fifo(&kind) {
            nix::unistd::mkfifo(&dst, nix::sys::stat::Mode::from_bits_truncate(0o600))?;
        } else {
            continue;
        }
        // Owner before mode: chown clears the set-uid/set-gid bits.
        // An id without a mapping in this namespace (EINVAL) keeps ours.
        match std::os::unix::fs::lchown(&dst, Some(meta.uid()), Some(meta.gid())) {
            Err(e) if e.raw_os_error() != Some(libc::EINVAL) => return Err(e),
            _ => {}
        }
        if !kind.is_symlink() {
            fs::set_permissions(&dst, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        }
    }
    Ok(())
}

/// A hostname the kernel takes: letters, digits, `-` and `.`, at most 63
/// bytes; anything else becomes `-`.
pub fn hostname_for(job: &str) -> String {
    let mut name: String = job
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = name.trim_matches('-').to_string();
    name = if trimmed.is_empty() {
        "job".into()
    } else {
        trimmed
    };
    name.truncate(63);
    name
}

/// File names of `dir` (for the ssh host keys); empty when unreadable.
pub fn names_in(dir: &Path) -> Vec<std::ffi::OsString> {
    fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
        .unwrap_or_default()
}

/// Whether `name` starts with `prefix` (OsStr without UTF-8 assumptions).
pub fn has_prefix(name: &OsStr, prefix: &str) -> bool {
    use std::os::unix::ffi::OsStrExt;
    name.as_bytes().starts_with(prefix.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::hostname_for;

    #[test]
    fn hostnames_are_sanitised() {
        assert_eq!(hostname_for("hello"), "hello");
        assert_eq!(
            hostname_for("test [SHELL_FLAVOR=dash, N=1]"),
            "test--SHELL-FLAVOR-dash--N-1"
        );
        assert_eq!(hostname_for("[]"), "job");
        assert_eq!(hostname_for(&"x".repeat(100)).len(), 63);
    }
}
