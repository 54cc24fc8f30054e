//! dood: jobs run by the host's Docker Engine (or Podman), driven through
//! its HTTP API — never through the `docker` CLI.
//!
//! ```text
//!  prepare                          run_step (×N)                cleanup
//!  ───────                          ─────────────                ───────
//!  images by pull policy            exec in the job container    rm -f containers
//!  network nestci-<run>-<job>-<n>   ─ or, with `image:`, a       rm network
//!  services (+ alias, readiness:      container of its own on
//!    running, healthy, ports open)    the same workspace, in the
//!  job container (sleeps; /workspace) job container's network
//! ```
//!
//! - [`client`]: the Engine API client (hyper + hyperlocal), endpoint
//!   discovery and version check;
//! - [`image`]: pull policy;
//! - [`stream`]: the 8-byte frame demultiplexer that turns exec/attach
//!   output into lines;
//! - `job` (private): the [`JobHandle`](crate::backend::JobHandle) — one job's
//!   containers and network, its steps, its cleanup;
//! - [`gc`]: finding and removing what a crashed run left behind.
//!
//! # Labels
//!
//! Everything created carries `nestci.run=<run id>`, `nestci.job=<job>`,
//! `nestci.role=job|service|step` and `nestci.owner=<host>/<pid>`, so a run's
//! objects can be listed through the API, and `nestci gc` can tell a
//! crashed run's leftovers (owner process gone) from a live run's.
//!
//! # The image `host`
//!
//! `host` (a sandbox over the host's own filesystem) exists only in dind
//! mode. Here a job whose image is `host` (or unset) runs in
//! [`DoodOptions::host_image`] (`nestci run --image IMAGE`), or fails to
//! prepare with a message saying so.

mod archive;
pub mod client;
pub mod gc;
pub mod image;
mod job;
pub mod stream;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

pub use client::{Endpoint, Engine, EngineError, EngineInfo, Flavor};
pub use image::PullPolicy;
pub use job::{CACHE_LABEL, cache_volume};

use crate::backend::{Backend, BackendError, JobContext, JobHandle, OutputSender};
use crate::model::Job;

/// Label keys put on every object nestci creates.
pub mod labels {
    pub const RUN: &str = "nestci.run";
    pub const JOB: &str = "nestci.job";
    pub const ROLE: &str = "nestci.role";
    pub const OWNER: &str = "nestci.owner";
}

/// How the dood backend behaves; the command line sets these.
#[derive(Debug, Clone)]
pub struct DoodOptions {
    /// Where the engine is; `None`: [`Endpoint::discover`].
    pub endpoint: Option<Endpoint>,
    pub pull: PullPolicy,
    /// The image that stands in for `host` (and for a job without image).
    pub host_image: Option<String>,
    /// How long a service may take to become ready.
    pub service_timeout: Duration,
}

impl Default for DoodOptions {
    fn default() -> Self {
        DoodOptions {
            endpoint: None,
            pull: PullPolicy::default(),
            host_image: None,
            service_timeout: Duration::from_secs(60),
        }
    }
}

/// The dood backend: a connected engine and the options.
#[derive(Debug, Clone)]
pub struct DoodBackend {
    engine: Engine,
    options: Arc<DoodOptions>,
}

impl DoodBackend {
    /// Find and connect to the engine; the error says which socket and why.
    pub async fn connect(options: DoodOptions) -> Result<DoodBackend, EngineError> {
        let engine = match &options.endpoint {
            Some(e) => Engine::connect(e.clone()).await?,
            None => Engine::discover().await?,
        };
        Ok(DoodBackend {
            engine,
            options: Arc::new(options),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

#[async_trait]
impl Backend for DoodBackend {
    fn name(&self) -> &'static str {
        "dood"
    }

    async fn prepare(
        &self,
        job: &Job,
        ctx: &JobContext,
        out: &OutputSender,
        cancel: &CancellationToken,
    ) -> Result<Box<dyn JobHandle>, BackendError> {
        let handle = job::DoodJob::prepare(
            self.engine.clone(),
            Arc::clone(&self.options),
            job,
            ctx,
            out,
            cancel,
        )
        .await?;
        Ok(Box::new(handle))
    }
}

impl From<EngineError> for BackendError {
    fn from(e: EngineError) -> Self {
        match e {
            e @ (EngineError::Unreachable { .. }
            | EngineError::BadHost(_)
            | EngineError::TooOld { .. }) => BackendError::Unavailable(e.to_string()),
            e => BackendError::Runtime(e.to_string()),
        }
    }
}

/// `<hostname>/<pid>`: who owns the objects this process creates.
pub fn owner() -> String {
    format!("{}/{}", hostname(), std::process::id())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
