//! One job's life on a backend: prepare → steps → cleanup, with timeouts,
//! retries and cancellation.
//!
//! The scheduler ([`super::scheduler`]) decides *whether* and *when* a job
//! runs; this module decides *how*:
//!
//! ```text
//! attempt 1:  prepare ─▶ step 1 ─▶ step 2 ─▶ … ─▶ cleanup
//! attempt 2:  prepare ─▶ step 1 ─▶ …          ─▶ cleanup     (retry: 1)
//! ```
//!
//! # Cancellation, timeouts and tokens
//!
//! Every backend call gets a [`CancellationToken`], and tokens form a tree:
//!
//! ```text
//! run token (Ctrl-C)
//!  └─ job token (job timeout)          one per attempt
//!      └─ step token (step timeout)    one per step
//! ```
//!
//! Cancelling a token cancels its children, so Ctrl-C reaches every step,
//! a job timeout reaches the job's current step, and a step timeout only
//! that step. A timeout is a deadline raced against the backend call
//! ([`until`]): when it passes first, we cancel the token and *keep
//! waiting* for the backend, which stops the step and returns
//! [`StepExit::Cancelled`]. We never drop a backend future half-way, so
//! a backend always gets to clean up after itself, and `cleanup` is
//! called after every successful `prepare` whatever happened.
//!
//! # Step order
//!
//! A step runs according to its [`StepWhen`] and the steps before it:
//! `on_success` while no step has failed, `on_failure` only after one has,
//! `always` in either case. A failure of a `continue_on_error` step is
//! reported but does not count. After Ctrl-C or a job timeout no further
//! step runs, not even `always` ones: the run (or the job's time) is over.
//!
//! # Output
//!
//! Each backend call gets its own bounded channel, drained by the job's
//! [`JobOutput`] *while* the call runs ([`with_output`]). When the call
//! returns, every line it sent has been written, so nestci's own notes
//! ("retrying…", "timed out…") always appear after the output they follow.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backend::{Backend, JobContext, JobHandle, OutputSender, StepExit};
use crate::model::{Job, Step, StepWhen};

use super::output::{CHANNEL_CAPACITY, JobOutput};

/// How one attempt (or, after retries, the job) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    Passed,
    Failed(String),
    /// Failed because a step exited with `code` (not zero): what
    /// `allow_failure: exit_codes` looks at.
    Exited(String, i32),
    TimedOut(String),
    Cancelled,
}

impl Outcome {
    fn retryable(&self) -> bool {
        matches!(
            self,
            Outcome::Failed(_) | Outcome::Exited(..) | Outcome::TimedOut(_)
        )
    }
}

/// Everything a job's run needs from around it.
pub(super) struct JobRun<'a> {
    pub job: &'a Job,
    pub backend: &'a dyn Backend,
    pub ctx: &'a JobContext,
    /// The run's token: Ctrl-C.
    pub cancel: &'a CancellationToken,
    pub out: &'a mut JobOutput,
}

