//! The one internal pipeline model.
//!
//! Every dialect parser (native, GitLab, GitHub) produces a [`Pipeline`];
//! the planner, the scheduler, the policy engine and the backends read only
//! this. Every node that came from a file keeps its [`Loc`] so errors and
//! policy findings can point at the exact key a user wrote.
//!
//! A pipeline here is already concrete: matrices are expanded into jobs,
//! `needs` name concrete jobs, environment from the pipeline level is merged
//! into each job, and durations and sizes are parsed.

mod env;
mod location;
mod matrix;
mod runtime;
mod security;

pub use env::{Env, EnvVar};
pub use location::{Loc, Located};
pub use matrix::{MatrixCombo, expand_name};
pub use runtime::{
    Conclusion, JobTemplate, NeedState, RunState, StepFiles, StepState, StepTemplate,
};
pub use security::{
    AppArmorMode, NamespaceMode, NetworkMode, Propagation, SeccompMode, Security, Volume,
};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Which file format a pipeline was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Native,
    GitLab,
    GitHub,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Native => "native",
            Dialect::GitLab => "gitlab",
            Dialect::GitHub => "github",
        }
    }
}

/// A whole pipeline: jobs in the order they were written.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    pub dialect: Dialect,
    /// The file the pipeline was read from.
    pub file: Arc<PathBuf>,
    /// Declared stage order. Jobs whose `stage` is set run after every job
    /// of an earlier stage unless they declare `needs` (GitLab semantics).
    pub stages: Vec<String>,
    pub jobs: Vec<Job>,
    /// Why this pipeline runs code an outsider may control, when its own
    /// definition says so (a GitHub workflow triggered by
    /// `pull_request_target`): the policy engine treats it as untrusted.
    pub untrusted_input: Option<Located<String>>,
}

impl Pipeline {
    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.name == name)
    }
}

/// One job: a container (its image) in which steps run one after another.
#[derive(Debug, Clone)]
pub struct Job {
    /// Unique name; matrix jobs are named `test [RUST=1.80]`.
    pub name: String,
    /// The name as written, before matrix expansion (`test`).
    pub template: String,
    /// Where the job's key was written.
    pub loc: Loc,
    pub stage: Option<String>,
    /// `None`: the job depends on earlier stages. `Some(list)`: exactly these
    /// jobs (an empty list runs at once), GitLab's and GitHub's `needs`.
    pub needs: Option<Vec<Need>>,
    /// Image reference; `None` means the pipeline default applies and there
    /// was none either, which backends treat as `host`.
    pub image: Option<Located<String>>,
    /// Pipeline-level env merged with the job's own (job wins).
    pub env: Env,
    /// Values of this job's matrix combination, also present in `env`.
    pub matrix: MatrixCombo,
    pub steps: Vec<Step>,
    pub services: Vec<Service>,
    pub artifacts: Vec<Located<String>>,
    /// Whose artifacts are copied into this job's workspace before its
    /// first step. The dialect decides (GitLab: earlier stages, `needs`,
    /// `dependencies`); the runner only follows the list.
    pub artifacts_from: ArtifactsFrom,
    pub cache: Option<Cache>,
    pub timeout: Option<Located<Duration>>,
    /// How many times a failed job is run again (0: never).
    pub retry: u32,
    /// Which failures of this job do not fail the run.
    pub allow_failure: AllowFailure,
    pub when: When,
    /// The `if:` condition as written; the planner evaluates it.
    pub condition: Option<Located<String>>,
    /// Set when the dialect already decided, with what is known before the
    /// run, that this job does not run — a GitHub `if:` that is false for
    /// the chosen event, or a job that needs such a job. The planner leaves
    /// the job out and gives this reason, rather than the misleading
    /// "it has `when: never`". `None` for almost every job.
    pub skipped: Option<Skipped>,
    pub resources: Resources,
    pub security: Security,
    /// Host directories the `host` image shows the job read-only, beyond
    /// its system directories (`host_paths:` in the file, `--host-path` on
    /// the command line): toolchains in a home directory, such as
    /// `~/.cargo`. As written (`~/` is the invoking user's home); the
    /// backend resolves them.
    pub host_paths: Vec<Located<String>>,
    /// What the dialect decides only at run time (a condition on the
    /// results of needed jobs, env from their outputs, the job's own
    /// outputs); see [`runtime`].
    pub deferred: Option<Arc<dyn JobTemplate>>,
    /// Files through which steps pass values on; `None`: none offered.
    pub step_files: Option<StepFiles>,
}

