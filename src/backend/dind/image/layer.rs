//! Applying one image layer (an uncompressed tar) onto a rootfs
//! directory, with the OCI/Docker whiteout rules:
//!
//! * `dir/.wh.NAME` deletes `dir/NAME` of the layers below;
//! * `dir/.wh..wh..opq` (an *opaque* directory) hides everything the
//!   layers below had in `dir`; what this layer puts there stays, in
//!   whichever order the tar lists the marker and the entries;
//! * any other entry replaces what was there (a file over a directory
//!   replaces the whole directory, a directory over a directory merges).
//!
//! Every path is checked before anything is removed: `..` entries are
//! skipped, and the parent directory must resolve (symlinks followed)
//! inside the rootfs, so a layer cannot make an earlier layer's symlink
//! delete or write host files. Writes go through `tar`'s `unpack_in`,
//! which applies the same check.

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The prefix of a whiteout file.
const WHITEOUT: &str = ".wh.";
/// The name of an opaque-directory marker.
const OPAQUE: &str = ".wh..wh..opq";

/// Apply the layer tar read from `reader` onto `root` (an existing
/// directory whose canonical path is `root`).
pub fn apply(reader: impl Read, root: &Path) -> Result<(), String> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    // What this layer put in place: an opaque marker must not hide it.
    let mut unpacked: HashSet<PathBuf> = HashSet::new();
    let entries = archive
        .entries()
        .map_err(|e| format!("reading the layer: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("reading the layer: {e}"))?;
        let raw = entry
            .path()
            .map_err(|e| format!("a bad path in the layer: {e}"))?
            .into_owned();
        let Some(rel) = normalise(&raw) else {
            continue; // `..` or empty: never unpacked
        };
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        if name == OPAQUE {
            let dir = inside(root, &parent)?;
            if let Ok(children) = fs::read_dir(&dir) {
                for child in children.flatten() {
                    let child_rel = parent.join(child.file_name());
                    if !unpacked.contains(&child_rel) {
                        remove(&child.path())?;
                    }
                }
            }
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT) {
            let dir = inside(root, &parent)?;
            remove(&dir.join(hidden))?;
            continue;
        }
        // A different kind of entry replaces what is there; a directory
        // over a directory merges.
        let dir = inside(root, &parent)?;
        let target = dir.join(&name);
        let is_dir = entry.header().entry_type().is_dir();
        if let Ok(existing) = fs::symlink_metadata(&target)
            && (!is_dir || !existing.is_dir())
            && (is_dir || existing.is_dir())
        {
            remove(&target)?;
        }
        entry.unpack_in(root).map_err(|e| {
            // tar's error names the entry; the cause is one level down.
            let cause = std::error::Error::source(&e)
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            format!("unpacking {}: {e}{cause}", rel.display())
        })?;
        unpacked.insert(rel);
    }
    Ok(())
}

/// `path` without `/`, `.` and empty components; `None` when it has a
/// `..` or nothing is left.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::ParentDir => return None,
            _ => {}
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// `root/rel` for a directory `rel`, resolved, and refused unless it lies
/// inside `root` (an earlier layer's symlink could point anywhere). A
/// directory that does not exist yet resolves to its plain path.
fn inside(root: &Path, rel: &Path) -> Result<PathBuf, String> {
    let joined = root.join(rel);
    match joined.canonicalize() {
        Ok(real) if real.starts_with(root) => Ok(real),
        Ok(real) => Err(format!(
            "{} leads outside the image (to {})",
            rel.display(),
            real.display()
        )),
        Err(_) => Ok(joined),
    }
}

/// Remove `path` (not following a symlink there); gone already is fine.
fn remove(path: &Path) -> Result<(), String> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(_) => return Ok(()),
    };
    result.map_err(|e| format!("removing {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer tar from `(path, Some(content))` files and `(path, None)`
    /// directories, in order.
    fn layer(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, content) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            match content {
                Some(text) => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(0o644);
                    header.set_size(text.len() as u64);
                    header.set_cksum();
                    builder
                        .append_data(&mut header, path, text.as_bytes())
                        .expect("append file");
                }
                None => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(0o755);
                    header.set_size(0);
                    header.set_cksum();
                    builder
                        .append_data(&mut header, path, &[][..])
                        .expect("append dir");
                }
            }
        }
        builder.into_inner().expect("finish")
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn whiteouts_and_opaque_directories_hide_lower_layers_only() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().canonicalize().expect("canonical");
        apply(
            &layer(&[
                ("etc/", None),
                ("etc/keep", Some("1")),
                ("etc/gone", Some("1")),
                ("opt/", None),
                ("opt/old-a", Some("1")),
                ("opt/old-b", Some("1")),
                ("var/", None),
                ("var/lib/", None),
                ("var/lib/data", Some("1")),
            ])[..],
            &root,
        )
        .expect("layer 1");
        apply(
            &layer(&[
                ("etc/.wh.gone", Some("")),
                // This layer's own entry comes *before* the marker: the
                // marker hides only what the layers below put there.
                ("opt/new", Some("2")),
                ("opt/.wh..wh..opq", Some("")),
                ("var/.wh.lib", Some("")),
                ("etc/keep", Some("2")),
            ])[..],
            &root,
        )
        .expect("layer 2");
        assert_eq!(names(&root.join("etc")), ["keep"]);
        assert_eq!(
            fs::read_to_string(root.join("etc/keep")).expect("read"),
            "2"
        );
        assert_eq!(names(&root.join("opt")), ["new"]);
        assert!(
            names(&root.join("var")).is_empty(),
            "a whiteout removes a whole directory"
        );
    }

    #[test]
    fn a_file_replaces_a_directory_and_dotdot_is_skipped() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("root");
        fs::create_dir(&root).expect("mkdir");
        let root = root.canonicalize().expect("canonical");
        apply(&layer(&[("x/", None), ("x/inner", Some("1"))])[..], &root).expect("layer 1");
        apply(&layer(&[("x", Some("now a file"))])[..], &root).expect("layer 2");
        assert_eq!(
            fs::read_to_string(root.join("x")).expect("read"),
            "now a file"
        );
        // An entry naming `..` never lands outside the rootfs. (tar's
        // builder refuses to write such a path, so patch the header.)
        let mut bytes = layer(&[("aa/escaped", Some("x"))]);
        bytes[..11].copy_from_slice(b"../escaped\0");
        let mut header = tar::Header::from_byte_slice(&bytes[..512]).clone();
        header.set_cksum();
        bytes[..512].copy_from_slice(header.as_bytes());
        apply(&bytes[..], &root).expect("layer 3");
        assert!(!tmp.path().join("escaped").exists());
    }

    #[test]
    fn a_whiteout_through_a_symlink_out_of_the_image_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).expect("mkdir outside");
        fs::write(outside.join("precious"), "host data").expect("write");
        let root = tmp.path().join("root");
        fs::create_dir(&root).expect("mkdir root");
        let root = root.canonicalize().expect("canonical");
        std::os::unix::fs::symlink(&outside, root.join("link")).expect("symlink");
        let err =
            apply(&layer(&[("link/.wh.precious", Some(""))])[..], &root).expect_err("refused");
        assert!(err.contains("outside the image"), "{err}");
        assert!(outside.join("precious").exists());
    }
}
