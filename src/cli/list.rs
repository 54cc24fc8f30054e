//! `nestci list`: the jobs with their stage, needs and image, then the DAG.

use crate::cli::{EXIT_USAGE, FileArg, Reporter};
use crate::model::Job;
use crate::plan::{self, PlanOptions};

pub fn list(args: &FileArg, reporter: &Reporter) -> i32 {
    let loaded = match reporter.load(args) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let plan = match plan::build(&loaded.pipeline, &PlanOptions::default()) {
        Ok(p) => p,
        Err(diags) => {
            reporter.diagnostics(&diags, Some(&loaded.text));
            return EXIT_USAGE;
        }
    };
    let p = &loaded.pipeline;
    let variants = plan::template_counts(p.jobs.iter());
    let rows: Vec<[String; 4]> = p
        .jobs
        .iter()
        .map(|j| {
            let needs = match &j.needs {
                Some(n) if n.is_empty() => "(none)".to_string(),
                Some(n) => {
                    let deps: Vec<&Job> = n.iter().filter_map(|n| p.job(&n.job)).collect();
                    plan::group_variants(&deps, &variants).join(", ")
                }
                None if j.stage.is_some() => "(earlier stages)".to_string(),
                None => "-".to_string(),
            };
            let image = j
                .image
                .as_ref()
                .map(|i| i.value.clone())
                .unwrap_or_else(|| "host".into());
            [
                j.name.clone(),
                j.stage.clone().unwrap_or_else(|| "-".into()),
                needs,
                image,
            ]
        })
        .collect();
    let mut text = format!(
        "{}\n\n{}",
        table(&["JOB", "STAGE", "NEEDS", "IMAGE"], &rows),
        plan.render_dag()
    );
    if let Some(section) = plan.render_left_out() {
        text = format!("{}\n\n{section}", text.trim_end());
    }
    reporter.print(&text)
}

/// Left-aligned columns separated by two spaces.
pub(crate) fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out.join("\n")
}
