//! The few system calls nix does not wrap yet: the new mount API
//! (`open_tree`, `move_mount`, `mount_setattr`), `openat2` and
//! `close_range`, plus bringing the loopback interface up.
//!
//! Each wrapper takes and returns owned/borrowed fds and paths, so the
//! callers stay free of `unsafe`. The constants come from the kernel's
//! `include/uapi/linux/mount.h`; libc does not export them yet.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;

/// `open_tree`: make a detached copy of the tree instead of opening it.
pub const OPEN_TREE_CLONE: u32 = 1;
/// `open_tree`: close the returned fd on exec.
pub const OPEN_TREE_CLOEXEC: u32 = libc::O_CLOEXEC as u32;
/// `open_tree` / `mount_setattr`: the whole subtree, submounts included.
pub const AT_RECURSIVE: u32 = 0x8000;
/// `move_mount`: the source is the fd itself.
pub const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
/// `move_mount`: the target is the fd itself.
pub const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
/// Apply an ID mapping (a user namespace) to a detached mount.
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// `struct mount_attr` (`MOUNT_ATTR_SIZE_VER0`).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn cstring(path: &Path) -> Result<CString, Errno> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

fn raw(dirfd: Option<BorrowedFd<'_>>) -> RawFd {
    dirfd.map_or(libc::AT_FDCWD, |fd| fd.as_raw_fd())
}

/// `open_tree(dirfd, path, flags)`: with [`OPEN_TREE_CLONE`], a detached
/// copy of the mount tree at `path`, to be configured and attached with
/// [`move_mount`].
pub fn open_tree(dirfd: Option<BorrowedFd<'_>>, path: &Path, flags: u32) -> Result<OwnedFd, Errno> {
    let path = cstring(path)?;
    // SAFETY: `path` is NUL-terminated and outlives the call; the syscall
    // only reads it. On success it returns a new fd that nobody else owns.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, raw(dirfd), path.as_ptr(), flags) };
    let fd = Errno::result(ret)?;
    // SAFETY: `fd` was just returned by the kernel and is owned by us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Attach the detached mount `from` onto the object `to` refers to (an
/// `O_PATH` fd), both taken as fds: no path is resolved again, so nothing
/// can swap a symlink in between.
pub fn move_mount(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), Errno> {
    let empty = c"";
    // SAFETY: both paths are the static empty C string; the fds are valid
    // for the duration of the call (borrowed).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            empty.as_ptr(),
            to.as_raw_fd(),
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(ret).map(drop)
}

/// Change the attributes of the whole mount tree `fd` refers to: set
/// `set` (`MOUNT_ATTR_*`), and apply `userns` as ID mapping when given
/// (which needs [`MOUNT_ATTR_IDMAP`] in `set` and a detached mount).
pub fn mount_setattr(
    fd: BorrowedFd<'_>,
    set: u64,
    userns: Option<BorrowedFd<'_>>,
) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.map_or(0, |u| u.as_raw_fd() as u64),
    };
    let empty = c"";
    // SAFETY: `attr` is a live, correctly laid out `struct mount_attr` and
    // its size is passed along; the path is the static empty string.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            (libc::AT_EMPTY_PATH as u32) | AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// Open `path` as an `O_PATH` fd *inside* `root`: `..` and symlinks
/// (absolute ones too) are resolved as if `root` were `/`, and magic links
/// (`/proc/self/fd/*`) are refused. This is how mount targets are found
/// without ever following a link out of the container's root.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd, Errno> {
    let path = cstring(path)?;
    // SAFETY: `open_how` is plain old data; all-zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `path` and `how` outlive the call and `how`'s size is passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    let fd = Errno::result(ret)?;
    // SAFETY: a new fd from the kernel, owned by us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Close every fd from `first` up. Used right before exec so that no fd
/// of the runtime (the control socket, a directory of the host) leaks
/// into a step.
pub fn close_from(first: u32) -> Result<(), Errno> {
    // SAFETY: close_range takes plain integers; closing fds we do not use
    // afterwards is the point (the caller only uses fds 0-2 from here).
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0u32) };
    Errno::result(ret).map(drop)
}

/// Set `IFF_UP` on `lo` in the current network namespace, so that
/// `localhost` works in a job (and between a job and its services).
pub fn loopback_up() -> Result<(), Errno> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: `ifreq` is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name from and writes the flags into
    // `req`, which lives across the call.
    Errno::result(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
    // SAFETY: reading the union field SIOCGIFFLAGS just wrote.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: as above, SIOCSIFFLAGS reads `req`.
    Errno::result(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) })?;
    Ok(())
}
