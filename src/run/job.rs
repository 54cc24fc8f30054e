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
//! A step may carry a [`StepTemplate`](crate::model::StepTemplate) from
//! its dialect: then its condition and the fields it left open are
//! decided here, with the [`RunState`] so far (earlier steps' outcomes and
//! outputs, the env as steps changed it, the needed jobs' results and
//! outputs). When the job offers [`StepFiles`](crate::model::StepFiles),
//! each step gets fresh files ([`super::stepfiles`]) that are read back
//! after it: env and `PATH` additions hold for the later steps, outputs
//! go to the run state, the summaries are saved beside the job's log. A
//! malformed file fails the step. After the steps, the job's outputs are
//! evaluated for the jobs that need it.
//!
//! # Output
//!
//! Each backend call gets its own bounded channel, drained by the job's
//! [`JobOutput`] *while* the call runs ([`with_output`]). When the call
//! returns, every line it sent has been written, so nestci's own notes
//! ("retrying…", "timed out…") always appear after the output they follow.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backend::{Backend, JobContext, JobHandle, OutputSender, StepExit};
use crate::model::{Conclusion, Job, NeedState, RunState, Step, StepState, StepWhen};

use super::output::{CHANNEL_CAPACITY, JobOutput};
use super::stepfiles::{self, Kind};

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
    /// The jobs this one needs, as they ended.
    pub needs: Vec<NeedState>,
    /// Where the job's step summary is saved (`<log>.summary.md`).
    pub summary_path: Option<PathBuf>,
    /// The job's name as a file name, for its step files' directory.
    pub file_name: String,
}

/// What one attempt builds up while its steps run.
#[derive(Debug)]
struct Attempt {
    state: RunState,
    /// Directories steps added to `PATH`, oldest first.
    paths: Vec<String>,
    /// The steps' summaries, concatenated.
    summary: String,
    files_dir: Option<stepfiles::Dir>,
}

/// How a job ended: the last attempt's outcome, how many attempts there
/// were, and the job's outputs.
pub(super) struct Finished {
    pub outcome: Outcome,
    pub attempts: u32,
    pub outputs: Vec<(String, String)>,
}

impl JobRun<'_> {
    /// Run the job, retrying a failed attempt up to `job.retry` times.
    pub async fn run(&mut self) -> Finished {
        let max = self.job.retry.saturating_add(1);
        let mut attempt = 1;
        loop {
            let mut a = Attempt {
                state: RunState::new(self.job.env.clone(), self.needs.clone()),
                paths: Vec::new(),
                summary: String::new(),
                files_dir: self.job.step_files.as_ref().map(|_| {
                    stepfiles::Dir::new(&self.ctx.workspace, &self.ctx.run_id, &self.file_name)
                }),
            };
            let outcome = self.attempt(&mut a).await;
            if let Some(dir) = &a.files_dir {
                dir.remove();
            }
            if outcome.retryable() && attempt < max && !self.cancel.is_cancelled() {
                attempt += 1;
                self.out
                    .note(&format!("↻ retrying (attempt {attempt} of {max})"));
                continue;
            }
            self.save_summary(&a.summary);
            let outputs = self.outputs(&a.state);
            return Finished {
                outcome,
                attempts: attempt,
                outputs,
            };
        }
    }

    /// The job's outputs from its dialect, once the steps ran.
    fn outputs(&mut self, state: &RunState) -> Vec<(String, String)> {
        let Some(d) = &self.job.deferred else {
            return Vec::new();
        };
        match d.outputs(state) {
            Ok(o) => o,
            Err(e) => {
                self.out
                    .note(&format!("⚠ the job's outputs could not be evaluated: {e}"));
                Vec::new()
            }
        }
    }

    /// Keep the steps' summaries next to the job's log and say where.
    fn save_summary(&mut self, text: &str) {
        let Some(path) = &self.summary_path else {
            return;
        };
        if text.trim().is_empty() {
            return;
        }
        match std::fs::write(path, text) {
            Ok(()) => self
                .out
                .note(&format!("📝 step summary saved in {}", path.display())),
            Err(e) => self.out.note(&format!(
                "⚠ could not save the step summary in {}: {e}",
                path.display()
            )),
        }
    }

    /// One attempt: prepare, the steps, cleanup.
    async fn attempt(&mut self, a: &mut Attempt) -> Outcome {
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
                Ok(()) => match self.steps(a, &*handle, &job_token, job_deadline).await {
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
        a: &mut Attempt,
        handle: &dyn JobHandle,
        job_token: &CancellationToken,
        job_deadline: Option<Instant>,
    ) -> Outcome {
        let job = self.job;
        let cancel = self.cancel;
        let mut first_failure: Option<Outcome> = None;
        for (n, step) in job.steps.iter().enumerate() {
            if cancel.is_cancelled() {
                return Outcome::Cancelled;
            }
            let failed = first_failure.is_some();
            a.state.status = if failed {
                Conclusion::Failure
            } else {
                Conclusion::Success
            };
            let decided = step.deferred.as_ref().and_then(|d| d.runs(&a.state));
            let runs = match decided {
                Some(Ok(runs)) => runs,
                // A condition that cannot be evaluated fails the step.
                Some(Err(e)) => {
                    let msg = format!("step `{}`: its condition: {e}", step.name);
                    self.note_failure(a, step, Outcome::Failed(msg), &mut first_failure);
                    continue;
                }
                None => match step.when {
                    StepWhen::OnSuccess => !failed,
                    StepWhen::OnFailure => failed,
                    StepWhen::Always => true,
                },
            };
            if !runs {
                // Say so when the dialect's condition decided: the step
                // was listed, so its absence would be a puzzle.
                if let Some(c) = step.deferred.as_ref().and_then(|d| d.condition()) {
                    self.out
                        .note(&format!("⊘ {}: skipped, `if: {c}` is false", step.name));
                }
                record(a, step, Conclusion::Skipped, Vec::new());
                continue;
            }
            let rendered;
            let step = match &step.deferred {
                None => step,
                Some(d) => match d.render(step, &a.state) {
                    Ok(s) => {
                        rendered = s;
                        &rendered
                    }
                    Err(e) => {
                        let msg = format!("step `{}`: {e}", step.name);
                        self.note_failure(a, step, Outcome::Failed(msg), &mut first_failure);
                        continue;
                    }
                },
            };
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
            let mut env = a.state.env.with(&step.env).with(&self.ctx.overrides);
            if !a.paths.is_empty() {
                let path = stepfiles::path_with(&a.paths, env.get("PATH"));
                env.set("PATH", path, None);
            }
            let files = match self.step_files(a, n + 1, &mut env) {
                Ok(files) => files,
                Err(msg) => {
                    self.note_failure(a, step, Outcome::Failed(msg), &mut first_failure);
                    continue;
                }
            };

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
            let read = self.read_files(a, step, &files);
            let failure = if expired {
                Some(Outcome::TimedOut(format!(
                    "step `{}` timed out after {}",
                    step.name,
                    human(step_limit)
                )))
            } else {
                match result {
                    Ok(exit) if exit.success() => read.as_ref().err().cloned().map(Outcome::Failed),
                    Ok(StepExit::Code(code)) => Some(Outcome::Exited(
                        step_failure(step, StepExit::Code(code)),
                        code,
                    )),
                    Ok(exit) => Some(Outcome::Failed(step_failure(step, exit))),
                    Err(e) => Some(Outcome::Failed(format!("step `{}`: {e}", step.name))),
                }
            };
            let outputs = read.unwrap_or_default();
            match failure {
                Some(failure) => {
                    self.note_failure(a, step, failure, &mut first_failure);
                    if let Some(last) = a.state.steps.last_mut() {
                        last.outputs = outputs;
                    }
                }
                None => record(a, step, Conclusion::Success, outputs),
            }
        }
        first_failure.unwrap_or(Outcome::Passed)
    }

    /// Report a failed step, record it, and remember the job's first
    /// failure unless the step may fail.
    fn note_failure(
        &mut self,
        a: &mut Attempt,
        step: &Step,
        failure: Outcome,
        first: &mut Option<Outcome>,
    ) {
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
        }
        record(a, step, Conclusion::Failure, Vec::new());
        if !step.continue_on_error {
            first.get_or_insert(failure);
        }
    }
}

