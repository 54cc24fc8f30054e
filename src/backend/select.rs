//! Choosing the backend for a run: `--mode dind|dood|auto`.

use std::sync::Arc;

use super::{Backend, BackendError};

/// Where jobs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// dind where the kernel allows it, else dood when a daemon answers.
    Auto,
    /// The embedded runtime on user namespaces.
    Dind,
    /// The host's Docker Engine (or Podman) through its API.
    Dood,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Dind => "dind",
            Mode::Dood => "dood",
        }
    }
}

/// The backend for `mode`, or why none can run here.
pub async fn select(mode: Mode) -> Result<Arc<dyn Backend>, BackendError> {
    match mode {
        Mode::Dind => dind().await,
        Mode::Dood => dood().await,
        Mode::Auto => match dind().await {
            Ok(b) => Ok(b),
            Err(dind_err) => dood().await.map_err(|dood_err| {
                BackendError::Unavailable(format!(
                    "no backend can run here: dind: {dind_err}; dood: {dood_err}"
                ))
            }),
        },
    }
}

async fn dind() -> Result<Arc<dyn Backend>, BackendError> {
    Err(BackendError::Unavailable(
        "the dind runtime is not built yet".into(),
    ))
}

async fn dood() -> Result<Arc<dyn Backend>, BackendError> {
    Err(BackendError::Unavailable(
        "the Docker Engine backend is not built yet".into(),
    ))
}
