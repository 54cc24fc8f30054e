//! The scheduler: run a [`Plan`]'s jobs as its DAG allows, `--jobs N` at a
//! time.
//!
//! # The loop
//!
//! [`execute`] keeps, for every job, how many of its dependencies have not
//! finished yet. A job whose count reaches zero is *ready*, and a ready
//! job is either started or skipped right away (see [Gates](#gates)).
//! Started jobs run as Tokio tasks in a [`JoinSet`]; the loop waits for the
//! next one to finish, records its report, counts down its dependants, and
//! handles whatever became ready. It ends when nothing runs and nothing is
//! ready — which, because skipped jobs also count down their dependants,
//! means every job has a report.
//!
//! Concurrency is bounded by counting: a job that passed its gate joins a
//! queue of *runnable* jobs, and the loop starts queued jobs only while
//! fewer than `--jobs` tasks run. Starting from the loop rather than from
//! the tasks keeps the start order deterministic: jobs start in the order
//! they became ready, which is file order within a wave.
//!
//! # Gates
//!
//! When a job is ready, its `when` and its dependencies' results decide:
//!
//! | `when`                 | runs when …                                          |
//! |------------------------|------------------------------------------------------|
//! | `on_success` (default) | every dependency passed (an allowed failure counts as passed) |
//! | `on_failure`           | some dependency failed, or was skipped because of a failure |
//! | `always`               | in any case                                          |
//!
//! A skipped job says why: `needs `build`, which failed`. `manual` jobs
//! are in the plan only when selected and then behave like `on_success`.
//!
//! # Cancellation
//!
//! When the run's token is cancelled (Ctrl-C), no job starts any more:
//! ready jobs and queued jobs waiting for a slot are reported
//! [`Skipped`](JobStatus::Skipped). Running jobs see the token through
//! their backend calls, stop, clean up and report
//! [`Cancelled`](JobStatus::Cancelled). `execute` returns when the last
//! cleanup has finished.
//!
//! A task that panics (a bug in a backend) is reported as a failed job
//! rather than bringing the run down or leaving its dependants waiting.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::backend::{Backend, JobContext};
use crate::model::{AllowFailure, Conclusion, Env, Job, NeedState, RunState, When};
use crate::plan::Plan;

use super::job::{Finished, JobRun, Outcome};
use super::output::{JobOutput, Printer, log_file_names};
use super::report::{JobReport, JobStatus, RunReport};

/// How to run a plan.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// How many jobs run at once (`--jobs`); 0 counts as 1.
    pub jobs: usize,
    /// Identifies the run; backends label what they create with it.
    pub run_id: String,
    /// The project checkout, mounted at `/workspace`.
    pub workspace: PathBuf,
    /// `--env` values, above every other level of every step's env.
    pub overrides: Env,
    /// Where each job's log goes, as `<job>.log`: `.nestci/logs/<run-id>`.
    pub log_dir: PathBuf,
}

/// What every job task shares.
struct Shared {
    backend: Arc<dyn Backend>,
    printer: Arc<Printer>,
    ctx: JobContext,
    cancel: CancellationToken,
}

/// A finished job as the gates see it.
#[derive(Debug, Clone, Copy)]
struct Done {
    status: JobStatus,
    /// This job, or a job it waited for (transitively), failed and was not
    /// allowed to: what `when: on_failure` reacts to.
    failure_upstream: bool,
}

