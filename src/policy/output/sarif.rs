//! Findings for code-scanning tools: SARIF 2.1.0 as GitHub code scanning
//! accepts it (rules with ids in `tool.driver.rules`, results with
//! `ruleId`, `level`, a message and a relative `artifactLocation.uri` with
//! a region). Suppressed findings carry a `suppressions` entry with the
//! exception's reason. Validated against the official schema in
//! `tests/policy.rs`.

use serde_json::{Value, json};

use crate::policy::finding::{Action, Finding, Severity};
use crate::policy::rules;

use super::{Meta, uri};

pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// SARIF's level for a finding: what the policy decided.
fn level(action: Action) -> &'static str {
    match action {
        Action::Deny => "error",
        Action::Warn => "warning",
        Action::Ignore => "note",
    }
}

/// GitHub's `security-severity` property (a CVSS-like score) maps onto its
/// critical/high/medium/low labels.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
    }
}

pub fn report(findings: &[Finding], meta: &Meta) -> Value {
    let rules: Vec<Value> = rules::ALL
        .iter()
        .map(|r| {
            let m = r.meta();
            let mut rule = json!({
                "id": m.id,
                "name": m.name,
                "shortDescription": { "text": m.title },
                "fullDescription": { "text": m.risk },
                "help": {
                    "text": format!("{}\n\nReference: {}", m.safer, m.reference),
                },
                "defaultConfiguration": { "level": level(crate::policy::Action::default_for(m.severity)) },
                "properties": {
                    "security-severity": security_severity(m.severity),
                    "tags": ["security"],
                },
            });
            if let Some(uri) = m.help_uri {
                rule["helpUri"] = json!(uri);
            }
            rule
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let index = rules::ALL.iter().position(|r| r.meta().id == f.rule);
            let mut text = f.message.clone();
            if let Some(job) = &f.job {
                text = format!("{text} (job `{job}`)");
            }
            if let Some(note) = &f.note {
                text = format!("{text}. Note: {note}");
            }
            let mut region = json!({ "startLine": f.loc.line().max(1) });
            if f.loc.col() > 0 {
                region["startColumn"] = json!(f.loc.col());
            }
            let mut result = json!({
                "ruleId": f.rule,
                "level": level(f.action),
                "message": { "text": text },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(f.loc.path()) },
                        "region": region,
                    }
                }],
                "properties": {
                    "severity": f.severity.as_str(),
                    "security-severity": security_severity(f.severity),
                    "job": f.job,
                },
            });
            if let Some(i) = index {
                result["ruleIndex"] = json!(i);
            }
            if f.action == Action::Ignore {
                let justification = f
                    .exception
                    .clone()
                    .unwrap_or_else(|| "ignored by the policy file".to_string());
                result["suppressions"] = json!([{
                    "kind": "external",
                    "justification": justification,
                }]);
            }
            result
        })
        .collect();
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "nestci",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "automationDetails": {
                "id": format!("nestci-policy/{}/", meta.cx.mode.as_str()),
            },
            "results": results,
        }]
    })
}

pub fn render(findings: &[Finding], meta: &Meta) -> String {
    serde_json::to_string_pretty(&report(findings, meta))
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialize the report: {e}\"}}"))
}
