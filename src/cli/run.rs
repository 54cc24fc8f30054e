//! `nestci run`: plan a pipeline and run it (or, with `--dry-run`, show
//! what would run).

use std::path::PathBuf;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::backend::dood::{DoodOptions, PullPolicy};
use crate::backend::{self, Mode};
use crate::cli::{EXIT_USAGE, FileArg, Reporter};
use crate::model::{Env, Pipeline};
use crate::plan::{self, Plan, PlanOptions};
use crate::run::{Printer, RunOptions, signals, summary};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Pipeline file (or a directory to search).
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub dialect: crate::cli::DialectArgs,
    /// Where jobs run: dind (the embedded runtime), dood (the host's Docker
    /// Engine), or auto (dind where the kernel allows it).
    #[arg(long, value_enum, default_value = "auto")]
    pub mode: Mode,
    /// Run only this job and what it needs (repeatable; a matrix job's
    /// name selects all its variants).
    #[arg(long = "job", value_name = "NAME")]
    pub jobs_selected: Vec<String>,
    /// How many jobs run at once (default: the number of CPUs).
    #[arg(long = "jobs", short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: Option<u16>,
    /// Show what would run, in order, without running anything.
    #[arg(long)]
    pub dry_run: bool,
    /// The project checkout mounted at /workspace (default: the current
    /// directory).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Set a variable for every step, above all other levels (repeatable).
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    #[command(flatten)]
    pub policy: super::policy::PolicyOptions,
    /// Expose a host directory read-only at the same path in `image: host`
    /// jobs (dind), e.g. `--host-path ~/.cargo --host-path ~/.rustup`
    /// for a rustup toolchain (repeatable).
    #[arg(long = "host-path", value_name = "DIR")]
    pub host_paths: Vec<PathBuf>,
    /// dood mode: when to pull images (always, if-not-present, never).
    #[arg(long, value_enum, default_value = "if-not-present")]
    pub pull: PullPolicy,
    /// dood mode: the image to use in place of `host` (the dind-only
    /// sandbox over the host filesystem) and for jobs without an image,
    /// e.g. `--image nestci-test/busybox`.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    if !crate::dialect::reader::is_env_name(k) {
        return Err(format!("`{k}` is not a valid variable name"));
    }
    Ok((k.to_string(), v.to_string()))
}

pub fn run(args: &RunArgs, reporter: &Reporter) -> i32 {
    let mut overrides = Env::new();
    for (k, v) in &args.env {
        overrides.set(k.clone(), v.clone(), None);
    }
    let file = FileArg {
        file: args.file.clone(),
        dialect: args.dialect.clone(),
    };
    let mut load_options = match reporter.options(&file) {
        Ok(o) => o,
        Err(code) => return code,
    };
    load_options.env = overrides.clone();
    for p in &args.host_paths {
        match p.canonicalize() {
            Ok(abs) => load_options.host_paths.push(abs.display().to_string()),
            Err(e) => {
                reporter.error(
                    &format!("--host-path {}: {e}", p.display()),
                    Some("pass an existing directory, e.g. --host-path ~/.cargo"),
                );
                return EXIT_USAGE;
            }
        }
    }
    let loaded = match reporter.load_with(&file, load_options.clone()) {
        Ok(l) => l,
        Err(code) => return code,
    };
    // A GitHub workflow reads its secrets through `secrets.*` (already
    // in its scripts); other pipelines see them as variables.
    if loaded.pipeline.dialect != crate::model::Dialect::GitHub {
        overrides = load_options.variables();
    }
    let options = PlanOptions {
        select: args.jobs_selected.clone(),
        env: overrides,
    };
    let plan = match plan::build(&loaded.pipeline, &options) {
        Ok(p) => p,
        Err(diags) => {
            reporter.diagnostics(&diags, Some(&loaded.text));
            return EXIT_USAGE;
        }
    };
    // The policy judges the planned jobs before a backend exists.
    if let Err(code) = super::policy::gate(&loaded, &plan, args.mode, &args.policy, reporter) {
        return code;
    }
    if args.dry_run {
        return reporter.print(&dry_run(&loaded.pipeline, &plan));
    }
    let workspace = match args
        .workspace
        .clone()
        .map_or_else(std::env::current_dir, Ok)
        .and_then(|w| w.canonicalize())
    {
        Ok(w) => w,
        Err(e) => {
            reporter.error(
                &format!("cannot use the workspace directory: {e}"),
                Some("run nestci from the project checkout, or pass --workspace DIR"),
            );
            return EXIT_USAGE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            reporter.error(&format!("cannot start the async runtime: {e}"), None);
            return 1;
        }
    };
    runtime.block_on(execute(plan, args, workspace, options.env, reporter))
}