impl JobRun<'_> {
    /// Run the job, retrying a failed attempt up to `job.retry` times.
    /// Returns the last attempt's outcome and how many attempts there were.
    pub async fn run(&mut self) -> (Outcome, u32) {
        let max = self.job.retry.saturating_add(1);
        let mut attempt = 1;
        loop {
            let outcome = self.attempt().await;
            if outcome.retryable() && attempt < max && !self.cancel.is_cancelled() {
                attempt += 1;
                self.out
                    .note(&format!("↻ retrying (attempt {attempt} of {max})"));
                continue;
            }
            return (outcome, attempt);
        }
    }

    /// One attempt: prepare, the steps, cleanup.
    async fn attempt(&mut self) -> Outcome {
        let JobRun {
            job,
            backend,
            ctx,
            cancel,
            ..
        } = *self;
        let job_token = cancel.child_token();
        let job_limit = job.timeout.as_ref().map(|t| t.value);
        let job_deadline = job_limit.map(|t| Instant::now() + t);

        let (prepared, expired) = with_output(self.out, async |tx: &OutputSender| {
            until(
                backend.prepare(job, ctx, tx, &job_token),
                job_deadline,
                &job_token,
            )
            .await
        })
        .await;
        let handle = match prepared {
            Ok(handle) => handle,
            Err(_) if cancel.is_cancelled() => return Outcome::Cancelled,
            Err(e) if expired => {
                let msg = format!("timed out after {} while preparing ({e})", human(job_limit));
                self.out.note(&format!("⏱ {msg}"));
                return Outcome::TimedOut(msg);
            }
            Err(e) => {
                let msg = format!("could not prepare the job: {e}");
                self.out.note(&format!("✗ {msg}"));
                return Outcome::Failed(msg);
            }
        };

        let outcome = if cancel.is_cancelled() {
            Outcome::Cancelled
        } else if expired {
            let msg = format!("timed out after {} while preparing", human(job_limit));
            self.out.note(&format!("⏱ {msg}"));
            Outcome::TimedOut(msg)
        } else {
            match self.restore_artifacts(&*handle).await {
                Err(msg) => Outcome::Failed(msg),
                Ok(()) => match self.steps(&*handle, &job_token, job_deadline).await {
                    Outcome::Passed => self.collect_artifacts(&*handle).await,
                    other => other,
                },
            }
        };

        // Always, after a successful prepare.
        if let Err(e) = handle.cleanup().await {
            self.out.note(&format!("⚠ cleanup failed: {e}"));
        }
        outcome
    }

    /// Hand this job the artifacts of the jobs the model says it receives
    /// ([`Job::artifacts_from`]): `.nestci/artifacts/<run>/<job>/` into its
    /// workspace. A job that kept none (or did not run) is passed over.
    async fn restore_artifacts(&mut self, handle: &dyn JobHandle) -> Result<(), String> {
        let job = self.job;
        for from in job.artifacts_from.jobs(job) {
            let dir = artifact_dir(self.ctx, from);
            if !dir.is_dir() {
                continue;
            }
            if let Err(e) = handle.restore_artifacts(&dir).await {
                let msg = format!("could not restore the artifacts of `{from}`: {e}");
                self.out.note(&format!("✗ {msg}"));
                return Err(msg);
            }
        }
        Ok(())
    }

    /// Copy the job's `artifacts` out to `.nestci/artifacts/<run>/<job>/`.
    async fn collect_artifacts(&mut self, handle: &dyn JobHandle) -> Outcome {
        if self.job.artifacts.is_empty() {
            return Outcome::Passed;
        }
        let paths: Vec<String> = self.job.artifacts.iter().map(|a| a.value.clone()).collect();
        let dest = artifact_dir(self.ctx, &self.job.name);
        let result = with_output(self.out, async |tx: &OutputSender| {
            handle.collect_artifacts(&paths, &dest, tx).await
        })
        .await;
        match result {
            Ok(0) => Outcome::Passed,
            Ok(n) => {
                self.out.note(&format!(
                    "⇩ {n} artifact path(s) saved in {}",
                    dest.display()
                ));
                Outcome::Passed
            }
            Err(e) => {
                let msg = format!("could not collect the artifacts: {e}");
                self.out.note(&format!("✗ {msg}"));
                Outcome::Failed(msg)
            }
        }
    }

    /// Run the steps in order; see the module docs for which run.
    async fn steps(
        &mut self,
        handle: &dyn JobHandle,
        job_token: &CancellationToken,
        job_deadline: Option<Instant>,
    ) -> Outcome {
        let job = self.job;
        let cancel = self.cancel;
        let mut first_failure: Option<Outcome> = None;
        for step in &job.steps {
            if cancel.is_cancelled() {
                return Outcome::Cancelled;
            }
            let failed = first_failure.is_some();
            let runs = match step.when {
                StepWhen::OnSuccess => !failed,
                StepWhen::OnFailure => failed,
                StepWhen::Always => true,
            };
            if !runs {
                continue;
            }
            self.out.note(&format!("▸ {}", step.name));

            let step_token = job_token.child_token();
            let step_limit = step.timeout.as_ref().map(|t| t.value);
            let step_deadline = step_limit.map(|t| Instant::now() + t);
            // Whichever deadline comes first applies; on a tie, the job's.
            let (deadline, job_expires_first) = match (step_deadline, job_deadline) {
                (Some(s), Some(j)) if j <= s => (Some(j), true),
                (Some(s), _) => (Some(s), false),
                (None, j) => (j, j.is_some()),
            };
            let env = job.env.with(&step.env).with(&self.ctx.overrides);

            let (result, expired) = with_output(self.out, async |tx: &OutputSender| {
                until(
                    handle.run_step(step, &env, tx, &step_token),
                    deadline,
                    &step_token,
                )
                .await
            })
            .await;

            let passed = matches!(result, Ok(exit) if exit.success());
            if cancel.is_cancelled() && !passed {
                return Outcome::Cancelled;
            }
            if expired && job_expires_first {
                job_token.cancel();
                let msg = format!(
                    "timed out after {}",
                    human(job.timeout.as_ref().map(|t| t.value))
                );
                self.out.note(&format!("⏱ job {msg}"));
                return Outcome::TimedOut(msg);
            }
            let failure = if expired {
                Some(Outcome::TimedOut(format!(
                    "step `{}` timed out after {}",
                    step.name,
                    human(step_limit)
                )))
            } else {
                match result {
                    Ok(exit) if exit.success() => None,
                    Ok(StepExit::Code(code)) => Some(Outcome::Exited(
                        step_failure(step, StepExit::Code(code)),
                        code,
                    )),
                    Ok(exit) => Some(Outcome::Failed(step_failure(step, exit))),
                    Err(e) => Some(Outcome::Failed(format!("step `{}`: {e}", step.name))),
                }
            };
            if let Some(failure) = failure {
                let (mark, msg) = match &failure {
                    Outcome::TimedOut(m) => ("⏱", m.as_str()),
                    Outcome::Failed(m) | Outcome::Exited(m, _) => ("✗", m.as_str()),
                    _ => ("", ""),
                };
                if step.continue_on_error {
                    self.out
                        .note(&format!("{mark} {msg} (continuing: `continue_on_error`)"));
                } else {
                    self.out.note(&format!("{mark} {msg}"));
                    first_failure.get_or_insert(failure);
                }
            }
        }
        first_failure.unwrap_or(Outcome::Passed)
    }
}

