//! Planning: from a [`Pipeline`] to the DAG of jobs this run will execute.
//!
//! The model says what a pipeline *contains*; a plan says what *this run*
//! does, given the command line. [`build`] works in four passes:
//!
//! 1. **Graph** ([`graph`]): resolve every job's dependencies — its
//!    `needs`, or the jobs of earlier stages — into indices, and reject
//!    duplicate names, needs of unknown jobs and cycles. These errors are
//!    about the file, so they are reported whatever is selected.
//! 2. **Conditions**: drop the jobs that must not run — jobs their dialect
//!    already [skipped](crate::model::Job::skipped) (with the dialect's
//!    reason), `when: never`, `when: manual` unless named with `--job`,
//!    and jobs whose `if:`
//!    ([`condition`]) is false with the job's env and the `--env`
//!    overrides.
//! 3. **Selection**: with `--job NAME`, keep the named jobs (a matrix
//!    template names all its variants) plus everything they transitively
//!    wait for; without, keep every job that was not dropped.
//! 4. **Edges**: re-number the kept jobs (in file order) and their
//!    dependencies. A stage-derived dependency on a dropped job simply
//!    disappears; a `needs` entry naming a dropped job is an error that
//!    says why that job is not in the run (unless the need is `optional`).
//!
//! Every problem becomes a [`Diagnostic`] located at the key to fix, and
//! all of them are returned together so one run of `nestci validate` shows
//! them all.
//!
//! The plan is plain data: the scheduler ([`crate::run`]) walks
//! [`PlannedJob::deps`], `nestci list` prints [`Plan::render_dag`], and
//! `--dry-run` prints [`Plan::waves`]. Planning is linear in jobs plus
//! edges (names are looked up in a `HashMap`, identical `if:` texts are
//! parsed once), so a 1,000-job pipeline plans in a few milliseconds.

pub mod condition;
mod graph;
mod render;

pub use render::{group_variants, template_counts};

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use crate::diag::{Diagnostic, did_you_mean};
use crate::model::{Env, Job, Pipeline, Skipped, When};

use condition::{Condition, ConditionError};
use graph::Edge;

/// What the command line says about the run.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--job NAME` values: a job's name or a matrix template. Empty: all.
    pub select: Vec<String>,
    /// `--env K=V` overrides, on top of each job's env when conditions are
    /// evaluated.
    pub env: Env,
}

/// The jobs of one run and what each waits for.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The jobs to run, in file order.
    pub jobs: Vec<PlannedJob>,
    /// The jobs of the pipeline that this run leaves out although no
    /// `--job` selection excluded them, with the reason, in file order:
    /// what `nestci list` and `run --dry-run` show under "not in this run".
    pub left_out: Vec<LeftOut>,
}

/// A job the plan leaves out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    pub name: String,
    /// Completes "`name` is not in this run: ...".
    pub reason: String,
}

/// One job in the plan.
#[derive(Debug, Clone)]
pub struct PlannedJob {
    pub job: Job,
    /// Indices into [`Plan::jobs`] of the jobs this one waits for, in
    /// ascending order, without duplicates.
    pub deps: Vec<usize>,
    /// The user asked for this job: it was named with `--job` (or no
    /// `--job` was given at all). `false` only for jobs that are in the
    /// run because a selected job needs them.
    pub selected: bool,
}

/// Why a job of the pipeline is not in this run.
#[derive(Debug, Clone)]
enum Dropped {
    /// The dialect decided at load time ([`Job::skipped`]).
    Skipped(Skipped),
    Never,
    Manual,
    /// Its `if:` was false; the text of the condition.
    Condition(String),
}

impl Dropped {
    /// "it has `when: never`", completing "`x` is not in this run: ...".
    fn reason(&self) -> String {
        match self {
            Dropped::Skipped(s) => s.reason.clone(),
            Dropped::Never => "it has `when: never`".into(),
            Dropped::Manual => "it is manual (`when: manual`) and was not selected".into(),
            Dropped::Condition(c) => format!("its condition `if: {c}` is false"),
        }
    }