async fn execute(
    plan: Plan,
    args: &RunArgs,
    workspace: PathBuf,
    overrides: Env,
    reporter: &Reporter,
) -> i32 {
    let opts = backend::BackendOptions {
        dood: DoodOptions {
            pull: args.pull,
            host_image: args.image.clone(),
            ..DoodOptions::default()
        },
    };
    let backend = match backend::select_with(args.mode, &opts).await {
        Ok(b) => b,
        Err(e) => {
            reporter.error(
                &format!("cannot run jobs (mode {}): {e}", args.mode.as_str()),
                Some("`nestci run --dry-run` shows what would run"),
            );
            return EXIT_USAGE;
        }
    };
    let run_id = run_id();
    let log_dir = workspace.join(".nestci").join("logs").join(&run_id);
    let parallel = args.parallel.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
    });
    let options = RunOptions {
        jobs: parallel,
        run_id,
        workspace,
        overrides,
        log_dir: log_dir.clone(),
    };
    let cancel = CancellationToken::new();
    signals::install(cancel.clone());
    let printer = Arc::new(
        Printer::stdout(reporter.color_stdout)
            .with_jobs(plan.jobs.iter().map(|j| j.job.name.as_str()))
            .with_masker(reporter.masker()),
    );
    let report = crate::run::execute(&plan, backend, options, Arc::clone(&printer), cancel).await;
    printer.text(&summary::render(&report));
    printer.text(&format!("logs: {}\n", log_dir.display()));
    report.exit_code()
}

/// A run id that sorts by time and is unique per process:
/// `20261122T183000-4242`.
fn run_id() -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let compact: String = now
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(15)
        .collect();
    format!("{compact}-{}", std::process::id())
}

/// The plan in the order it would run: wave by wave, each job with its
/// image, what it waits for and its steps.
fn dry_run(pipeline: &Pipeline, plan: &Plan) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "pipeline `{}` ({}): {} job{} to run",
        pipeline.name,
        pipeline.file.display(),
        plan.jobs.len(),
        if plan.jobs.len() == 1 { "" } else { "s" }
    );
    for (i, wave) in plan.waves().iter().enumerate() {
        let _ = writeln!(out, "\nwave {}:", i + 1);
        for &idx in wave {
            let pj = &plan.jobs[idx];
            let job = &pj.job;
            let image = job
                .image
                .as_ref()
                .map(|i| i.value.as_str())
                .unwrap_or("host");
            let _ = writeln!(out, "  {} (image {image})", job.name);
            if !pj.deps.is_empty() {
                let deps: Vec<&str> = pj
                    .deps
                    .iter()
                    .map(|&d| plan.jobs[d].job.name.as_str())
                    .collect();
                let _ = writeln!(out, "    after: {}", deps.join(", "));
            }
            for s in &job.services {
                let _ = writeln!(out, "    service: {} as {}", s.image.value, s.alias);
            }
            if let Some(d) = &job.deferred {
                if let Some(c) = d.condition() {
                    let _ = writeln!(out, "    if: {c} (decided at run time)");
                }
                for (name, value) in d.outputs_written() {
                    let _ = writeln!(out, "    output {name}: {value}");
                }
            }
            for (n, step) in job.steps.iter().enumerate() {
                let mut flags = Vec::new();
                if let Some(c) = step.deferred.as_ref().and_then(|d| d.condition()) {
                    flags.push(format!("if {c}, decided at run time"));
                }
                if let Some(img) = &step.image {
                    flags.push(format!("image {}", img.value));
                }
                if let Some(t) = &step.timeout {
                    flags.push(format!("timeout {}", humantime::format_duration(t.value)));
                }
                if step.continue_on_error {
                    flags.push("continue on error".into());
                }
                let flags = if flags.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", flags.join(", "))
                };
                let _ = writeln!(out, "    {}. {}{flags}", n + 1, step.name);
                if step.run.trim() != step.name {
                    for line in step.run.lines().filter(|l| !l.trim().is_empty()) {
                        let _ = writeln!(out, "       $ {}", line.trim_end());
                    }
                }
            }
        }
    }
    if let Some(section) = plan.render_left_out() {
        let _ = write!(out, "\n{section}");
    }
    out
}
