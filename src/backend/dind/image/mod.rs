//! Which root filesystem a dind job gets, and the local image store.
//!
//! For now an `image:` is one of
//!
//! * `host` — the host's own system directories ([`super::hostimage`]);
//! * a **rootfs directory** (`./rootfs`, `/srv/rootfs`: a path, relative
//!   to the workspace) used in place as the overlay's lower layer;
//! * a **rootfs tarball** (`*.tar`) imported once into the store and
//!   shared by every job that names it;
//! * a **`docker save` archive** (also `*.tar`, told apart by its
//!   `manifest.json`): its layers flattened with their whiteouts
//!   ([`layer`]) into the store, with the parts of its config a job uses
//!   ([`ImageConfig`]: `Env`, `WorkingDir`, `User`, the command, the
//!   exposed ports) kept beside it ([`archive`]).
//!
//! The store is content-addressed: `<data>/nestci/images/sha256/<hex>/rootfs`
//! (and `config.json` for archives with a config), where `<hex>` is the
//! archive's sha256 and `<data>` is `$XDG_DATA_HOME` or `~/.local/share`.
//! An import unpacks into a temporary directory next to its final place
//! and renames it there, so a half-written image is never used and
//! concurrent imports of the same archive do not collide. Registry pulls
//! will add their layers to the same store.

pub mod archive;
pub mod layer;

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A job's root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    Host,
    /// A directory to use as the read-only lower layer, and what the
    /// image says about running in it.
    Rootfs {
        dir: PathBuf,
        config: ImageConfig,
    },
}

/// What an image's config says about the processes run in it (empty for
/// rootfs directories and tarballs, which carry none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `NAME=value` pairs, below the job's own variables.
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    /// TCP ports the image exposes: a service of this image is ready once
    /// they accept connections.
    pub ports: Vec<u16>,
}

impl ImageConfig {
    /// The default command: entrypoint then cmd, as Docker runs them.
    pub fn command(&self) -> Vec<String> {
        self.entrypoint.iter().chain(&self.cmd).cloned().collect()
    }
}

/// Where an import keeps the config next to the rootfs.
const CONFIG_FILE: &str = "config.json";

/// Resolve `reference` (an `image:` value) against the workspace.
pub fn resolve(reference: &str, workspace: &Path) -> Result<Image, String> {
    if reference == "host" {
        return Ok(Image::Host);
    }
    let looks_like_path =
        reference.starts_with('/') || reference.starts_with("./") || reference.starts_with("../");
    if !looks_like_path {
        return Err(
            "dind runs `host`, a rootfs directory, a rootfs tarball or a `docker save` archive \
             (a path such as ./rootfs or ./image.tar) so far; registry images come next — use \
             --mode dood for them"
                .into(),
        );
    }
    let path = workspace.join(reference);
    let path = path
        .canonicalize()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if path.is_dir() {
        return Ok(Image::Rootfs {
            dir: path,
            config: ImageConfig::default(),
        });
    }
    if path.extension().is_some_and(|e| e == "tar") {
        let (dir, config) = import_tar(&path, &store_dir()?)?;
        return Ok(Image::Rootfs { dir, config });
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

/// Import the tarball `tar` (a rootfs or a `docker save` archive) into
/// the store once; returns its rootfs directory and config.
pub fn import_tar(tar: &Path, store: &Path) -> Result<(PathBuf, ImageConfig), String> {
    let digest = sha256_file(tar)?;
    let home = store.join("sha256").join(&digest);
    let rootfs = home.join("rootfs");
    if rootfs.is_dir() {
        return Ok((rootfs, read_config(&home)?));
    }
    std::fs::create_dir_all(&home).map_err(|e| format!("{}: {e}", home.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix(".import-")
        .tempdir_in(&home)
        .map_err(|e| format!("{}: {e}", home.display()))?;
    let unpacked = scratch.path().join("rootfs");
    if archive::is_docker_archive(tar)? {
        std::fs::create_dir(&unpacked).map_err(|e| format!("{}: {e}", unpacked.display()))?;
        let canonical = unpacked
            .canonicalize()
            .map_err(|e| format!("{}: {e}", unpacked.display()))?;
        let config = archive::import(tar, &canonical)?;
        let json = serde_json::to_vec(&config).map_err(|e| e.to_string())?;
        // The config first: a rootfs in place means a complete import.
        let config_path = home.join(CONFIG_FILE);
        std::fs::write(&config_path, json)
            .map_err(|e| format!("{}: {e}", config_path.display()))?;
        return finish_import(&unpacked, &rootfs).map(|dir| (dir, config));
    }
    unpack_rootfs(tar, &unpacked)?;
    finish_import(&unpacked, &rootfs).map(|dir| (dir, ImageConfig::default()))
}

/// The config an earlier import kept (none for a plain rootfs).
fn read_config(home: &Path) -> Result<ImageConfig, String> {
    let path = home.join(CONFIG_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ImageConfig::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Move a finished import to its place in the store.
fn finish_import(unpacked: &Path, rootfs: &Path) -> Result<PathBuf, String> {
    match std::fs::rename(unpacked, rootfs) {
        Ok(()) => Ok(rootfs.to_path_buf()),
        // Another import of the same archive won the race: use its copy.
        Err(_) if rootfs.is_dir() => Ok(rootfs.to_path_buf()),
        Err(e) => Err(format!("{}: {e}", rootfs.display())),
    }
}

/// Unpack a plain rootfs tarball into `unpacked`.
fn unpack_rootfs(tar: &Path, unpacked: &Path) -> Result<(), String> {
    let file = std::fs::File::open(tar).map_err(|e| format!("{}: {e}", tar.display()))?;
    let mut archive = tar::Archive::new(file);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    // `unpack` refuses entries that would land outside `unpacked`.
    archive.unpack(unpacked).map_err(|e| {
        // tar's error names the entry; the cause is one level down.
        let cause = std::error::Error::source(&e)
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        format!("unpacking {}: {e}{cause}", tar.display())
    })
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
            Ok(Image::Rootfs { .. })
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
        let (first, config) = import_tar(&tar_path, &store).expect("import");
        assert_eq!(config, ImageConfig::default(), "a rootfs tar has no config");
        assert_eq!(
            std::fs::read_to_string(first.join("etc/hello")).expect("read"),
            "hi\n"
        );
        let (second, _) = import_tar(&tar_path, &store).expect("again");
        assert_eq!(first, second, "the same archive maps to the same place");
        assert!(first.starts_with(store.join("sha256")));
    }
}
