//! What the policy engine reports: one [`Finding`] per risky thing a job
//! asks for, with its rule, severity and the place it was written.

use std::fmt;

use serde::Serialize;

use crate::model::Loc;

/// How bad a finding is, from the point of view of the host running the
/// job. Ordered: `Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Hygiene: worth fixing, not an escape path on its own.
    Low,
    /// Widens what a step can reach; dangerous in combination.
    Medium,
    /// A known escape path or a leak of something valuable.
    High,
    /// Root on the host (or its container engine) for anything in the step.
    Critical,
}

impl Severity {
    /// From the most to the least severe, for summaries.
    pub const DESCENDING: [Severity; 4] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// One step less severe (`Low` stays `Low`): what a mitigation such as
    /// the dind user namespace does to a finding it weakens.
    pub fn lowered(self) -> Severity {
        match self {
            Severity::Critical => Severity::High,
            Severity::High => Severity::Medium,
            Severity::Medium | Severity::Low => Severity::Low,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens because of a finding, decided by the policy file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `nestci run` refuses the pipeline (exit 3).
    Deny,
    /// Printed, the run goes on.
    Warn,
    /// Not reported (kept in JSON and SARIF as suppressed when an
    /// exception with a reason silenced it).
    Ignore,
}

impl Action {
    pub const NAMES: &'static [&'static str] = &["deny", "warn", "ignore"];

    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "deny" => Action::Deny,
            "warn" => Action::Warn,
            "ignore" => Action::Ignore,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Deny => "deny",
            Action::Warn => "warn",
            Action::Ignore => "ignore",
        }
    }

    /// Without a policy file: critical findings are refused, the rest warn.
    pub fn default_for(severity: Severity) -> Action {
        if severity == Severity::Critical {
            Action::Deny
        } else {
            Action::Warn
        }
    }
}

/// One risky thing in one job.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The rule's stable id, `NCI001`.
    pub rule: &'static str,
    /// The rule's short name, `privileged`.
    pub name: &'static str,
    /// The severity for this job in this mode (a mitigation may have
    /// lowered it from the rule's default).
    pub severity: Severity,
    /// The rule's title.
    pub title: &'static str,
    /// The job's name (`None` for findings about the pipeline or the mode).
    pub job: Option<String>,
    /// The offending key or value.
    pub loc: Loc,
    /// What exactly was found, in one sentence.
    pub message: String,
    /// Why the severity differs from the rule's default, or how the mode
    /// changes the picture.
    pub note: Option<String>,
    /// What the policy decided.
    pub action: Action,
    /// The exception that decided `action`, with its reason.
    pub exception: Option<String>,
}

impl Finding {
    pub fn is_denied(&self) -> bool {
        self.action == Action::Deny
    }

    pub fn is_reported(&self) -> bool {
        self.action != Action::Ignore
    }
}