/// Why a job is left out of every run with the current options, decided by
/// its dialect at load time (see [`Job::skipped`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Completes "`deploy` is not in this run: ...", e.g.
    /// "`if: github.event_name == 'push'` is false for event `pull_request`".
    pub reason: String,
    /// What the user can do so that the job runs, e.g. "choose the event
    /// with `--event push`".
    pub help: String,
    /// The key that decided it (the `if:`, or the `needs` entry naming a
    /// skipped job).
    pub loc: Loc,
}

impl Job {
    /// A job with no steps and every setting at its default: the starting
    /// point for dialect parsers and tests, which then set what they read.
    pub fn new(name: impl Into<String>, loc: Loc) -> Job {
        let name = name.into();
        Job {
            template: name.clone(),
            name,
            loc,
            stage: None,
            needs: None,
            image: None,
            env: Env::new(),
            matrix: Vec::new(),
            steps: Vec::new(),
            services: Vec::new(),
            artifacts: Vec::new(),
            artifacts_from: ArtifactsFrom::Needs,
            cache: None,
            timeout: None,
            retry: 0,
            allow_failure: AllowFailure::No,
            when: When::OnSuccess,
            condition: None,
            skipped: None,
            resources: Resources::default(),
            security: Security::default(),
            host_paths: Vec::new(),
            deferred: None,
            step_files: None,
        }
    }
}

/// Which failures of a job are accepted: they are reported, but the run
/// does not fail and the jobs that need it still run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AllowFailure {
    /// Every failure fails the run (the default).
    #[default]
    No,
    /// Every failure, timeouts included, is accepted.
    Yes,
    /// Only a step that exits with one of these codes (GitLab's
    /// `allow_failure: exit_codes`); any other failure, a timeout or a
    /// signal fails the run.
    ExitCodes(Vec<i32>),
}

impl AllowFailure {
    /// Is a failure accepted? `exit_code` is the exit code of the step
    /// that failed the job, `None` when it was no exit (a timeout, a
    /// signal, a job that could not be prepared).
    pub fn accepts(&self, exit_code: Option<i32>) -> bool {
        match self {
            AllowFailure::No => false,
            AllowFailure::Yes => true,
            AllowFailure::ExitCodes(codes) => exit_code.is_some_and(|c| codes.contains(&c)),
        }
    }

    /// Whether some failure may be accepted (for plan tags and tests).
    pub fn is_allowed(&self) -> bool {
        !matches!(self, AllowFailure::No)
    }
}

impl From<bool> for AllowFailure {
    fn from(allowed: bool) -> Self {
        if allowed {
            AllowFailure::Yes
        } else {
            AllowFailure::No
        }
    }
}

/// `false`, `true`, `exit codes 137, 255`: as snapshots and plans show it.
impl std::fmt::Display for AllowFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AllowFailure::No => f.write_str("false"),
            AllowFailure::Yes => f.write_str("true"),
            AllowFailure::ExitCodes(codes) => {
                let codes: Vec<String> = codes.iter().map(i32::to_string).collect();
                write!(f, "exit codes {}", codes.join(", "))
            }
        }
    }
}

/// Whose artifacts a job receives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ArtifactsFrom {
    /// The jobs in its `needs` (native and GitHub pipelines); none when it
    /// has no `needs`.
    #[default]
    Needs,
    /// Exactly these jobs, restored in this order (a later job's files win
    /// over an earlier one's). An empty list: none.
    Jobs(Vec<String>),
}

impl ArtifactsFrom {
    /// The jobs, in restore order, whose artifacts `job` receives.
    pub fn jobs<'a>(&'a self, job: &'a Job) -> Vec<&'a str> {
        match self {
            ArtifactsFrom::Needs => job.needs.iter().flatten().map(|n| n.job.as_str()).collect(),
            ArtifactsFrom::Jobs(jobs) => jobs.iter().map(String::as_str).collect(),
        }
    }
}