/// Run `plan` on `backend`; see the [module docs](self). Never panics on
/// what a backend or the plan does, and returns a report for every job.
///
/// To stop a run, cancel `cancel` and keep awaiting this future: it
/// returns once every prepared job is cleaned up. Dropping the future
/// instead aborts the job tasks mid-way, without cleanup.
pub async fn execute(
    plan: &Plan,
    backend: Arc<dyn Backend>,
    opts: RunOptions,
    printer: Arc<Printer>,
    cancel: CancellationToken,
) -> RunReport {
    let n = plan.jobs.len();
    let dependants = plan.dependants();
    let mut waiting: Vec<usize> = plan
        .jobs
        .iter()
        .map(|j| j.deps.iter().filter(|&&d| d < n).count())
        .collect();

    let log_paths = log_paths(plan, &opts.log_dir, &printer);
    let file_names = log_file_names(plan.jobs.iter().map(|j| j.job.name.as_str()));
    let shared = Arc::new(Shared {
        backend,
        printer: Arc::clone(&printer),
        ctx: JobContext {
            run_id: opts.run_id,
            workspace: opts.workspace,
            overrides: opts.overrides,
        },
        cancel: cancel.clone(),
    });

    let mut done: Vec<Option<Done>> = vec![None; n];
    let mut reports: Vec<Option<JobReport>> = vec![None; n];
    // Each finished job's outputs, for the jobs that need it.
    let mut outputs: Vec<Vec<(String, String)>> = vec![Vec::new(); n];
    let slots = opts.jobs.max(1);
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    // Jobs that may run, waiting for a free slot, in the order they became
    // ready.
    let mut runnable: VecDeque<usize> = VecDeque::new();
    let mut running: JoinSet<(JobReport, Vec<(String, String)>)> = JoinSet::new();
    let mut task_job: HashMap<tokio::task::Id, usize> = HashMap::new();

    loop {
        // Gate every ready job, then fill the free slots in queue order.
        loop {
            if let Some(i) = ready.pop_front() {
                let passed = gate(plan, i, &done, &cancel)
                    .and_then(|()| deferred_gate(plan, i, &needs_of(plan, i, &done, &outputs)));
                match passed {
                    Ok(()) => runnable.push_back(i),
                    Err(Refusal::Skip(why)) => {
                        skip(plan, i, why, &printer, &mut done, &mut reports);
                        release(i, &dependants, &mut waiting, &mut ready);
                    }
                    Err(Refusal::Fail(why)) => {
                        let report = JobReport {
                            name: plan.jobs[i].job.name.clone(),
                            status: JobStatus::Failed,
                            duration: Duration::ZERO,
                            attempts: 0,
                            message: Some(why),
                        };
                        printer.finished(&report);
                        finish(plan, i, report, &mut done, &mut reports);
                        release(i, &dependants, &mut waiting, &mut ready);
                    }
                }
                continue;
            }
            let may_start = running.len() < slots || cancel.is_cancelled();
            if may_start && let Some(i) = runnable.pop_front() {
                if cancel.is_cancelled() {
                    let why = "the run was cancelled".to_string();
                    skip(plan, i, why, &printer, &mut done, &mut reports);
                    release(i, &dependants, &mut waiting, &mut ready);
                } else {
                    let task = run_job(
                        Arc::clone(&shared),
                        Arc::new(plan.jobs[i].job.clone()),
                        needs_of(plan, i, &done, &outputs),
                        log_paths[i].clone(),
                        file_names.get(i).cloned().unwrap_or_else(|| "job".into()),
                    );
                    task_job.insert(running.spawn(task).id(), i);
                }
                continue;
            }
            break;
        }

        // Wait for the next running job to finish.
        let Some(joined) = running.join_next_with_id().await else {
            break;
        };
        let (id, report, job_outputs) = match joined {
            Ok((id, (report, job_outputs))) => (id, report, job_outputs),
            Err(e) => {
                let id = e.id();
                let Some(&i) = task_job.get(&id) else {
                    continue;
                };
                let report = JobReport {
                    name: plan.jobs[i].job.name.clone(),
                    status: JobStatus::Failed,
                    duration: Duration::ZERO,
                    attempts: 1,
                    message: Some(format!(
                        "internal error: the job's task ended abnormally ({e})"
                    )),
                };
                printer.finished(&report);
                (id, report, Vec::new())
            }
        };
        let Some(i) = task_job.remove(&id) else {
            continue;
        };
        outputs[i] = job_outputs;
        finish(plan, i, report, &mut done, &mut reports);
        release(i, &dependants, &mut waiting, &mut ready);
    }

    // A job left without a report waited for something that never
    // finished: only possible with a cycle in a hand-built plan.
    let jobs = reports
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.unwrap_or_else(|| JobReport {
                name: plan.jobs[i].job.name.clone(),
                status: JobStatus::Skipped,
                duration: Duration::ZERO,
                attempts: 0,
                message: Some("its dependencies never finished (a cycle in the plan)".into()),
            })
        })
        .collect();
    RunReport {
        jobs,
        cancelled: cancel.is_cancelled(),
    }
}

