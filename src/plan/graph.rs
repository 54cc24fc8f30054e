//! The dependency graph of a whole pipeline, before anything is filtered.
//!
//! Every job gets the list of jobs it waits for, as [`Edge`]s:
//!
//! - `needs: [a, b]` → exactly `a` and `b` (GitLab's and GitHub's `needs`);
//!   `needs: []` → nothing, the job starts at once;
//! - no `needs` but a `stage` → every job of every earlier stage, in the
//!   order of `pipeline.stages` (GitLab's stage semantics);
//! - neither → nothing.
//!
//! Each edge remembers which `needs` entry made it, so later errors (a
//! cycle, a need on a job that is not in the run) can point at the exact
//! line the user wrote. Names are resolved through a `HashMap`, so building
//! the graph is linear in the number of edges even for thousands of jobs.
//!
//! [`find_cycle`] then looks for a cycle with an iterative depth-first
//! search (no recursion: a 10,000-job chain must not overflow the stack).

use std::collections::HashMap;

use crate::diag::{Diagnostic, did_you_mean};
use crate::model::{Job, Loc, Pipeline};

/// "Job `from` waits for job `to`".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Edge {
    /// Index of the job waited for, in `pipeline.jobs`.
    pub to: usize,
    /// Index into the waiting job's `needs` list; `None` for an edge that
    /// comes from stage order.
    pub need: Option<usize>,
}

/// The pipeline's jobs by name, and the full graph.
pub(super) struct Graph {
    pub by_name: HashMap<String, usize>,
    /// `edges[i]`: what job `i` waits for.
    pub edges: Vec<Vec<Edge>>,
}

/// Build the graph. Problems (duplicate names, undeclared stages, needs of
/// unknown jobs) are pushed onto `errors`; the graph is still returned,
/// without the edges that could not be resolved, so more checks can run.
pub(super) fn build(p: &Pipeline, errors: &mut Vec<Diagnostic>) -> Graph {
    let mut by_name: HashMap<String, usize> = HashMap::with_capacity(p.jobs.len());
    for (i, job) in p.jobs.iter().enumerate() {
        if let Some(&first) = by_name.get(&job.name) {
            errors.push(
                Diagnostic::error(
                    format!("job `{}` is defined twice", job.name),
                    Some(job.loc.clone()),
                )
                .with_label("second definition")
                .with_help(format!(
                    "the first is at {}; rename one of them",
                    p.jobs[first].loc
                )),
            );
        } else {
            by_name.insert(job.name.clone(), i);
        }
    }

    let stage_of = stage_indices(p, errors);
    // Jobs grouped by stage, in file order, for stage-derived edges.
    let stage_count = stage_of.iter().flatten().max().map_or(0, |m| m + 1);
    let mut by_stage: Vec<Vec<usize>> = vec![Vec::new(); stage_count];
    for (i, s) in stage_of.iter().enumerate() {
        if let Some(s) = s {
            by_stage[*s].push(i);
        }
    }

    let names: Vec<&str> = p.jobs.iter().map(|j| j.name.as_str()).collect();
    let edges = p
        .jobs
        .iter()
        .enumerate()
        .map(|(i, job)| match (&job.needs, stage_of[i]) {
            (Some(needs), _) => needs
                .iter()
                .enumerate()
                .filter_map(|(n, need)| match by_name.get(&need.job) {
                    Some(&to) => Some(Edge { to, need: Some(n) }),
                    None if need.optional => None,
                    None => {
                        errors.push(unknown_need(job, &need.job, &need.loc, &names));
                        None
                    }
                })
                .collect(),
            (None, Some(stage)) => by_stage[..stage]
                .iter()
                .flatten()
                .map(|&to| Edge { to, need: None })
                .collect(),
            (None, None) => Vec::new(),
        })
        .collect();
    Graph { by_name, edges }
}

/// Each job's stage as an index into the stage order. The order is
/// `pipeline.stages` when declared, else the order in which stages first
/// appear among the jobs. A stage missing from a declared list is an error.
fn stage_indices(p: &Pipeline, errors: &mut Vec<Diagnostic>) -> Vec<Option<usize>> {
    let mut order: HashMap<&str, usize> = p
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let declared = !p.stages.is_empty();
    let declared_names: Vec<&str> = p.stages.iter().map(String::as_str).collect();
    p.jobs
        .iter()
        .map(|job| {
            let stage = job.stage.as_deref()?;
            if let Some(&i) = order.get(stage) {
                return Some(i);
            }
            if declared {
                let help = match did_you_mean(stage, &declared_names) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("declared stages: {}", declared_names.join(", ")),
                };
                errors.push(
                    Diagnostic::error(
                        format!(
                            "job `{}` uses stage `{stage}`, which is not declared in `stages`",
                            job.name
                        ),
                        Some(job.loc.clone()),
                    )
                    .with_help(help),
                );
                return None;
            }
            let i = order.len();
            order.insert(stage, i);
            Some(i)
        })
        .collect()
}

