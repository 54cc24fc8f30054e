//! Artifacts on the host side, shared by the backends: which artifact paths
//! are allowed, and copies between a workspace and the artifact store
//! (`.nestci/artifacts/<run>/<job>/`, laid out like the workspace).
//!
//! dood sends and fetches through the Engine's archive API
//! ([`super::dood`]'s `archive`), using [`relative`] and [`pack_changed`]
//! from here. dind's workspace is a host directory bind-mounted into the
//! job, so [`collect_from_dir`] and [`restore_into_dir`] copy on the host.
//! Both go through `tar`, which keeps symlinks as links, keeps permissions
//! and refuses entries that would land outside their target.

use std::io::Seek;
use std::path::{Component, Path, PathBuf};

use super::BackendError;

/// Copy `paths` (workspace-relative) from the host directory `workspace`
/// into `dest`. Returns how many paths were copied and which did not
/// exist.
pub(crate) fn collect_from_dir(
    workspace: &Path,
    paths: &[String],
    dest: &Path,
) -> Result<(usize, Vec<String>), BackendError> {
    let mut copied = 0;
    let mut missing = Vec::new();
    for path in paths {
        let rel = relative(path)?;
        let source = workspace.join(&rel);
        if source.symlink_metadata().is_err() {
            missing.push(path.clone());
            continue;
        }
        let target = dest.join(rel.parent().unwrap_or(Path::new("")));
        std::fs::create_dir_all(&target).map_err(|e| io_error(&target, e))?;
        // Through a temporary file: memory stays bounded whatever the size.
        let file = tempfile::tempfile().map_err(|e| io_error(dest, e))?;
        let mut builder = tar::Builder::new(file);
        builder.follow_symlinks(false);
        let name = rel.file_name().map(PathBuf::from).unwrap_or_default();
        let packed = if source.is_dir() && !source.is_symlink() {
            builder.append_dir_all(&name, &source)
        } else {
            builder.append_path_with_name(&source, &name)
        };
        packed.map_err(|e| io_error(&source, e))?;
        let mut file = builder.into_inner().map_err(|e| io_error(&source, e))?;
        file.rewind().map_err(|e| io_error(&source, e))?;
        let mut archive = tar::Archive::new(file);
        archive.set_preserve_permissions(true);
        archive.unpack(&target).map_err(|e| io_error(&target, e))?;
        copied += 1;
    }
    Ok((copied, missing))
}

/// Copy the artifacts under `from` into the host directory `workspace`:
/// only the files missing there or different (see [`pack_changed`]).
pub(crate) fn restore_into_dir(from: &Path, workspace: &Path) -> Result<(), BackendError> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let mut sent = 0;
    pack_changed(&mut builder, from, Path::new(""), workspace, &mut sent)
        .map_err(|e| io_error(from, e))?;
    if sent == 0 {
        return Ok(());
    }
    let packed = builder.into_inner().map_err(|e| io_error(from, e))?;
    let mut archive = tar::Archive::new(&packed[..]);
    archive.set_preserve_permissions(true);
    archive
        .unpack(workspace)
        .map_err(|e| io_error(workspace, e))
}

/// Append to `builder` every file under `root/rel` that differs from
/// `host/rel`, with its parent directories.
pub(crate) fn pack_changed(
    builder: &mut tar::Builder<Vec<u8>>,
    root: &Path,
    rel: &Path,
    host: &Path,
    sent: &mut usize,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(root.join(rel))? {
        let entry = entry?;
        let rel = rel.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            pack_changed(builder, root, &rel, host, sent)?;
            continue;
        }
        let ours = root.join(&rel);
        let same = !kind.is_symlink()
            && std::fs::read(host.join(&rel))
                .is_ok_and(|theirs| std::fs::read(&ours).is_ok_and(|mine| mine == theirs));
        if same {
            continue;
        }
        // Parent directories first, so every engine can create the file.
        let mut parents: Vec<&Path> = rel.ancestors().skip(1).collect();
        parents.reverse();
        for parent in parents.into_iter().filter(|p| !p.as_os_str().is_empty()) {
            builder.append_dir(parent, root.join(parent))?;
        }
        builder.append_path_with_name(&ours, &rel)?;
        *sent += 1;
    }
    Ok(())
}

/// A workspace-relative path that stays in the workspace.
pub(crate) fn relative(path: &str) -> Result<PathBuf, BackendError> {
    let p = Path::new(path.trim_start_matches("./"));
    let ok = !p.as_os_str().is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(p.to_path_buf())
    } else {
        Err(BackendError::Runtime(format!(
            "artifact path `{path}` must be relative to the workspace, without `..`"
        )))
    }
}

fn io_error(path: &Path, e: std::io::Error) -> BackendError {
    BackendError::Runtime(format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_missing_or_changed_files_are_restored() {
        let from = tempfile::tempdir().expect("tempdir");
        let host = tempfile::tempdir().expect("tempdir");
        for (dir, files) in [
            (
                from.path(),
                &[("a/same", "1"), ("a/changed", "new"), ("b/missing", "x")][..],
            ),
            (host.path(), &[("a/same", "1"), ("a/changed", "old")][..]),
        ] {
            for (name, body) in files {
                let p = dir.join(name);
                std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
                std::fs::write(&p, body).expect("write");
            }
        }
        let mut builder = tar::Builder::new(Vec::new());
        let mut sent = 0;
        pack_changed(
            &mut builder,
            from.path(),
            Path::new(""),
            host.path(),
            &mut sent,
        )
        .expect("pack");
        assert_eq!(sent, 2);
        let bytes = builder.into_inner().expect("tar");
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut names: Vec<String> = archive
            .entries()
            .expect("entries")
            .filter_map(|e| e.ok())
            .filter(|e| e.header().entry_type().is_file())
            .map(|e| e.path().expect("path").display().to_string())
            .collect();
        names.sort();
        assert_eq!(names, vec!["a/changed", "b/missing"]);
    }

    #[test]
    fn artifact_paths_stay_in_the_workspace() {
        assert!(relative("out/a.txt").is_ok());
        assert!(relative("./out").is_ok());
        assert!(relative("../etc").is_err());
        assert!(relative("/etc").is_err());
        assert!(relative("a/../../b").is_err());
        assert!(relative("").is_err());
    }
}
