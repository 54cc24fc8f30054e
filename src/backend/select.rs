//! Choosing the backend for a run: `--mode dind|dood|auto`.

use std::sync::Arc;

use super::dood::{DoodBackend, DoodOptions};
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

/// What the command line says about backends beyond the mode.
#[derive(Debug, Clone, Default)]
pub struct BackendOptions {
    /// The dood backend's options (pull policy, `--image`).
    pub dood: DoodOptions,
}

/// The backend for `mode`, or why none can run here.
pub async fn select(mode: Mode) -> Result<Arc<dyn Backend>, BackendError> {
    select_with(mode, &BackendOptions::default()).await
}

/// [`select`] with options.
pub async fn select_with(
    mode: Mode,
    opts: &BackendOptions,
) -> Result<Arc<dyn Backend>, BackendError> {
    match mode {
        Mode::Dind => dind(opts).await,
        Mode::Dood => dood(&opts.dood).await,
        Mode::Auto => match dind(opts).await {
            Ok(b) => Ok(b),
            Err(dind_err) => dood(&opts.dood).await.map_err(|dood_err| {
                BackendError::Unavailable(format!(
                    "no backend can run here: dind: {dind_err}; dood: {dood_err}"
                ))
            }),
        },
    }
}

async fn dind(_opts: &BackendOptions) -> Result<Arc<dyn Backend>, BackendError> {
    Ok(Arc::new(super::dind::DindBackend::detect()?))
}

async fn dood(options: &DoodOptions) -> Result<Arc<dyn Backend>, BackendError> {
    let backend = DoodBackend::connect(options.clone()).await?;
    tracing::debug!(
        "dood: {} at {}",
        backend.engine().info(),
        backend.engine().endpoint()
    );
    Ok(Arc::new(backend))
}
