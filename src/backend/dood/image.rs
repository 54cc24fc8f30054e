//! Making sure an image is in the daemon, by pull policy.
//!
//! | policy           | image present | image absent            |
//! |------------------|---------------|-------------------------|
//! | `if-not-present` | used          | pulled                  |
//! | `always`         | pulled again  | pulled                  |
//! | `never`          | used          | error, says what to do  |
//!
//! A pull is `POST /images/create?fromImage=..&tag=..`, whose answer is a
//! stream of JSON progress documents; errors arrive *inside* that stream
//! (`{"error": ...}`) with status 200, so the stream is read to its end.

use std::collections::HashSet;

use http_body_util::BodyExt;
use hyper::Method;
use tokio_util::sync::CancellationToken;

use crate::backend::{BackendError, OutputLine, OutputSender, Stream};

use super::client::{Body, Engine, encode};

/// When to pull an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PullPolicy {
    /// Pull every time, even when the image is present.
    Always,
    /// Pull only an image the daemon does not have (the default).
    #[default]
    IfNotPresent,
    /// Never pull: a missing image is an error.
    Never,
}

impl PullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "always",
            PullPolicy::IfNotPresent => "if-not-present",
            PullPolicy::Never => "never",
        }
    }
}

/// `repo[:tag]` or `repo@digest` → (`fromImage`, `tag`) for the pull API.
pub fn split_reference(image: &str) -> (&str, &str) {
    if image.contains('@') {
        return (image, "");
    }
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[name_start..].rfind(':') {
        Some(i) => (&image[..name_start + i], &image[name_start + i + 1..]),
        None => (image, "latest"),
    }
}

/// Is `image` in the daemon?
pub async fn present(engine: &Engine, image: &str) -> Result<bool, BackendError> {
    match engine
        .json::<serde_json::Value>(
            Method::GET,
            &format!("/images/{}/json", encode(image)),
            Body::None,
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(BackendError::Image {
            image: image.to_string(),
            message: e.to_string(),
        }),
    }
}

/// Make `image` available according to `policy`, reporting pull progress
/// to `out`.
pub async fn ensure(
    engine: &Engine,
    image: &str,
    policy: PullPolicy,
    out: &OutputSender,
    cancel: &CancellationToken,
) -> Result<(), BackendError> {
    let have = present(engine, image).await?;
    match (policy, have) {
        (PullPolicy::IfNotPresent | PullPolicy::Never, true) => return Ok(()),
        (PullPolicy::Never, false) => {
            return Err(BackendError::Image {
                image: image.to_string(),
                message: "not found locally and the pull policy is `never`; load it into \
                          the daemon first, or run with `--pull if-not-present`"
                    .into(),
            });
        }
        _ => {}
    }
    tokio::select! {
        r = pull(engine, image, out) => r,
        () = cancel.cancelled() => Err(BackendError::Image {
            image: image.to_string(),
            message: "pull cancelled".into(),
        }),
    }
}

async fn pull(engine: &Engine, image: &str, out: &OutputSender) -> Result<(), BackendError> {
    let fail = |message: String| BackendError::Image {
        image: image.to_string(),
        message,
    };
    let (from, tag) = split_reference(image);
    let mut path = format!("/images/create?fromImage={}", encode(from));
    if !tag.is_empty() {
        path.push_str(&format!("&tag={}", encode(tag)));
    }
    let say = |text: String| OutputLine {
        stream: Stream::Stderr,
        bytes: text.into_bytes(),
    };
    let _ = out.send(say(format!("pulling {image}"))).await;
    let mut body = engine
        .stream(Method::POST, &path, Body::None)
        .await
        .map_err(|e| fail(format!("pull failed: {e}")))?;
    let mut pending = Vec::new();
    // Progress documents repeat their status many times; show each change once.
    let mut seen = HashSet::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| fail(format!("pull interrupted: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(i) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            let Ok(info) = serde_json::from_slice::<bollard_stubs::models::CreateImageInfo>(&line)
            else {
                continue;
            };
            if let Some(error) = info.error {
                return Err(fail(format!("pull failed: {error}")));
            }
            if let Some(status) = info.status {
                let text = match info.id {
                    Some(id) => format!("{id}: {status}"),
                    None => status,
                };
                if seen.insert(text.clone()) {
                    let _ = out.send(say(text)).await;
                }
            }
        }
    }
    if !present(engine, image).await? {
        return Err(fail("the pull finished but the image is not there".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(split_reference("busybox"), ("busybox", "latest"));
        assert_eq!(split_reference("a/b:1.2"), ("a/b", "1.2"));
        assert_eq!(
            split_reference("localhost:5000/x"),
            ("localhost:5000/x", "latest")
        );
        assert_eq!(
            split_reference("localhost:5000/x:v1"),
            ("localhost:5000/x", "v1")
        );
        assert_eq!(split_reference("x@sha256:ab"), ("x@sha256:ab", ""));
    }
}