    /// What to do so that `job` is in the run after all.
    fn remedy(&self, job: &str) -> String {
        match self {
            Dropped::Skipped(s) => s.help.clone(),
            Dropped::Never => format!("remove `when: never` from `{job}`"),
            Dropped::Manual => format!("select it too with `--job {}`", shell_word(job)),
            Dropped::Condition(_) => {
                "set the variables its condition tests (for example with `--env KEY=VALUE`)".into()
            }
        }
    }
}

/// Turn `pipeline` into the plan for a run with `opts`.
///
/// Returns every problem found, as diagnostics located at the offending
/// key (or with no location for a bad `--job` value).
pub fn build(p: &Pipeline, opts: &PlanOptions) -> Result<Plan, Vec<Diagnostic>> {
    let mut errors = Vec::new();

    // 1. The whole pipeline's graph.
    let graph = graph::build(p, &mut errors);
    if let Some(cycle) = graph::find_cycle(p, &graph.edges) {
        errors.push(cycle);
    }

    // Which jobs `--job` names, before conditions: a manual job is kept
    // only when named.
    let named = select_named(p, &graph.by_name, &opts.select, &mut errors);

    // 2. Conditions.
    let dropped = evaluate_conditions(p, opts, &named.explicit, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }

    // 3. Selection: the named jobs and what they wait for.
    let mut keep = vec![false; p.jobs.len()];
    let mut todo: Vec<usize> = if opts.select.is_empty() {
        (0..p.jobs.len())
            .filter(|&i| dropped[i].is_none())
            .collect()
    } else {
        for (name, matched) in &named.by_arg {
            if !matched.is_empty() && matched.iter().all(|&i| dropped[i].is_some()) {
                errors.push(selected_but_dropped(p, name, matched, &dropped));
            }
        }
        (0..p.jobs.len())
            .filter(|&i| named.explicit[i] && dropped[i].is_none())
            .collect()
    };
    while let Some(i) = todo.pop() {
        if std::mem::replace(&mut keep[i], true) {
            continue;
        }
        todo.extend(
            graph.edges[i]
                .iter()
                .filter(|e| !keep[e.to] && dropped[e.to].is_none())
                .map(|e| e.to),
        );
    }

    // 4. Re-number and check needs of dropped jobs.
    let mut new_index = vec![usize::MAX; p.jobs.len()];
    let mut count = 0;
    for (i, kept) in keep.iter().enumerate() {
        if *kept {
            new_index[i] = count;
            count += 1;
        }
    }
    let mut jobs = Vec::with_capacity(count);
    for (i, job) in p.jobs.iter().enumerate().filter(|(i, _)| keep[*i]) {
        let mut deps = Vec::with_capacity(graph.edges[i].len());
        for edge in &graph.edges[i] {
            match &dropped[edge.to] {
                None => deps.push(new_index[edge.to]),
                Some(why) => {
                    if let Some(e) = need_of_dropped(p, i, edge, why) {
                        errors.push(e);
                    }
                }
            }
        }
        deps.sort_unstable();
        deps.dedup();
        jobs.push(PlannedJob {
            job: job.clone(),
            deps,
            selected: opts.select.is_empty() || named.explicit[i],
        });
    }
    // Without `--job`, every job not kept was dropped; with it, only the
    // dropped jobs that were named are worth telling about.
    let left_out = dropped
        .iter()
        .enumerate()
        .filter(|(i, _)| !keep[*i] && (opts.select.is_empty() || named.explicit[*i]))
        .filter_map(|(i, why)| {
            Some(LeftOut {
                name: p.jobs[i].name.clone(),
                reason: why.as_ref()?.reason(),
            })
        })
        .collect();
    if errors.is_empty() {
        Ok(Plan { jobs, left_out })
    } else {
        Err(errors)
    }
}

/// The jobs named by `--job`: per job, whether it was named, and per
/// argument, which jobs it matched (in the order given).
struct Named {
    explicit: Vec<bool>,
    by_arg: Vec<(String, Vec<usize>)>,
}

