//! The shape of a rule: its metadata (what users read in `nestci policy
//! explain`, the README table and SARIF) and its check (what the engine
//! runs on every job).
//!
//! A rule lives in one file under `rules/`, metadata beside the check, and
//! is registered with one line in [`rules::ALL`](super::rules::ALL).

use crate::model::{Job, Loc};

use super::engine::Context;
use super::finding::Severity;

/// Everything a user needs to judge a rule, independent of any pipeline.
#[derive(Debug)]
pub struct RuleMeta {
    /// Stable id, never reused: `NCI001`.
    pub id: &'static str,
    /// A short kebab-case name: `privileged`.
    pub name: &'static str,
    /// The severity of a finding before the mode is taken into account.
    pub severity: Severity,
    /// One line: what the rule finds.
    pub title: &'static str,
    /// The concrete risk: what an attacker inside the step gains.
    pub risk: &'static str,
    /// The safer alternative.
    pub safer: &'static str,
    /// The public guidance the rule follows (CIS Docker Benchmark item,
    /// Kubernetes Pod Security Standards control, GitHub hardening guide).
    pub reference: &'static str,
    /// A page explaining the reference, when there is a stable one.
    pub help_uri: Option<&'static str>,
}

/// A rule: metadata plus a check over one job in a [`Context`].
pub trait Rule: Sync {
    fn meta(&self) -> &'static RuleMeta;

    /// Push one [`Hit`] per offending key of `job` into `out`.
    fn check(&self, job: &Job, cx: &Context, out: &mut Vec<Hit>);
}

/// What a check found, before the engine turns it into a
/// [`Finding`](super::Finding) with the rule's metadata and the policy's
/// decision.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The offending key or value.
    pub loc: Loc,
    pub message: String,
    /// A severity other than the rule's default for this hit (a read-write
    /// mount, a mitigation of the mode).
    pub severity: Option<Severity>,
    /// Why the severity changed, or what the mode means for this hit.
    pub note: Option<String>,
    /// For hits inside a script: the text to look for in the source file
    /// from `loc` on, so the finding points at the very line.
    pub needle: Option<String>,
}

impl Hit {
    pub fn new(loc: &Loc, message: impl Into<String>) -> Hit {
        Hit {
            loc: loc.clone(),
            message: message.into(),
            severity: None,
            note: None,
            needle: None,
        }
    }

    pub fn severity(mut self, severity: Severity) -> Hit {
        self.severity = Some(severity);
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Hit {
        self.note = Some(note.into());
        self
    }

    /// The hit is the text `needle` somewhere in the script at `loc`.
    pub fn at_text(mut self, needle: impl Into<String>) -> Hit {
        self.needle = Some(needle.into());
        self
    }
}
