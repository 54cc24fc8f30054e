//! Running a plan: the scheduler, live output, the summary, and signals.
//!
//! - [`scheduler`] walks the plan's DAG and starts jobs on a
//!   [`Backend`](crate::backend::Backend), `--jobs N` at a time;
//! - `job` (private) runs one job: prepare → steps → cleanup, with
//!   timeouts, retries and cancellation;
//! - [`output`] prints every job's lines live, prefixed with the job's
//!   name, and saves them per job;
//! - [`report`] is what a run did, and its exit code;
//! - [`summary`] renders the report as the table that ends a run;
//! - [`signals`] turns Ctrl-C and SIGTERM into cancellation;
//! - `stepfiles` (private) are the files through which steps pass values
//!   on (`GITHUB_ENV`, `GITHUB_OUTPUT`, ...).
//!
//! A caller (the `run` command) wires them together:
//!
//! ```no_run
//! # async fn demo(plan: nestci::plan::Plan, backend: std::sync::Arc<dyn nestci::backend::Backend>, opts: nestci::run::RunOptions) -> i32 {
//! use std::sync::Arc;
//! use nestci::run::{execute, signals, summary, Printer};
//! use tokio_util::sync::CancellationToken;
//!
//! let cancel = CancellationToken::new();
//! signals::install(cancel.clone());
//! let printer = Arc::new(
//!     Printer::stdout(true).with_jobs(plan.jobs.iter().map(|j| j.job.name.as_str())),
//! );
//! let report = execute(&plan, backend, opts, Arc::clone(&printer), cancel).await;
//! printer.text(&summary::render(&report));
//! report.exit_code()
//! # }
//! ```

mod job;
pub mod output;
pub mod report;
pub mod scheduler;
pub mod signals;
mod stepfiles;
pub mod summary;

pub use output::{JobOutput, Printer};
pub use report::{EXIT_CANCELLED, EXIT_FAILED, JobReport, JobStatus, RunReport};
pub use scheduler::{RunOptions, execute};