/// A dependency on another job.
#[derive(Debug, Clone)]
pub struct Need {
    pub job: String,
    /// GitLab's `optional: true`: no error when the job is not in the run.
    pub optional: bool,
    pub loc: Loc,
}

/// One command run inside the job (or in its own container, with `image`).
#[derive(Debug, Clone)]
pub struct Step {
    /// Display name: the `name:` key, else the first line of `run`.
    pub name: String,
    /// The script, run by the shell.
    pub run: String,
    /// The shell and arguments that run the script; the script is appended
    /// as the last argument. Default: `sh -e -c`.
    pub shell: Vec<String>,
    /// A step with its own image runs in a container of its own that
    /// shares the job's workspace.
    pub image: Option<Located<String>>,
    /// The step's own env (the job's env is below it).
    pub env: Env,
    pub workdir: Option<Located<String>>,
    pub timeout: Option<Located<Duration>>,
    /// A failure of this step does not fail the job.
    pub continue_on_error: bool,
    /// When the step runs, given how the steps before it went.
    pub when: StepWhen,
    pub loc: Loc,
    /// The name later steps refer to this one by (GitHub's `id`).
    pub id: Option<String>,
    /// What the dialect decides only at run time; see [`runtime`].
    pub deferred: Option<Arc<dyn StepTemplate>>,
}

impl Step {
    /// The default shell for `run:` scripts: stop at the first failing
    /// command, as GitLab and GitHub do.
    pub fn default_shell() -> Vec<String> {
        vec!["sh".into(), "-e".into(), "-c".into()]
    }

    /// A step running `run` with the default shell and no other settings.
    pub fn new(name: impl Into<String>, run: impl Into<String>, loc: Loc) -> Step {
        Step {
            name: name.into(),
            run: run.into(),
            shell: Step::default_shell(),
            image: None,
            env: Env::new(),
            workdir: None,
            timeout: None,
            continue_on_error: false,
            when: StepWhen::OnSuccess,
            loc,
            id: None,
            deferred: None,
        }
    }
}

/// When a step runs relative to the earlier steps' results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StepWhen {
    /// Only while every earlier step passed (the default).
    #[default]
    OnSuccess,
    /// Only after an earlier step failed.
    OnFailure,
    /// Whatever happened before (GitLab's `after_script`).
    Always,
}

/// A helper container started before the first step and reachable by alias.
#[derive(Debug, Clone)]
pub struct Service {
    pub image: Located<String>,
    pub alias: String,
    pub env: Env,
    /// Overrides the image's command when set.
    pub command: Option<Vec<String>>,
    /// TCP ports the service listens on inside its own container (1 to
    /// 65535). They are a readiness signal, not a publication: before the
    /// first step, the backend waits until each one accepts a connection
    /// on the job's network. Nothing is published on the host.
    pub ports: Vec<Located<u16>>,
    pub loc: Loc,
}

/// A keyed cache of paths kept between runs.
#[derive(Debug, Clone)]
pub struct Cache {
    pub key: String,
    pub paths: Vec<Located<String>>,
    pub loc: Loc,
}

/// When a job runs relative to the jobs before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum When {
    /// When everything it depends on passed (the default).
    #[default]
    OnSuccess,
    /// Only when something it depends on failed.
    OnFailure,
    /// Whatever happened before.
    Always,
    /// Only when selected explicitly with `--job`.
    Manual,
    /// Never.
    Never,
}

impl When {
    pub const NAMES: &'static [&'static str] =
        &["on_success", "on_failure", "always", "manual", "never"];

    pub fn parse(s: &str) -> Option<When> {
        Some(match s {
            "on_success" => When::OnSuccess,
            "on_failure" => When::OnFailure,
            "always" => When::Always,
            "manual" => When::Manual,
            "never" => When::Never,
            _ => return None,
        })
    }
}

/// Limits for the job's containers. `None`: not limited.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    /// Bytes.
    pub memory: Option<Located<u64>>,
    pub pids: Option<Located<u64>>,
    /// CPUs, fractional (`0.5`).
    pub cpus: Option<Located<f64>>,
}