fn select_named(
    p: &Pipeline,
    by_name: &HashMap<String, usize>,
    select: &[String],
    errors: &mut Vec<Diagnostic>,
) -> Named {
    let mut explicit = vec![false; p.jobs.len()];
    let mut by_arg = Vec::new();
    if select.is_empty() {
        return Named { explicit, by_arg };
    }
    let mut by_template: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, job) in p.jobs.iter().enumerate() {
        by_template
            .entry(job.template.as_str())
            .or_default()
            .push(i);
    }
    for name in select {
        let mut matched: Vec<usize> = by_template.get(name.as_str()).cloned().unwrap_or_default();
        if let Some(&i) = by_name.get(name)
            && !matched.contains(&i)
        {
            matched.push(i);
        }
        if matched.is_empty() {
            errors.push(unknown_selection(p, name));
        }
        for &i in &matched {
            explicit[i] = true;
        }
        by_arg.push((name.clone(), matched));
    }
    Named { explicit, by_arg }
}

fn unknown_selection(p: &Pipeline, name: &str) -> Diagnostic {
    let mut candidates: Vec<&str> = p.jobs.iter().map(|j| j.name.as_str()).collect();
    candidates.extend(p.jobs.iter().map(|j| j.template.as_str()));
    candidates.sort_unstable();
    candidates.dedup();
    let help = match did_you_mean(name, &candidates) {
        Some(s) => format!("did you mean `--job {}`?", shell_word(s)),
        None => "`nestci list` shows the jobs of this pipeline".to_string(),
    };
    Diagnostic::error(
        format!(
            "`--job {}`: there is no such job in {}",
            shell_word(name),
            p.file.display()
        ),
        None,
    )
    .with_help(help)
}

/// Evaluate `when` and `if:` for every job: `Some(reason)` for the jobs
/// that are not in this run. Conditions that do not parse are errors
/// (whether or not their job is selected: the file is wrong either way).
fn evaluate_conditions(
    p: &Pipeline,
    opts: &PlanOptions,
    explicit: &[bool],
    errors: &mut Vec<Diagnostic>,
) -> Vec<Option<Dropped>> {
    // Matrix variants share their `if:` text: parse each text once.
    let mut parsed: HashMap<&str, Result<Condition, ConditionError>> = HashMap::new();
    p.jobs
        .iter()
        .enumerate()
        .map(|(i, job)| {
            if let Some(s) = &job.skipped {
                return Some(Dropped::Skipped(s.clone()));
            }
            match job.when {
                When::Never => return Some(Dropped::Never),
                When::Manual if !explicit[i] => return Some(Dropped::Manual),
                _ => {}
            }
            let cond = job.condition.as_ref()?;
            let parsed = parsed
                .entry(cond.value.as_str())
                .or_insert_with(|| Condition::parse(&cond.value));
            let lookup = |name: &str| opts.env.get(name).or_else(|| job.env.get(name));
            let result = match parsed {
                Ok(c) => c.eval(&lookup),
                Err(e) => Err(e.clone()),
            };
            match result {
                Ok(true) => None,
                Ok(false) => Some(Dropped::Condition(cond.value.clone())),
                Err(e) => {
                    errors.push(condition_error(job, &cond.value, &e, cond.loc.clone()));
                    None
                }
            }
        })
        .collect()
}

fn condition_error(
    job: &Job,
    text: &str,
    e: &ConditionError,
    loc: crate::model::Loc,
) -> Diagnostic {
    Diagnostic::error(
        format!(
            "invalid `if:` condition of job `{}`: {}",
            job.name, e.message
        ),
        Some(loc),
    )
    .with_label(format!("column {} of the condition", e.column))
    .with_help(format!(
        "at column {} of `{text}`; a condition uses `$VAR`, quoted strings, `null`, \
         `==`, `!=`, `=~ /regex/`, `!~`, `!`, `&&`, `||` and parentheses",
        e.column
    ))
}

/// The error for a kept job whose `needs` entry names a dropped job, or
/// `None` when that is fine (the need is optional, or the edge comes from
/// stage order).
fn need_of_dropped(p: &Pipeline, from: usize, edge: &Edge, why: &Dropped) -> Option<Diagnostic> {
    let job = &p.jobs[from];
    let need = job.needs.as_ref()?.get(edge.need?)?;
    if need.optional {
        return None;
    }
    let target = &p.jobs[edge.to].name;
    Some(
        Diagnostic::error(
            format!(
                "job `{}` needs `{target}`, which is not in this run: {}",
                job.name,
                why.reason()
            ),
            Some(need.loc.clone()),
        )
        .with_label("needed here")
        .with_help(format!(
            "{}, or mark this need `optional: true`",
            why.remedy(target)
        )),
    )
}

