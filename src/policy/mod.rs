//! The policy engine: before anything runs, judge what a pipeline could do
//! to the host in the mode it will run in.
//!
//! - [`rules`] holds one file per rule: its metadata ([`RuleMeta`]: stable
//!   id, severity, risk, safer alternative, public reference) beside its
//!   check.
//! - [`engine::check`] is a pure function of the pipeline, the mode (with
//!   [`HostFacts`] when known) and the [`PolicyConfig`]; it returns
//!   [`Finding`]s, each located at the key that caused it.
//! - [`config`] reads `.nestci/policy.yml` (deny/warn/ignore per rule,
//!   per-job exceptions with a required reason).
//! - [`output`] renders findings as text, JSON or SARIF 2.1.0.
//!
//! The same job is judged differently per mode: in dind mode the user
//! namespace maps container root to an unprivileged host uid, which lowers
//! or removes findings it neutralises (and the finding says why); in dood
//! mode the host's Docker daemon runs the job, so root-in-the-job and
//! engine-socket findings apply to the mode itself.

pub mod config;
pub mod engine;
pub mod facts;
pub mod finding;
pub mod output;
pub mod rule;
pub mod rules;

pub use config::{Exception, PolicyConfig, PolicyFileError};
pub use engine::{Context, JudgedMode, check};
pub use facts::HostFacts;
pub use finding::{Action, Finding, Severity};
pub use rule::{Hit, Rule, RuleMeta};

/// Counts of reported findings per severity, and of the decisions taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    /// Findings the policy refuses.
    pub denied: usize,
    /// Findings silenced by `ignore` or an exception.
    pub suppressed: usize,
}

impl Summary {
    pub fn of(findings: &[Finding]) -> Summary {
        let mut s = Summary::default();
        for f in findings {
            if !f.is_reported() {
                s.suppressed += 1;
                continue;
            }
            if f.is_denied() {
                s.denied += 1;
            }
            *s.count_mut(f.severity) += 1;
        }
        s
    }

    pub fn count(&self, severity: Severity) -> usize {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
        }
    }

    fn count_mut(&mut self, severity: Severity) -> &mut usize {
        match severity {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
        }
    }
}
