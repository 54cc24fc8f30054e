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
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Method;

use crate::backend::artifacts::{pack_changed, relative};
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
