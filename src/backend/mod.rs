//! The seam between the scheduler and the container runtimes.
//!
//! The scheduler knows only [`Backend`] and [`JobHandle`]: it asks a backend
//! to prepare a job (image, services, the job container), runs the job's
//! steps one by one through the handle, and finally cleans up. dind (the
//! embedded runtime) and dood (the host Docker Engine) each implement these
//! two traits in their own module; nothing above this module knows which
//! one it drives.
//!
//! Cancellation is cooperative: the scheduler passes a
//! [`CancellationToken`] to every call that may take long, and cancels it on
//! a timeout or on Ctrl-C. A backend must then stop what it runs (kill the
//! step's processes) and return promptly; `cleanup` must be called after
//! every successful `prepare`, whatever happened in between.

pub(crate) mod artifacts;
pub mod dind;
pub mod dood;
mod select;

pub use select::{BackendOptions, Mode, select, select_with};

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::model::{Env, Job, Step};

/// Where every backend mounts the project checkout in a job's containers.
pub const WORKSPACE: &str = "/workspace";

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of a step's output, without its trailing newline. Bytes, not
/// text: a step may print anything; the output layer decodes lossily.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stream: Stream,
    pub bytes: Vec<u8>,
}

/// Where a backend sends a step's output. The channel is bounded: when the
/// terminal or the log file is slower than the step, the backend waits,
/// which keeps memory bounded however much a step prints.
pub type OutputSender = mpsc::Sender<OutputLine>;

/// What a job needs from the run around it.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// Identifies the run; backends label what they create with it.
    pub run_id: String,
    /// The project checkout, mounted at `/workspace`.
    pub workspace: PathBuf,
    /// Variables from the command line (`--env`): above everything else.
    pub overrides: Env,
}

/// How a finished step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepExit {
    /// The process exited with this code.
    Code(i32),
    /// The process was killed by this signal (for example by the OOM killer).
    Signal(i32),
    /// The step was stopped because its token was cancelled.
    Cancelled,
}

impl StepExit {
    pub fn success(self) -> bool {
        self == StepExit::Code(0)
    }
}

/// Why a backend could not do what it was asked. Distinct from a step that
/// ran and failed, which is a [`StepExit`].
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// No backend can run jobs on this build or host.
    #[error("{0}")]
    Unavailable(String),
    /// The image could not be found or prepared.
    #[error("image {image}: {message}")]
    Image { image: String, message: String },
    /// Anything else the runtime reported, in its own words.
    #[error("{0}")]
    Runtime(String),
}

/// A container runtime that can run jobs.
#[async_trait]
pub trait Backend: Send + Sync {
    /// A short name for messages (`dind`, `dood`, ...).
    fn name(&self) -> &'static str;

    /// Get a job ready to run steps: image, services, job container.
    /// Output about preparation (pull progress, service start) goes to `out`.
    async fn prepare(
        &self,
        job: &Job,
        ctx: &JobContext,
        out: &OutputSender,
        cancel: &CancellationToken,
    ) -> Result<Box<dyn JobHandle>, BackendError>;
}

/// A prepared job: its steps run through here.
#[async_trait]
pub trait JobHandle: Send + Sync {
    /// Run one step to completion, streaming its output line by line.
    /// `env` is the step's full environment, already layered
    /// (pipeline < job < step < command line). When `cancel` fires the
    /// backend kills the step and returns [`StepExit::Cancelled`].
    async fn run_step(
        &self,
        step: &Step,
        env: &Env,
        out: &OutputSender,
        cancel: &CancellationToken,
    ) -> Result<StepExit, BackendError>;

    /// Copy the job's artifacts — `paths`, relative to the workspace —
    /// out of the job into `dest`, keeping their relative paths. Called
    /// after the steps passed, before `cleanup`. Returns how many paths
    /// were copied; a path that does not exist is reported on `out` and
    /// skipped. The default copies nothing, for backends whose workspace
    /// is the host directory itself.
    async fn collect_artifacts(
        &self,
        paths: &[String],
        dest: &Path,
        out: &OutputSender,
    ) -> Result<usize, BackendError> {
        let _ = (paths, dest, out);
        Ok(0)
    }

    /// Put artifacts that another job collected (a directory laid out like
    /// the workspace) into this job's workspace. Called after `prepare`,
    /// before the first step. The default does nothing.
    async fn restore_artifacts(&self, from: &Path) -> Result<(), BackendError> {
        let _ = from;
        Ok(())
    }

    /// Remove everything `prepare` created. Called exactly once.
    async fn cleanup(self: Box<Self>) -> Result<(), BackendError>;
}