fn unknown_need(job: &Job, name: &str, loc: &Loc, names: &[&str]) -> Diagnostic {
    let candidates: Vec<&str> = names.iter().copied().filter(|n| *n != job.name).collect();
    let help = match did_you_mean(name, &candidates) {
        Some(s) => format!("did you mean `{s}`?"),
        None => "name a job of this pipeline, or mark the need `optional: true`".to_string(),
    };
    Diagnostic::error(
        format!(
            "job `{}` needs `{name}`, which is not a job of this pipeline",
            job.name
        ),
        Some(loc.clone()),
    )
    .with_label("no such job")
    .with_help(help)
}

/// Find one cycle and describe it as `a -> b -> c -> a` ("a needs b, b
/// needs c, c needs a"), located at the `needs` entry that closes it.
///
/// The search is a depth-first walk in file order with three colours:
/// white (not seen), grey (on the current path) and black (done). An edge
/// to a grey job closes a cycle: the path from that job to the current one
/// is the cycle. Every job and edge is visited once.
pub(super) fn find_cycle(p: &Pipeline, edges: &[Vec<Edge>]) -> Option<Diagnostic> {
    #[derive(Clone, Copy, PartialEq)]
    enum Colour {
        White,
        Grey,
        Black,
    }
    let mut colour = vec![Colour::White; edges.len()];
    // The current path: (job, index of the next edge to follow).
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for root in 0..edges.len() {
        if colour[root] != Colour::White {
            continue;
        }
        colour[root] = Colour::Grey;
        stack.push((root, 0));
        while let Some(top) = stack.last_mut() {
            let (job, next) = *top;
            top.1 += 1;
            let Some(edge) = edges[job].get(next).copied() else {
                colour[job] = Colour::Black;
                stack.pop();
                continue;
            };
            match colour[edge.to] {
                Colour::White => {
                    colour[edge.to] = Colour::Grey;
                    stack.push((edge.to, 0));
                }
                Colour::Grey => {
                    let start = stack.iter().position(|(j, _)| *j == edge.to)?;
                    let cycle: Vec<usize> = stack[start..].iter().map(|(j, _)| *j).collect();
                    return Some(cycle_error(p, edges, &cycle));
                }
                Colour::Black => {}
            }
        }
    }
    None
}

/// The error for `cycle` (jobs in order, each waiting for the next, the
/// last for the first), at the last `needs` entry on the way round.
fn cycle_error(p: &Pipeline, edges: &[Vec<Edge>], cycle: &[usize]) -> Diagnostic {
    let mut path: Vec<&str> = cycle.iter().map(|&j| p.jobs[j].name.as_str()).collect();
    path.push(path[0]);
    // The edge from the last job back to the first closes the cycle. It
    // may come from stage order (no `needs` entry to point at); then take
    // the last edge on the cycle that does have one.
    let mut loc = None;
    let mut via_stage = false;
    for (k, &from) in cycle.iter().enumerate().rev() {
        let to = cycle[(k + 1) % cycle.len()];
        let edge = edges[from].iter().find(|e| e.to == to);
        match edge.and_then(|e| e.need) {
            Some(n) => {
                let need = p.jobs[from].needs.as_ref().and_then(|needs| needs.get(n));
                loc = need.map(|need| need.loc.clone());
                break;
            }
            None => via_stage = true,
        }
    }
    let loc = loc.or_else(|| Some(p.jobs[cycle[0]].loc.clone()));
    let mut help = "`a -> b` means job `a` needs `b`; remove one of these needs".to_string();
    if via_stage {
        help.push_str(" (a job without `needs` waits for every job of the earlier stages)");
    }
    Diagnostic::error(
        format!(
            "jobs depend on each other in a cycle: {}",
            path.join(" -> ")
        ),
        loc,
    )
    .with_label("this closes the cycle")
    .with_help(help)
}
