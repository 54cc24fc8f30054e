//! Findings for scripts. The field names are stable (documented in the
//! README, "JSON output"); new fields may be added, none renamed.

use serde::Serialize;

use crate::policy::finding::{Action, Finding, Severity};
use crate::policy::{Summary, rules};

use super::{Meta, uri};

/// The schema version; bumped only for incompatible changes.
pub const VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub version: u32,
    pub tool: Tool,
    pub pipeline: Pipeline<'a>,
    pub mode: ModeInfo,
    pub untrusted: bool,
    pub findings: Vec<JsonFinding<'a>>,
    pub summary: Summary,
}

#[derive(Debug, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Pipeline<'a> {
    pub name: &'a str,
    pub file: String,
}

#[derive(Debug, Serialize)]
pub struct ModeInfo {
    /// `--mode` as given: auto, dind or dood.
    pub requested: &'static str,
    /// What the pipeline was judged as: dind or dood.
    pub judged: &'static str,
}

#[derive(Debug, Serialize)]
pub struct JsonFinding<'a> {
    pub rule: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    /// The rule's severity before the mode changed it.
    pub default_severity: Severity,
    pub title: &'static str,
    pub job: Option<&'a str>,
    pub location: Location,
    pub message: &'a str,
    pub note: Option<&'a str>,
    pub action: Action,
    /// The policy exception's reason when one decided `action`.
    pub exception: Option<&'a str>,
    pub reference: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Location {
    pub file: String,
    /// 1-based; 0 when the finding has no place in a file.
    pub line: u32,
    pub column: u32,
}

/// Every finding, suppressed ones included (with `action: "ignore"`).
pub fn report<'a>(findings: &'a [Finding], meta: &'a Meta) -> Report<'a> {
    Report {
        version: VERSION,
        tool: Tool {
            name: "nestci",
            version: env!("CARGO_PKG_VERSION"),
        },
        pipeline: Pipeline {
            name: meta.pipeline,
            file: uri(meta.file),
        },
        mode: ModeInfo {
            requested: meta.cx.requested.as_str(),
            judged: meta.cx.mode.as_str(),
        },
        untrusted: meta.cx.untrusted,
        findings: findings
            .iter()
            .map(|f| {
                let rule = rules::find(f.rule).map(|r| r.meta());
                JsonFinding {
                    rule: f.rule,
                    name: f.name,
                    severity: f.severity,
                    default_severity: rule.map_or(f.severity, |r| r.severity),
                    title: f.title,
                    job: f.job.as_deref(),
                    location: Location {
                        file: uri(f.loc.path()),
                        line: f.loc.line(),
                        column: f.loc.col(),
                    },
                    message: &f.message,
                    note: f.note.as_deref(),
                    action: f.action,
                    exception: f.exception.as_deref(),
                    reference: rule.map_or("", |r| r.reference),
                }
            })
            .collect(),
        summary: Summary::of(findings),
    }
}

/// The report as pretty-printed JSON.
pub fn render(findings: &[Finding], meta: &Meta) -> String {
    serde_json::to_string_pretty(&report(findings, meta)).unwrap_or_else(|e| {
        // Serializing plain structs of strings and numbers cannot fail;
        // say so in JSON rather than panic if it ever does.
        format!("{{\"error\": \"cannot serialize the report: {e}\"}}")
    })
}
