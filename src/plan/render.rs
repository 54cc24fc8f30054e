//! The plan as text, for `nestci list`.
//!
//! One numbered block per wave (see [`Plan::waves`]); each job on its own
//! line with an arrow to what it waits for and tags for anything unusual:
//!
//! ```text
//! 6 jobs in 4 waves
//! 1  build
//!    lint
//! 2  test [RUST=1.80]  ← build
//!    test [RUST=1.81]  ← build
//! 3  deploy            ← stages build, test  [manual] [allow failure]
//! 4  notify            ← test (all 2 variants)  [on failure]
//! ```
//!
//! A job with `needs` lists the jobs it needs; a job that waits because of
//! its stage says "stages …" rather than listing every job of those stages,
//! which could be hundreds; all the variants of a matrix job read as one
//! entry. Long lists are cut after a few names. Names are padded to one
//! column across the whole DAG so the arrows line up. Plain
//! text only (no colour): the output is as readable piped into a file.

use std::collections::HashMap;
use std::fmt::Write;

use crate::model::{Job, When};

use super::Plan;

/// At most this many names after an arrow; the rest are counted.
const MAX_LISTED: usize = 5;
/// Names longer than this do not widen the column for the others.
const MAX_PAD: usize = 40;

pub(super) fn render(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.jobs.is_empty() {
        out.push_str("no jobs to run\n");
        return out;
    }
    let waves = plan.waves();
    let _ = writeln!(
        out,
        "{} in {}",
        plural(plan.jobs.len(), "job"),
        plural(waves.len(), "wave")
    );
    let number_width = waves.len().to_string().len();
    let pad = plan
        .jobs
        .iter()
        .map(|j| j.job.name.chars().count())
        .filter(|&len| len <= MAX_PAD)
        .max()
        .unwrap_or(0);
    let variants = variant_counts(plan);
    for (w, wave) in waves.iter().enumerate() {
        for (k, &i) in wave.iter().enumerate() {
            let number = if k == 0 {
                (w + 1).to_string()
            } else {
                String::new()
            };
            let name = &plan.jobs[i].job.name;
            let after = waits_for(plan, i, &variants);
            let tags = tags(plan, i);
            let mut line = format!("{number:<number_width$}  {name:<pad$}");
            if !after.is_empty() {
                let _ = write!(line, "  ← {after}");
            }
            if !tags.is_empty() {
                let _ = write!(line, "  {tags}");
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

/// What job `i` waits for, as a short phrase (empty when nothing).
fn waits_for(plan: &Plan, i: usize, variants: &HashMap<&str, usize>) -> String {
    let pj = &plan.jobs[i];
    if pj.deps.is_empty() {
        return String::new();
    }
    let from_stages = pj.job.needs.is_none() && pj.job.stage.is_some();
    if from_stages {
        let mut stages: Vec<&str> = Vec::new();
        for &d in &pj.deps {
            if let Some(s) = plan.jobs.get(d).and_then(|j| j.job.stage.as_deref())
                && !stages.contains(&s)
            {
                stages.push(s);
            }
        }
        let word = if stages.len() == 1 { "stage" } else { "stages" };
        return format!("{word} {}", cut(&stages));
    }
    let deps: Vec<&Job> = pj
        .deps
        .iter()
        .filter_map(|&d| plan.jobs.get(d))
        .map(|j| &j.job)
        .collect();
    let names = group_variants(&deps, variants);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    cut(&names)
}

/// How many jobs of the plan share each template.
fn variant_counts(plan: &Plan) -> HashMap<&str, usize> {
    template_counts(plan.jobs.iter().map(|j| &j.job))
}

/// How many of `jobs` share each template (matrix variants of one job).
pub fn template_counts<'a>(jobs: impl Iterator<Item = &'a Job>) -> HashMap<&'a str, usize> {
    let mut counts = HashMap::new();
    for j in jobs {
        *counts.entry(j.template.as_str()).or_insert(0) += 1;
    }
    counts
}

/// The names of `deps`, with all the variants of one matrix template read
/// as one entry, `test (all 4 variants)`; `variants` comes from
/// [`template_counts`] over the whole pipeline or plan.
pub fn group_variants(deps: &[&Job], variants: &HashMap<&str, usize>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut seen_templates: Vec<&str> = Vec::new();
    for job in deps {
        let template = job.template.as_str();
        let total = variants.get(template).copied().unwrap_or(1);
        if total > 1 && template != job.name {
            if seen_templates.contains(&template) {
                continue;
            }
            let here = deps.iter().filter(|j| j.template == template).count();
            if here == total {
                seen_templates.push(template);
                names.push(format!("{template} (all {total} variants)"));
                continue;
            }
        }
        names.push(job.name.clone());
    }
    names
}

/// `a, b, c` or `a, b, c, d, e and 3 more`.
fn cut(names: &[&str]) -> String {
    if names.len() <= MAX_LISTED {
        return names.join(", ");
    }
    format!(
        "{} and {} more",
        names[..MAX_LISTED].join(", "),
        names.len() - MAX_LISTED
    )
}

/// `[manual] [allow failure]`...: what makes a job run differently.
fn tags(plan: &Plan, i: usize) -> String {
    let pj = &plan.jobs[i];
    let mut tags = Vec::new();
    let at_run_time = pj.job.deferred.as_ref().and_then(|d| d.condition());
    match pj.job.when {
        // A condition its dialect decides with the results of the jobs it
        // needs: the job waits for them whatever they did.
        _ if at_run_time.is_some() => tags.push("[if decided at run time]"),
        When::OnSuccess | When::Never => {}
        When::OnFailure => tags.push("[on failure]"),
        When::Always => tags.push("[always]"),
        When::Manual => tags.push("[manual]"),
    }
    if pj.job.allow_failure.is_allowed() {
        tags.push("[allow failure]");
    }
    if !pj.selected {
        tags.push("[needed by the selection]");
    }
    tags.join(" ")
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