/// Add a finished (or skipped) step to the run state.
fn record(a: &mut Attempt, step: &Step, outcome: Conclusion, outputs: Vec<(String, String)>) {
    let conclusion = if outcome == Conclusion::Failure && step.continue_on_error {
        Conclusion::Success
    } else {
        outcome
    };
    a.state.steps.push(StepState {
        id: step.id.clone(),
        outcome,
        conclusion,
        outputs,
    });
}

impl JobRun<'_> {
    /// Create step `n`'s files and name them in `env`.
    fn step_files(
        &self,
        a: &Attempt,
        n: usize,
        env: &mut crate::model::Env,
    ) -> Result<Vec<(Kind, PathBuf)>, String> {
        let (Some(files), Some(dir)) = (&self.job.step_files, &a.files_dir) else {
            return Ok(Vec::new());
        };
        let made = dir.create(n, files).map_err(|e| {
            format!(
                "could not create the step's files in {}: {e}",
                dir.host.display()
            )
        })?;
        let mut out = Vec::new();
        for (kind, host, container) in made {
            if let Some(var) = kind.variable(files) {
                env.set(var, container, None);
            }
            out.push((kind, host));
        }
        Ok(out)
    }

    /// Read back what the step wrote: env and path files change the run
    /// state, the summary is appended to the job's, the outputs are
    /// returned. A malformed file fails the step.
    fn read_files(
        &self,
        a: &mut Attempt,
        step: &Step,
        files: &[(Kind, PathBuf)],
    ) -> Result<Vec<(String, String)>, String> {
        let mut outputs = Vec::new();
        let vars = self.job.step_files.clone().unwrap_or_default();
        for (kind, host) in files {
            let text = std::fs::read(host)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let var = kind.variable(&vars).unwrap_or("the step file");
            let bad = |e: stepfiles::FileError| format!("step `{}`: ${var}, {e}", step.name);
            match kind {
                Kind::Env => {
                    for (name, value) in stepfiles::parse_pairs(&text).map_err(bad)? {
                        a.state.env.set(name, value, None);
                    }
                }
                Kind::Output => outputs = stepfiles::parse_pairs(&text).map_err(bad)?,
                Kind::Path => a.paths.extend(stepfiles::parse_paths(&text)),
                Kind::Summary => {
                    if !text.trim().is_empty() {
                        a.summary.push_str(&text);
                        if !text.ends_with('\n') {
                            a.summary.push('\n');
                        }
                    }
                }
            }
        }
        Ok(outputs)
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
