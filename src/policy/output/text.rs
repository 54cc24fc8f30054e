//! Findings for people: grouped by job, each with the offending line shown
//! (rustc/zizmor style), then one summary line per severity.

use std::fmt::Write;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

use crate::diag::snippet_range;
use crate::policy::finding::{Finding, Severity};
use crate::policy::{Summary, rules};

use super::Meta;

/// How to render.
#[derive(Debug, Clone, Copy)]
pub struct TextOptions {
    pub color: bool,
    /// Findings below this are counted in the summary but not shown.
    pub min_severity: Severity,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            color: false,
            min_severity: Severity::Low,
        }
    }
}

/// The whole report: a header, findings by job, the summary.
pub fn render(
    findings: &[Finding],
    source: Option<&str>,
    meta: &Meta,
    opts: TextOptions,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "policy: pipeline `{}` ({}) judged for {} mode{}{}\n",
        meta.pipeline,
        meta.file.display(),
        meta.cx.mode.as_str(),
        if meta.cx.requested.as_str() == meta.cx.mode.as_str() {
            String::new()
        } else {
            format!(" (--mode {})", meta.cx.requested.as_str())
        },
        if meta.cx.untrusted { ", untrusted" } else { "" },
    );
    let shown: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.is_reported() && f.severity >= opts.min_severity)
        .collect();
    let mut jobs: Vec<Option<&str>> = Vec::new();
    for f in &shown {
        if !jobs.contains(&f.job.as_deref()) {
            jobs.push(f.job.as_deref());
        }
    }
    for job in jobs {
        match job {
            Some(name) => {
                let _ = writeln!(out, "job `{name}`:\n");
            }
            None => {
                let _ = writeln!(out, "pipeline:\n");
            }
        }
        for f in shown.iter().filter(|f| f.job.as_deref() == job) {
            let _ = writeln!(out, "{}\n", finding(f, source, opts.color));
        }
    }
    out.push_str(&summary(findings, opts.min_severity));
    out
}

/// One finding with its snippet, note and the safer alternative.
pub fn finding(f: &Finding, source: Option<&str>, color: bool) -> String {
    let level = if f.is_denied() {
        Level::ERROR
    } else {
        Level::WARNING
    };
    let title = format!(
        "[{}] {}: {}{}",
        f.rule,
        f.severity,
        f.title,
        if f.is_denied() { " (denied)" } else { "" }
    );
    let safer = rules::find(f.rule).map(|r| r.meta().safer);
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let path = f.loc.path().display().to_string();
    let snippet = source
        .filter(|_| f.loc.line() > 0)
        .and_then(|text| snippet_range(text, f.loc.line(), f.loc.col()));
    let Some((line_start, range, line_text)) = snippet else {
        let mut s = format!("{}: {title}\n  {}", f.loc, f.message);
        if let Some(note) = &f.note {
            let _ = write!(s, "\n  note: {note}");
        }
        if let Some(safer) = safer {
            let _ = write!(s, "\n  help: {safer}");
        }
        return s;
    };
    let mut report = vec![
        level.primary_title(&title).element(
            Snippet::source(line_text)
                .line_start(line_start)
                .path(&path)
                .annotation(AnnotationKind::Primary.span(range).label(&f.message)),
        ),
    ];
    if let Some(note) = &f.note {
        report.push(Group::with_title(Level::NOTE.secondary_title(note)));
    }
    if let Some(reason) = &f.exception {
        report.push(Group::with_title(
            Level::NOTE.secondary_title(format!("policy exception: {reason}")),
        ));
    }
    if let Some(safer) = safer {
        report.push(Group::with_title(Level::HELP.secondary_title(safer)));
    }
    renderer.render(&report)
}

/// One line per severity, then what the policy decided.
pub fn summary(findings: &[Finding], min_severity: Severity) -> String {
    let s = Summary::of(findings);
    let mut out = String::new();
    for severity in Severity::DESCENDING {
        let n = s.count(severity);
        let denied = findings
            .iter()
            .filter(|f| f.severity == severity && f.is_denied())
            .count();
        let _ = write!(out, "{:<10}{n}", format!("{severity}:"));
        if denied > 0 {
            let _ = write!(out, " ({denied} denied)");
        }
        if severity < min_severity && n > 0 {
            out.push_str(" (not shown; `nestci policy check` lists them)");
        }
        out.push('\n');
    }
    if s.suppressed > 0 {
        let _ = writeln!(
            out,
            "{} finding{} suppressed by the policy file",
            s.suppressed,
            if s.suppressed == 1 { "" } else { "s" }
        );
    }
    out
}
