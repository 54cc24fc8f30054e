//! Which root filesystem a dind job gets, and the local image store.
//!
//! For now an `image:` is one of
//!
//! * `host` — the host's own system directories ([`super::hostimage`]);
//! * a **rootfs directory** (`./rootfs`, `/srv/rootfs`: a path, relative
//!   to the workspace) used in place as the overlay's lower layer;
//! * a **rootfs tarball** (`*.tar`) imported once into the store and
//!   shared by every job that names it.
//!
//! The store is content-addressed: `<data>/nestci/images/sha256/<hex>/rootfs`
//! where `<data>` is `$XDG_DATA_HOME` or `~/.local/share`. An import
//! unpacks into a temporary directory next to its final place and renames
//! it there, so a half-written image is never used and concurrent imports
//! of the same archive do not collide. Registry pulls and `docker save`
//! archives will add layers to the same store.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A job's root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    Host,
    /// A directory to use as the read-only lower layer.
    Rootfs(PathBuf),
}

/// Resolve `reference` (an `image:` value) against the workspace.
pub fn resolve(reference: &str, workspace: &Path) -> Result<Image, String> {
    if reference == "host" {
        return Ok(Image::Host);
    }
    let looks_like_path =
        reference.starts_with('/') || reference.starts_with("./") || reference.starts_with("../");
    if !looks_like_path {
        return Err(
            "dind runs `host`, a rootfs directory or a rootfs tarball (a path such as ./rootfs or \
             ./rootfs.tar) so far; registry images and `docker save` archives come next — use \
             --mode dood for Docker images"
                .into(),
        );
    }
    let path = workspace.join(reference);
    let path = path
        .canonicalize()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if path.is_dir() {
        return Ok(Image::Rootfs(path));
    }
    if path.extension().is_some_and(|e| e == "tar") {
        return import_tar(&path, &store_dir()?).map(Image::Rootfs);
    }
    Err(format!(
        "{} is neither a directory nor a .tar rootfs archive",
        path.display()
    ))
}

/// `<data>/nestci/images`.
pub fn store_dir() -> Result<PathBuf, String> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .ok_or("neither XDG_DATA_HOME nor HOME is set: nowhere to keep images")?;
    Ok(data.join("nestci").join("images"))
}

/// The sha256 of a file, hex.
fn sha256_file(path: &Path) -> Result<String, String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Unpack the rootfs tarball `tar` into the store once; returns its
/// rootfs directory.
pub fn import_tar(tar: &Path, store: &Path) -> Result<PathBuf, String> {
    let digest = sha256_file(tar)?;
    let home = store.join("sha256").join(&digest);
    let rootfs = home.join("rootfs");
    if rootfs.is_dir() {
        return Ok(rootfs);
    }
    std::fs::create_dir_all(&home).map_err(|e| format!("{}: {e}", home.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix(".import-")
        .tempdir_in(&home)
        .map_err(|e| format!("{}: {e}", home.display()))?;
    let unpacked = scratch.path().join("rootfs");
    let file = std::fs::File::open(tar).map_err(|e| format!("{}: {e}", tar.display()))?;
    let mut archive = tar::Archive::new(file);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    // `unpack` refuses entries that would land outside `unpacked`.
    archive.unpack(&unpacked).map_err(|e| {
        // tar's error names the entry; the cause is one level down.
        let cause = std::error::Error::source(&e)
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        format!("unpacking {}: {e}{cause}", tar.display())
    })?;
    match std::fs::rename(&unpacked, &rootfs) {
        Ok(()) => Ok(rootfs),
        // Another import of the same archive won the race: use its copy.
        Err(_) if rootfs.is_dir() => Ok(rootfs),
        Err(e) => Err(format!("{}: {e}", rootfs.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_host_or_paths() {
        let ws = tempfile::tempdir().expect("tempdir");
        assert_eq!(resolve("host", ws.path()), Ok(Image::Host));
        assert!(
            resolve("alpine:3", ws.path())
                .unwrap_err()
                .contains("--mode dood")
        );
        std::fs::create_dir(ws.path().join("rootfs")).expect("mkdir");
        assert!(matches!(
            resolve("./rootfs", ws.path()),
            Ok(Image::Rootfs(_))
        ));
        assert!(resolve("./missing", ws.path()).is_err());
    }

    #[test]
    fn a_tarball_is_imported_once_by_digest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tar_path = dir.path().join("rootfs.tar");
        let mut builder = tar::Builder::new(std::fs::File::create(&tar_path).expect("create"));
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, "etc/hello", &b"hi\n"[..])
            .expect("append");
        builder.finish().expect("finish");
        drop(builder);
        let store = dir.path().join("store");
        let first = import_tar(&tar_path, &store).expect("import");
        assert_eq!(
            std::fs::read_to_string(first.join("etc/hello")).expect("read"),
            "hi\n"
        );
        let second = import_tar(&tar_path, &store).expect("again");
        assert_eq!(first, second, "the same archive maps to the same place");
        assert!(first.starts_with(store.join("sha256")));
    }
}
