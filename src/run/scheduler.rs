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
use crate::model::{AllowFailure, Env, Job, When};
use crate::plan::Plan;

use super::job::{JobRun, Outcome};
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
    let slots = opts.jobs.max(1);
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    // Jobs that may run, waiting for a free slot, in the order they became
    // ready.
    let mut runnable: VecDeque<usize> = VecDeque::new();
    let mut running: JoinSet<JobReport> = JoinSet::new();
    let mut task_job: HashMap<tokio::task::Id, usize> = HashMap::new();

    loop {
        // Gate every ready job, then fill the free slots in queue order.
        loop {
            if let Some(i) = ready.pop_front() {
                match gate(plan, i, &done, &cancel) {
                    Ok(()) => runnable.push_back(i),
                    Err(why) => {
                        skip(plan, i, why, &printer, &mut done, &mut reports);
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
                        log_paths[i].clone(),
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
        let (id, report) = match joined {
            Ok((id, report)) => (id, report),
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
                (id, report)
            }
        };
        let Some(i) = task_job.remove(&id) else {
            continue;
        };
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

/// May ready job `i` run? `Err(why)` when it is skipped.
fn gate(
    plan: &Plan,
    i: usize,
    done: &[Option<Done>],
    cancel: &CancellationToken,
) -> Result<(), String> {
    if cancel.is_cancelled() {
        return Err("the run was cancelled".into());
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
                Err("`when: on_failure`, and nothing it needs failed".into())
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
                    Err(format!("needs `{}`, which {what}", plan.jobs[d].job.name))
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

/// One job's task: run the job, report.
async fn run_job(shared: Arc<Shared>, job: Arc<Job>, log_path: Option<PathBuf>) -> JobReport {
    if shared.cancel.is_cancelled() {
        let report = JobReport {
            name: job.name.clone(),
            status: JobStatus::Skipped,
            duration: Duration::ZERO,
            attempts: 0,
            message: Some("the run was cancelled".into()),
        };
        shared.printer.finished(&report);
        return report;
    }
    let start = Instant::now();
    shared.printer.started(&job.name);
    let mut out = JobOutput::open(Arc::clone(&shared.printer), &job.name, log_path);
    let (outcome, attempts) = JobRun {
        job: &job,
        backend: &*shared.backend,
        ctx: &shared.ctx,
        cancel: &shared.cancel,
        out: &mut out,
    }
    .run()
    .await;

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
    report
}