/// The log file of each job, after creating the log directory. When the
/// directory cannot be created, say so once and run without log files.
fn log_paths(plan: &Plan, dir: &std::path::Path, printer: &Printer) -> Vec<Option<PathBuf>> {
    if let Err(e) = std::fs::create_dir_all(dir) {
        printer.text(&format!(
            "warning: cannot create the log directory {}: {e}; job logs are not saved\n",
            dir.display()
        ));
        return vec![None; plan.jobs.len()];
    }
    // A job name may hold a secret (`name: deploy as ${{ secrets.USER }}`):
    // the file name is made from the masked name.
    let names: Vec<String> = plan
        .jobs
        .iter()
        .map(|j| printer.mask(&j.job.name).into_owned())
        .collect();
    log_file_names(names.iter().map(String::as_str))
        .into_iter()
        .map(|name| Some(dir.join(format!("{name}.log"))))
        .collect()
}

/// Why a ready job does not run.
enum Refusal {
    Skip(String),
    /// Its condition could not be decided: the job fails.
    Fail(String),
}

impl From<String> for Refusal {
    fn from(why: String) -> Refusal {
        Refusal::Skip(why)
    }
}

/// The jobs job `i` needs, as they ended (a need left out of the plan
/// counts as skipped), for its dialect's run-time decisions.
fn needs_of(
    plan: &Plan,
    i: usize,
    done: &[Option<Done>],
    outputs: &[Vec<(String, String)>],
) -> Vec<NeedState> {
    let job = &plan.jobs[i].job;
    job.needs
        .iter()
        .flatten()
        .map(|need| {
            let index = plan.jobs.iter().position(|p| p.job.name == need.job);
            let status = index.and_then(|d| done.get(d).copied().flatten());
            let result = match status.map(|s| s.status) {
                Some(JobStatus::Passed | JobStatus::FailedAllowed) => Conclusion::Success,
                Some(JobStatus::Failed | JobStatus::TimedOut) => Conclusion::Failure,
                Some(JobStatus::Cancelled) => Conclusion::Cancelled,
                Some(JobStatus::Skipped) | None => Conclusion::Skipped,
            };
            NeedState {
                job: need.job.clone(),
                template: index
                    .map(|d| plan.jobs[d].job.template.clone())
                    .unwrap_or_else(|| need.job.clone()),
                result,
                outputs: index
                    .and_then(|d| outputs.get(d).cloned())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The job's own condition when its dialect decides it at run time, with
/// the results and outputs of the jobs it needs.
fn deferred_gate(plan: &Plan, i: usize, needs: &[NeedState]) -> Result<(), Refusal> {
    let job = &plan.jobs[i].job;
    let Some(d) = &job.deferred else {
        return Ok(());
    };
    let mut state = RunState::new(job.env.clone(), needs.to_vec());
    if needs
        .iter()
        .any(|n| matches!(n.result, Conclusion::Failure | Conclusion::Cancelled))
    {
        state.status = Conclusion::Failure;
    }
    let condition = d.condition().unwrap_or("its condition");
    match d.runs(&state) {
        None | Some(Ok(true)) => Ok(()),
        Some(Ok(false)) => Err(Refusal::Skip(format!(
            "`if: {condition}` is false with the results of the jobs it needs"
        ))),
        Some(Err(e)) => Err(Refusal::Fail(format!(
            "`if: {condition}` could not be evaluated: {e}"
        ))),
    }
}

/// May ready job `i` run? `Err(why)` when it is skipped.
fn gate(
    plan: &Plan,
    i: usize,
    done: &[Option<Done>],
    cancel: &CancellationToken,
) -> Result<(), Refusal> {
    if cancel.is_cancelled() {
        return Err("the run was cancelled".to_string().into());
    }
    let job = &plan.jobs[i];
    let deps = job
        .deps
        .iter()
        .filter_map(|&d| Some((d, done.get(d).copied().flatten()?)));
    match job.job.when {
        When::Always => Ok(()),
        When::OnFailure => {
            if deps.clone().any(|(_, r)| r.failure_upstream) {
                Ok(())
            } else {
                Err("`when: on_failure`, and nothing it needs failed"
                    .to_string()
                    .into())
            }
        }
        When::OnSuccess | When::Manual | When::Never => {
            match deps.clone().find(|(_, r)| !r.status.counts_as_passed()) {
                None => Ok(()),
                Some((d, r)) => {
                    let what = match r.status {
                        JobStatus::Failed => "failed",
                        JobStatus::TimedOut => "timed out",
                        JobStatus::Cancelled => "was cancelled",
                        _ => "was skipped",
                    };
                    Err(format!("needs `{}`, which {what}", plan.jobs[d].job.name).into())
                }
            }
        }
    }
}

/// Report job `i` as skipped for `why`, without running it.
fn skip(
    plan: &Plan,
    i: usize,
    why: String,
    printer: &Printer,
    done: &mut [Option<Done>],
    reports: &mut [Option<JobReport>],
) {
    let report = JobReport {
        name: plan.jobs[i].job.name.clone(),
        status: JobStatus::Skipped,
        duration: Duration::ZERO,
        attempts: 0,
        message: Some(why),
    };
    printer.finished(&report);
    finish(plan, i, report, done, reports);
}

/// Record job `i`'s report and what its dependants need to know of it.
fn finish(
    plan: &Plan,
    i: usize,
    report: JobReport,
    done: &mut [Option<Done>],
    reports: &mut [Option<JobReport>],
) {
    let failure_upstream = report.status.fails_run()
        || plan.jobs[i].deps.iter().any(|&d| {
            done.get(d)
                .copied()
                .flatten()
                .is_some_and(|r| r.failure_upstream)
        });
    done[i] = Some(Done {
        status: report.status,
        failure_upstream,
    });
    reports[i] = Some(report);
}

/// Count down the dependants of finished job `i`; queue those now ready.
fn release(
    i: usize,
    dependants: &[Vec<usize>],
    waiting: &mut [usize],
    ready: &mut VecDeque<usize>,
) {
    for &d in &dependants[i] {
        waiting[d] = waiting[d].saturating_sub(1);
        if waiting[d] == 0 {
            ready.push_back(d);
        }
    }
}

/// One job's task: render what its dialect deferred, run the job, report.
async fn run_job(
    shared: Arc<Shared>,
    job: Arc<Job>,
    needs: Vec<NeedState>,
    log_path: Option<PathBuf>,
    file_name: String,
) -> (JobReport, Vec<(String, String)>) {
    if shared.cancel.is_cancelled() {
        let report = JobReport {
            name: job.name.clone(),
            status: JobStatus::Skipped,
            duration: Duration::ZERO,
            attempts: 0,
            message: Some("the run was cancelled".into()),
        };
        shared.printer.finished(&report);
        return (report, Vec::new());
    }
    let start = Instant::now();
    shared.printer.started(&job.name);
    let mut out = JobOutput::open(Arc::clone(&shared.printer), &job.name, log_path.clone());
    let rendered = match &job.deferred {
        None => Ok(Arc::clone(&job)),
        Some(d) => d
            .render(&job, &RunState::new(job.env.clone(), needs.clone()))
            .map(Arc::new),
    };
    let Finished {
        outcome,
        attempts,
        outputs,
    } = match rendered {
        Ok(job) => {
            JobRun {
                job: &job,
                backend: &*shared.backend,
                ctx: &shared.ctx,
                cancel: &shared.cancel,
                out: &mut out,
                needs,
                summary_path: log_path.map(|p| p.with_extension("summary.md")),
                file_name,
            }
            .run()
            .await
        }
        Err(e) => {
            let msg = format!("the job could not be set up: {e}");
            out.note(&format!("✗ {msg}"));
            Finished {
                outcome: Outcome::Failed(msg),
                attempts: 0,
                outputs: Vec::new(),
            }
        }
    };

    let (status, message) = match outcome {
        Outcome::Passed => (JobStatus::Passed, None),
        Outcome::Exited(m, code) if job.allow_failure.accepts(Some(code)) => {
            (JobStatus::FailedAllowed, Some(m))
        }
        Outcome::Exited(m, _) => match &job.allow_failure {
            // Say why an allowed-looking job still failed the run.
            AllowFailure::ExitCodes(_) => (
                JobStatus::Failed,
                Some(format!(
                    "{m}; `allow_failure` accepts only {}",
                    job.allow_failure
                )),
            ),
            _ => (JobStatus::Failed, Some(m)),
        },
        Outcome::Failed(m) if job.allow_failure.accepts(None) => {
            (JobStatus::FailedAllowed, Some(m))
        }
        Outcome::TimedOut(m) if job.allow_failure.accepts(None) => {
            (JobStatus::FailedAllowed, Some(m))
        }
        Outcome::Failed(m) => (JobStatus::Failed, Some(m)),
        Outcome::TimedOut(m) => (JobStatus::TimedOut, Some(m)),
        Outcome::Cancelled => (JobStatus::Cancelled, None),
    };
    let report = JobReport {
        name: job.name.clone(),
        status,
        duration: start.elapsed(),
        attempts,
        message,
    };
    out.finish(&report);
    shared.printer.finished(&report);
    (report, outputs)
}