fn selected_but_dropped(
    p: &Pipeline,
    name: &str,
    matched: &[usize],
    dropped: &[Option<Dropped>],
) -> Diagnostic {
    let first = matched.first().copied().unwrap_or_default();
    let job = &p.jobs[first];
    let why = dropped[first].as_ref();
    let reason = why.map(Dropped::reason).unwrap_or_default();
    let message = if matched.len() == 1 {
        format!(
            "`--job {}` selects `{}`, which cannot run: {reason}",
            shell_word(name),
            job.name
        )
    } else {
        format!(
            "`--job {}` selects {} jobs and none of them can run; `{}`: {reason}",
            shell_word(name),
            matched.len(),
            job.name
        )
    };
    let help = why.map(|d| d.remedy(&job.name)).unwrap_or_default();
    // A job its dialect skipped points at what decided it (its `if:`).
    let loc = match why {
        Some(Dropped::Skipped(s)) => s.loc.clone(),
        _ => job.loc.clone(),
    };
    Diagnostic::error(message, Some(loc)).with_help(help)
}

/// `name` as the user would type it in a shell: quoted when it has spaces
/// or brackets (matrix names).
fn shell_word(name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:=@+,".contains(c))
    {
        name.to_string()
    } else {
        format!("'{}'", name.replace('\'', r"'\''"))
    }
}

impl Plan {
    /// For each job, the indices of the jobs that wait for it (ascending).
    pub fn dependants(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.jobs.len()];
        for (i, job) in self.jobs.iter().enumerate() {
            for &d in &job.deps {
                if let Some(list) = out.get_mut(d) {
                    list.push(i);
                }
            }
        }
        out
    }

    /// The jobs in topological levels: wave 0 waits for nothing, wave `k`
    /// only for jobs of earlier waves, each job in the earliest wave it can
    /// be. Within a wave, jobs keep file order.
    ///
    /// Kahn's algorithm: a job's wave is one more than the latest wave of
    /// its dependencies; it is placed when its last dependency is. Should a
    /// hand-built plan contain a cycle, its jobs come last in one extra
    /// wave rather than being lost.
    pub fn waves(&self) -> Vec<Vec<usize>> {
        let n = self.jobs.len();
        let dependants = self.dependants();
        let mut waiting: Vec<usize> = self
            .jobs
            .iter()
            .map(|j| j.deps.iter().filter(|&&d| d < n).count())
            .collect();
        let mut level = vec![0usize; n];
        let mut ready: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
        let mut placed = vec![false; n];
        while let Some(i) = ready.pop() {
            placed[i] = true;
            for &d in &dependants[i] {
                level[d] = level[d].max(level[i] + 1);
                waiting[d] -= 1;
                if waiting[d] == 0 {
                    ready.push(d);
                }
            }
        }
        let depth = level.iter().copied().max().map_or(0, |m| m + 1);
        let mut waves = vec![Vec::new(); depth];
        let mut stuck = Vec::new();
        for i in 0..n {
            if placed[i] {
                waves[level[i]].push(i);
            } else {
                stuck.push(i);
            }
        }
        if !stuck.is_empty() {
            waves.push(stuck);
        }
        waves
    }

    /// The DAG as text for a terminal: one block per wave, each job with
    /// what it waits for. See [`render`] for the format.
    pub fn render_dag(&self) -> String {
        render::render(self)
    }

    /// The jobs this run leaves out and why, one per line, or `None` when
    /// every job runs:
    ///
    /// ```text
    /// not in this run:
    ///   deploy  its `if: github.event_name == 'push'` is false for event `pull_request`
    /// ```
    pub fn render_left_out(&self) -> Option<String> {
        use std::fmt::Write;
        if self.left_out.is_empty() {
            return None;
        }
        let width = self
            .left_out
            .iter()
            .map(|l| l.name.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::from("not in this run:\n");
        for l in &self.left_out {
            let _ = writeln!(out, "  {:<width$}  {}", l.name, l.reason);
        }
        Some(out)
    }
}