/// Where a job's artifacts are kept: `.nestci/artifacts/<run>/<job>/` in
/// the workspace, the job's name made safe as for its log file.
pub fn artifact_dir(ctx: &JobContext, job: &str) -> std::path::PathBuf {
    let name = super::output::log_file_names([job])
        .pop()
        .unwrap_or_else(|| "job".into());
    ctx.workspace
        .join(".nestci")
        .join("artifacts")
        .join(&ctx.run_id)
        .join(name)
}

/// Why a finished step failed, in words.
fn step_failure(step: &Step, exit: StepExit) -> String {
    match exit {
        StepExit::Code(code) => format!("step `{}` failed with exit code {code}", step.name),
        StepExit::Signal(sig) => match signal_name(sig) {
            Some(name) => format!("step `{}` was killed by signal {sig} ({name})", step.name),
            None => format!("step `{}` was killed by signal {sig}", step.name),
        },
        // The backend stopped the step though no token of ours asked it to.
        StepExit::Cancelled => format!("step `{}` was stopped by the backend", step.name),
    }
}

fn signal_name(sig: i32) -> Option<&'static str> {
    Some(match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL, often the out-of-memory killer",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return None,
    })
}

/// `10s`, `1m 30s`: a configured limit as written in messages.
fn human(limit: Option<Duration>) -> String {
    match limit {
        Some(d) => humantime::format_duration(d).to_string(),
        None => "its time limit".to_string(),
    }
}

/// Run `call` with a fresh output channel, writing its lines to `out` while
/// it runs. Returns once the call has returned *and* every line it sent
/// has been written.
///
/// The drain ends when the last sender is dropped: ours right after the
/// call, and any clone a backend made — which it must not keep once the
/// call has returned.
async fn with_output<T>(out: &mut JobOutput, call: impl AsyncFnOnce(&OutputSender) -> T) -> T {
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let work = async move {
        let result = call(&tx).await;
        drop(tx);
        result
    };
    let (result, ()) = tokio::join!(work, out.drain(rx));
    result
}

/// Await `fut`; if `deadline` passes first, cancel `token` and keep
/// awaiting it (the backend stops and returns). Also says whether the
/// deadline passed.
async fn until<T>(
    fut: impl Future<Output = T>,
    deadline: Option<Instant>,
    token: &CancellationToken,
) -> (T, bool) {
    let Some(deadline) = deadline else {
        return (fut.await, false);
    };
    tokio::pin!(fut);
    tokio::select! {
        biased;
        result = &mut fut => (result, false),
        () = tokio::time::sleep_until(deadline) => {
            token.cancel();
            (fut.await, true)
        }
    }
}
