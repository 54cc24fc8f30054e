//! What a run did: one [`JobReport`] per planned job, and the exit code.
//!
//! # Exit codes
//!
//! [`RunReport::exit_code`] answers one question: did every *required* job
//! pass?
//!
//! - **130** when the run was cancelled (Ctrl-C or SIGTERM), like a shell
//!   killed by SIGINT, whatever the jobs did before.
//! - **1** when a job ended [`Failed`](JobStatus::Failed) or
//!   [`TimedOut`](JobStatus::TimedOut). Only jobs without `allow_failure`
//!   end this way: an allowed failure is recorded as
//!   [`FailedAllowed`](JobStatus::FailedAllowed).
//! - **0** otherwise.
//!
//! [`Skipped`](JobStatus::Skipped) never decides the exit code by itself,
//! and it does not have to: a job is skipped either because of a failure
//! *that is itself in the report* (a need that failed or was skipped in
//! turn — its root cause is a `Failed` or `TimedOut` job, which already
//! makes the code 1), or for a reason that is no failure at all (a
//! `when: on_failure` job when nothing failed), or because the run was
//! cancelled (code 130). An allowed failure never causes a skip: for the
//! jobs that need it, it counts as passed.

use std::time::Duration;

/// Exit code when a required job failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit code when the run was cancelled (128 + SIGINT).
pub const EXIT_CANCELLED: i32 = 130;

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Every step that had to pass passed.
    Passed,
    /// A step failed (or the job could not be prepared).
    Failed,
    /// The job failed or timed out, but has `allow_failure`.
    FailedAllowed,
    /// The job did not run: see its message for why.
    Skipped,
    /// The run was cancelled while the job ran.
    Cancelled,
    /// A step or the job hit its `timeout`.
    TimedOut,
}

impl JobStatus {
    /// Lower-case words for tables and status lines.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Passed => "passed",
            JobStatus::Failed => "failed",
            JobStatus::FailedAllowed => "failed (allowed)",
            JobStatus::Skipped => "skipped",
            JobStatus::Cancelled => "cancelled",
            JobStatus::TimedOut => "timed out",
        }
    }

    /// One character that says the same at a glance.
    pub fn symbol(self) -> &'static str {
        match self {
            JobStatus::Passed => "✓",
            JobStatus::Failed => "✗",
            JobStatus::FailedAllowed => "!",
            JobStatus::Skipped => "⊘",
            JobStatus::Cancelled => "■",
            JobStatus::TimedOut => "⏱",
        }
    }

    /// Whether jobs that need this one may run (`when: on_success`): it
    /// passed, or it failed but was allowed to.
    pub fn counts_as_passed(self) -> bool {
        matches!(self, JobStatus::Passed | JobStatus::FailedAllowed)
    }

    /// Whether this status makes the run fail.
    pub fn fails_run(self) -> bool {
        matches!(self, JobStatus::Failed | JobStatus::TimedOut)
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one job went.
#[derive(Debug, Clone, PartialEq)]
pub struct JobReport {
    pub name: String,
    pub status: JobStatus,
    /// From the moment the job started (after waiting for a slot) to its
    /// end, cleanup included; zero for a job that never started.
    pub duration: Duration,
    /// How many times the job ran: 1 normally, more after `retry`, 0 when
    /// it never started.
    pub attempts: u32,
    /// Why it failed, timed out or was skipped, in a few words.
    pub message: Option<String>,
}

/// How the whole run went: one report per planned job, in plan order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunReport {
    pub jobs: Vec<JobReport>,
    /// The run was cancelled (Ctrl-C, SIGTERM, or its token otherwise).
    pub cancelled: bool,
}

impl RunReport {
    /// The process exit code for this run; see the [module docs](self).
    pub fn exit_code(&self) -> i32 {
        if self.cancelled || self.jobs.iter().any(|j| j.status == JobStatus::Cancelled) {
            EXIT_CANCELLED
        } else if self.jobs.iter().any(|j| j.status.fails_run()) {
            EXIT_FAILED
        } else {
            0
        }
    }

    /// How many jobs ended with `status`.
    pub fn count(&self, status: JobStatus) -> usize {
        self.jobs.iter().filter(|j| j.status == status).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(statuses: &[JobStatus]) -> RunReport {
        RunReport {
            jobs: statuses
                .iter()
                .enumerate()
                .map(|(i, &status)| JobReport {
                    name: format!("j{i}"),
                    status,
                    duration: Duration::ZERO,
                    attempts: 1,
                    message: None,
                })
                .collect(),
            cancelled: false,
        }
    }

    #[test]
    fn exit_codes() {
        use JobStatus::*;
        assert_eq!(report(&[]).exit_code(), 0);
        assert_eq!(report(&[Passed, FailedAllowed, Skipped]).exit_code(), 0);
        assert_eq!(report(&[Passed, Failed, Skipped]).exit_code(), 1);
        assert_eq!(report(&[TimedOut]).exit_code(), 1);
        assert_eq!(report(&[Failed, Cancelled]).exit_code(), 130);
        let mut cancelled = report(&[Skipped]);
        cancelled.cancelled = true;
        assert_eq!(cancelled.exit_code(), 130);
    }
}
