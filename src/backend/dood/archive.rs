//! Artifacts in and out of a job container through the archive API.
//!
//! - out: `GET /containers/{id}/archive?path=/workspace/<p>` answers a tar
//!   holding the last component of `<p>` (a file or a whole directory).
//!   It is streamed to a temporary file next to its destination — memory
//!   stays bounded however large the artifact — and unpacked there under
//!   `<dest>/<parent of p>/`. `tar` refuses entries that would land
//!   outside (`..`, absolute paths).
//! - in: a directory laid out like the workspace is packed into a tar and
//!   `PUT /containers/{id}/archive?path=/workspace` unpacks it there.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Method;

use crate::backend::{BackendError, OutputLine, OutputSender, Stream};

use super::client::{Body, Engine, encode};

/// Copy `paths` (workspace-relative) out of `container` into `dest`.
pub async fn collect(
    engine: &Engine,
    container: &str,
    workspace: &str,
    paths: &[String],
    dest: &Path,
    out: &OutputSender,
) -> Result<usize, BackendError> {
    let mut copied = 0;
    for path in paths {
        let rel = relative(path)?;
        let source = format!("{workspace}/{}", rel.display());
        let url = format!("/containers/{container}/archive?path={}", encode(&source));
        let mut body = match engine.stream(Method::GET, &url, Body::None).await {
            Ok(b) => b,
            Err(e) if e.is_not_found() => {
                let _ = out
                    .send(OutputLine {
                        stream: Stream::Stderr,
                        bytes: format!("artifact `{path}`: no such file or directory, skipped")
                            .into_bytes(),
                    })
                    .await;
                continue;
            }
            Err(e) => return Err(BackendError::Runtime(format!("artifact `{path}`: {e}"))),
        };
        let target = dest.join(rel.parent().unwrap_or(Path::new("")));
        std::fs::create_dir_all(&target).map_err(|e| io_error(&target, e))?;
        let mut tmp = tempfile_in(dest)?;
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| BackendError::Runtime(format!("artifact `{path}`: {e}")))?;
            if let Ok(data) = frame.into_data() {
                tmp.1.write_all(&data).map_err(|e| io_error(&tmp.0, e))?;
            }
        }
        let (tmp_path, file) = tmp;
        drop(file);
        let unpack_to = target.clone();
        let tar_path = tmp_path.clone();
        let unpacked = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&tar_path)?;
            let mut archive = tar::Archive::new(file);
            archive.set_preserve_permissions(true);
            archive.unpack(&unpack_to)
        })
        .await;
        let _ = std::fs::remove_file(&tmp_path);
        match unpacked {
            Ok(Ok(())) => copied += 1,
            Ok(Err(e)) => return Err(io_error(&target, e)),
            Err(e) => return Err(BackendError::Runtime(format!("unpacking `{path}`: {e}"))),
        }
    }
    Ok(copied)
}

/// Copy the tree under `from` into `container`'s workspace.
///
/// `host_workspace` is the directory bind-mounted as the workspace. Jobs
/// of a run share it, so an artifact is usually there already — and
/// writing it again while another job reads it would be a race. Only files
/// missing there or different are sent; when none are, nothing is.
pub async fn restore(
    engine: &Engine,
    container: &str,
    workspace: &str,
    from: &Path,
    host_workspace: &Path,
) -> Result<(), BackendError> {
    let dir = from.to_path_buf();
    let host = host_workspace.to_path_buf();
    let packed = tokio::task::spawn_blocking(move || -> std::io::Result<Option<Vec<u8>>> {
        let mut builder = tar::Builder::new(Vec::new());
        builder.follow_symlinks(false);
        let mut sent = 0usize;
        pack_changed(&mut builder, &dir, Path::new(""), &host, &mut sent)?;
        if sent == 0 {
            return Ok(None);
        }
        builder.into_inner().map(Some)
    })
    .await
    .map_err(|e| BackendError::Runtime(format!("packing {}: {e}", from.display())))?
    .map_err(|e| io_error(from, e))?;
    let Some(packed) = packed else {
        return Ok(());
    };
    engine
        .call(
            Method::PUT,
            &format!("/containers/{container}/archive?path={}", encode(workspace)),
            Body::Raw(Bytes::from(packed), "application/x-tar"),
        )
        .await
        .map_err(|e| BackendError::Runtime(format!("restoring artifacts: {e}")))
}

/// Append to `builder` every file under `root/rel` that differs from
/// `host/rel`, with its parent directories.
fn pack_changed(
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
fn relative(path: &str) -> Result<PathBuf, BackendError> {
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

fn tempfile_in(dir: &Path) -> Result<(PathBuf, std::fs::File), BackendError> {
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    for n in 0..1000u32 {
        let p = dir.join(format!(".nestci-artifact-{}-{n}.tar", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
        {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error(&p, e)),
        }
    }
    Err(BackendError::Runtime(format!(
        "cannot create a temporary file in {}",
        dir.display()
    )))
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
