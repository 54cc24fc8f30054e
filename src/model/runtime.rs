//! What only exists while a job runs, and the hooks through which a
//! dialect decides what it could not decide at load time.
//!
//! Most of a pipeline is known before the run, and dialects resolve it
//! while loading (so `nestci list` shows it). Some of it is not: a GitHub
//! step may read the outputs of an earlier step (`steps.build.outputs.v`),
//! a job the outputs or result of a job it needs. For those, a dialect
//! hangs a [`StepTemplate`] on the [`Step`] or a [`JobTemplate`] on the
//! [`Job`]; the runner hands it the [`RunState`] — what the earlier steps
//! and the needed jobs did — and runs what it renders. The runner and the
//! scheduler never see the dialect's expression language, only these
//! traits.
//!
//! [`StepFiles`] is the other half: files a step writes to pass values on
//! (`NAME=value` lines, GitHub's `GITHUB_ENV` and friends). The runner
//! creates them, names them to the step in the variables given here, and
//! reads them back after the step.

use std::fmt::Debug;

use super::{Env, Job, Step};

/// How a step or a job ended, as later steps and jobs see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conclusion {
    Success,
    Failure,
    Cancelled,
    Skipped,
}

impl Conclusion {
    /// The lower-case word (`success`, `failure`, `cancelled`, `skipped`).
    pub fn as_str(self) -> &'static str {
        match self {
            Conclusion::Success => "success",
            Conclusion::Failure => "failure",
            Conclusion::Cancelled => "cancelled",
            Conclusion::Skipped => "skipped",
        }
    }
}

/// One earlier step of the job, as it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct StepState {
    /// The step's [`Step::id`].
    pub id: Option<String>,
    /// How the step itself ended.
    pub outcome: Conclusion,
    /// How it counts for the job: a failure of a `continue_on_error` step
    /// concludes as a success.
    pub conclusion: Conclusion,
    /// `NAME=value` pairs the step wrote to its output file, in order.
    pub outputs: Vec<(String, String)>,
}

/// A job that the running job needs, as it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct NeedState {
    /// The job's [`Job::name`] (`test (ubuntu, 20)`).
    pub job: String,
    /// The job's [`Job::template`] (`test`).
    pub template: String,
    pub result: Conclusion,
    /// The job's outputs, from its [`JobTemplate::outputs`].
    pub outputs: Vec<(String, String)>,
}

/// What has happened so far in a job's run (and before it).
#[derive(Debug, Clone, PartialEq)]
pub struct RunState {
    /// The steps that came before, one entry each, skipped ones included.
    pub steps: Vec<StepState>,
    /// The job's environment now: its own, with what steps added through
    /// the env file.
    pub env: Env,
    /// The jobs this job needs.
    pub needs: Vec<NeedState>,
    /// How the job has gone so far: `Failure` after a failed step (or, for
    /// a job's condition, when a job it waited for failed).
    pub status: Conclusion,
}

impl RunState {
    pub fn new(env: Env, needs: Vec<NeedState>) -> RunState {
        RunState {
            steps: Vec::new(),
            env,
            needs,
            status: Conclusion::Success,
        }
    }
}

/// What a dialect decides about a step at run time.
pub trait StepTemplate: Debug + Send + Sync {
    /// Whether the step runs, when its condition needs the run state;
    /// `None` when the step's [`StepWhen`](super::StepWhen) decides. An
    /// `Err` is a condition that could not be evaluated: the step fails
    /// with that message.
    fn runs(&self, state: &RunState) -> Option<Result<bool, String>>;

    /// The step to run: `step` with what was deferred filled in.
    fn render(&self, step: &Step, state: &RunState) -> Result<Step, String>;

    /// The condition as written when it is decided at run time, for
    /// `list` and dry runs.
    fn condition(&self) -> Option<&str>;
}

/// What a dialect decides about a job at run time.
pub trait JobTemplate: Debug + Send + Sync {
    /// Whether the job runs, when its condition needs the results of the
    /// jobs it needs (`state.needs`); `None` when its `when` decides.
    fn runs(&self, state: &RunState) -> Option<Result<bool, String>>;

    /// The job to run: `job` with what was deferred filled in (an env
    /// value taken from a needed job's outputs).
    fn render(&self, job: &Job, state: &RunState) -> Result<Job, String>;

    /// The job's outputs, once its steps have run (`state.steps`).
    fn outputs(&self, state: &RunState) -> Result<Vec<(String, String)>, String>;

    /// The outputs' names and values as written, for `list`.
    fn outputs_written(&self) -> Vec<(&str, &str)>;

    /// The condition as written when it is decided at run time.
    fn condition(&self) -> Option<&str>;
}

/// Files each step may write to pass values to later steps, and the
/// variables that tell the step where they are. `None` for a variable:
/// that file is not offered. Each file holds `NAME=value` lines or
/// `NAME<<DELIMITER` ... `DELIMITER` blocks for values of several lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepFiles {
    /// Variables set for the later steps (GitHub: `GITHUB_ENV`).
    pub env: Option<String>,
    /// The step's outputs (GitHub: `GITHUB_OUTPUT`).
    pub output: Option<String>,
    /// Directories put in front of `PATH` for later steps, one per line
    /// (GitHub: `GITHUB_PATH`).
    pub path: Option<String>,
    /// Markdown kept as the job's summary (GitHub:
    /// `GITHUB_STEP_SUMMARY`).
    pub summary: Option<String>,
}
