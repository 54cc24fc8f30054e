//! The table printed at the end of a run.
//!
//! ```text
//! JOB      STATUS             DURATION  ATTEMPTS  MESSAGE
//! build    ✓ passed               3.2s         1
//! test     ✗ failed               1.0s         2  step `unit` failed with exit code 3
//! deploy   ⊘ skipped                 -         -  needs `test`, which failed
//!
//! 1 passed, 1 failed, 1 skipped — exit code 1
//! ```
//!
//! Columns are aligned by characters (not bytes), durations right-aligned
//! so their units line up. Plain text: it is as readable in a CI log as on
//! a terminal.

use std::time::Duration;

use super::report::{JobStatus, RunReport};

/// Render `report` as an aligned table plus a one-line tally.
pub fn render(report: &RunReport) -> String {
    let header = ["JOB", "STATUS", "DURATION", "ATTEMPTS", "MESSAGE"];
    let rows: Vec<[String; 5]> = report
        .jobs
        .iter()
        .map(|j| {
            let ran = j.attempts > 0;
            [
                j.name.clone(),
                format!("{} {}", j.status.symbol(), j.status.as_str()),
                if ran { elapsed(j.duration) } else { "-".into() },
                if ran {
                    j.attempts.to_string()
                } else {
                    "-".into()
                },
                j.message.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Right-align the numbers.
    let right = [false, false, true, true, false];
    let line = |cells: [&str; 5]| {
        let mut out = String::new();
        for (k, cell) in cells.iter().enumerate() {
            if k > 0 {
                out.push_str("  ");
            }
            let pad = widths[k].saturating_sub(cell.chars().count());
            if right[k] {
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(header);
    out.push('\n');
    for row in &rows {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&tally(report));
    out.push('\n');
    out
}

/// `2 passed, 1 failed — exit code 1`.
fn tally(report: &RunReport) -> String {
    let order = [
        JobStatus::Passed,
        JobStatus::FailedAllowed,
        JobStatus::Failed,
        JobStatus::TimedOut,
        JobStatus::Cancelled,
        JobStatus::Skipped,
    ];
    let parts: Vec<String> = order
        .iter()
        .filter_map(|&s| {
            let n = report.count(s);
            (n > 0).then(|| format!("{n} {}", s.as_str()))
        })
        .collect();
    let counts = if parts.is_empty() {
        "no jobs ran".to_string()
    } else {
        parts.join(", ")
    };
    let mut line = format!("{counts} — exit code {}", report.exit_code());
    if report.cancelled {
        line.push_str(" (cancelled)");
    }
    line
}

/// A duration as people read it on a status line: `0.4s`, `3.2s`, `42s`,
/// `1m 05s`, `2h 03m`.
pub fn elapsed(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 10.0 {
        format!("{secs:.1}s")
    } else if secs < 60.0 {
        format!("{secs:.0}s")
    } else if secs < 3600.0 {
        let s = d.as_secs();
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        let s = d.as_secs();
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::report::JobReport;

    #[test]
    fn durations() {
        assert_eq!(elapsed(Duration::from_millis(420)), "0.4s");
        assert_eq!(elapsed(Duration::from_millis(3240)), "3.2s");
        assert_eq!(elapsed(Duration::from_secs(42)), "42s");
        assert_eq!(elapsed(Duration::from_secs(65)), "1m 05s");
        assert_eq!(elapsed(Duration::from_secs(7380)), "2h 03m");
    }

    #[test]
    fn table_is_aligned() {
        let report = RunReport {
            jobs: vec![
                JobReport {
                    name: "build".into(),
                    status: JobStatus::Passed,
                    duration: Duration::from_millis(3200),
                    attempts: 1,
                    message: None,
                },
                JobReport {
                    name: "test [RUST=1.80]".into(),
                    status: JobStatus::Failed,
                    duration: Duration::from_secs(75),
                    attempts: 2,
                    message: Some("step `unit` failed with exit code 3".into()),
                },
                JobReport {
                    name: "deploy".into(),
                    status: JobStatus::Skipped,
                    duration: Duration::ZERO,
                    attempts: 0,
                    message: Some("needs `test [RUST=1.80]`, which failed".into()),
                },
            ],
            cancelled: false,
        };
        let expected = "\
JOB               STATUS     DURATION  ATTEMPTS  MESSAGE
build             ✓ passed       3.2s         1
test [RUST=1.80]  ✗ failed     1m 15s         2  step `unit` failed with exit code 3
deploy            ⊘ skipped         -         -  needs `test [RUST=1.80]`, which failed

1 passed, 1 failed, 1 skipped — exit code 1
";
        assert_eq!(render(&report), expected);
    }
}
