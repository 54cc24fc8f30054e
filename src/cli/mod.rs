//! The command line: one file per subcommand.
//!
//! Exit codes: 0 when every required job passed (or the command succeeded),
//! 1 when a job failed, 2 for usage and validation errors, 3 when the
//! policy refuses a pipeline, 130 after Ctrl-C.

mod doctor;
mod gc;
mod list;
pub mod policy;
mod report;
mod run;
mod validate;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use report::Reporter;

/// Exit code for usage and validation errors.
pub const EXIT_USAGE: i32 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "nestci",
    version,
    about = "Run CI pipelines locally in isolated containers",
    long_about = "Run CI pipelines locally in isolated containers.\n\n\
        nestci reads a pipeline (its native format in pipelines/*.yml; GitLab CI and \
        GitHub Actions files are detected) and runs every job's steps in containers it \
        creates itself: with its own user-namespace runtime (dind) or through the host's \
        Docker Engine (dood).\n\n\
        Without a FILE, nestci looks for .gitlab-ci.yml, then .github/workflows/, then \
        pipelines/ (its ci.yml when there are several).",
    after_help = "Examples:\n  nestci validate pipelines/ci.yml\n  nestci list\n  \
        nestci run --dry-run --job test\n  nestci run pipelines/fan-out.yml --jobs 4 --env DEBUG=1"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// When to use colour: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline's jobs.
    Run(run::RunArgs),
    /// Check a pipeline file and report every problem with its location.
    Validate(FileArg),
    /// Show the jobs (stage, needs, image) and the job graph.
    List(FileArg),
    /// Judge a pipeline for privilege exposure; list and explain the rules.
    Policy(policy::PolicyArgs),
    /// Check what this host supports (user namespaces, id ranges, overlay,
    /// cgroups, seccomp, a Docker daemon) and what a missing piece costs.
    Doctor,
    /// Remove containers, networks and volumes that crashed runs left in
    /// the Docker Engine (found by their `nestci.*` labels).
    Gc(gc::GcArgs),
}

/// The pipeline file argument shared by the subcommands.
#[derive(Debug, clap::Args)]
pub struct FileArg {
    /// Pipeline file (or a directory to search). Default: .gitlab-ci.yml,
    /// .github/workflows/, or pipelines/ in the current directory.
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub dialect: DialectArgs,
}

/// Options for reading GitLab and GitHub files.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DialectArgs {
    /// Where GitLab `include: remote/project/template/component` files are
    /// looked up (DIR/<file name>), since nestci does not fetch them
    /// (repeatable).
    #[arg(long = "include-dir", value_name = "DIR")]
    pub include_dirs: Vec<PathBuf>,
    /// The event that starts the pipeline (GitLab's CI_PIPELINE_SOURCE,
    /// GitHub's github.event_name; default push).
    #[arg(long, value_name = "NAME")]
    pub event: Option<String>,
    /// The event's payload, a JSON file as GitHub sends it (like act's
    /// --eventpath): merged into `github.event`; for `workflow_dispatch`
    /// its `inputs` fill the `inputs` context.
    #[arg(long = "event-file", alias = "eventpath", value_name = "PATH")]
    pub event_file: Option<PathBuf>,
    /// Map a GitHub `runs-on` label to an image, like act's -P (repeatable;
    /// default: ubuntu-* labels run on the `host` image).
    #[arg(long = "platform", value_name = "LABEL=IMAGE", value_parser = parse_platform)]
    pub platforms: Vec<(String, String)>,
    /// A secret (repeatable). GitHub workflows read it as `secrets.KEY`;
    /// GitLab and native pipelines see it as a variable, like a masked
    /// CI/CD variable in GitLab (and gitlab-ci-local). Its value is shown
    /// as *** in all output and logs. A command line is visible to other
    /// users (ps): prefer --secret-file on a shared machine.
    #[arg(long = "secret", value_name = "KEY=VALUE", value_parser = parse_secret)]
    pub secrets: Vec<(String, String)>,
    /// Secrets from a dotenv file: KEY=VALUE lines, 'single' or "double"
    /// quotes, # comments, an optional `export ` prefix (repeatable;
    /// --secret wins over the files).
    #[arg(long = "secret-file", value_name = "PATH")]
    pub secret_files: Vec<PathBuf>,
}

fn parse_secret(s: &str) -> Result<(String, String), String> {
    // Never echo the argument: it holds the value.
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| "a secret is KEY=VALUE".to_string())?;
    if !crate::dialect::reader::is_env_name(k) {
        return Err(format!("`{k}` is not a valid secret name"));
    }
    Ok((k.to_string(), v.to_string()))
}

fn parse_platform(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((label, image)) if !label.is_empty() && !image.is_empty() => {
            Ok((label.to_string(), image.to_string()))
        }
        _ => Err(format!(
            "`{s}` is not LABEL=IMAGE (e.g. ubuntu-latest=ubuntu:24.04)"
        )),
    }
}

/// Why the options of `--secret-file` or `--event-file` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error(transparent)]
    Secrets(#[from] crate::secrets::DotenvError),
    #[error("--event-file {path}: {message}")]
    Event { path: String, message: String },
}

impl OptionsError {
    /// What to do about it.
    pub fn help(&self) -> &'static str {
        match self {
            OptionsError::Secrets(_) => {
                "a secret file has one KEY=VALUE per line (quotes, # comments and `export ` allowed)"
            }
            OptionsError::Event { .. } => {
                "pass a JSON object as GitHub sends it for the event, e.g. {\"inputs\": {\"level\": \"debug\"}}"
            }
        }
    }
}

/// The payload of `--event-file`: a JSON object.
fn read_event(path: &std::path::Path) -> Result<serde_json::Value, OptionsError> {
    let error = |message: String| OptionsError::Event {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        error(format!(
            "not JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    if !value.is_object() {
        return Err(error("the payload must be a JSON object".into()));
    }
    Ok(value)
}

impl DialectArgs {
    /// The load options; fails on a secret file that cannot be read or
    /// has a bad line, and on an event file that is not a JSON object.
    pub fn options(&self) -> Result<crate::dialect::LoadOptions, OptionsError> {
        let mut secrets = crate::model::Env::new();
        for file in &self.secret_files {
            for (k, v) in crate::secrets::read_dotenv(file)? {
                secrets.set(k, v, None);
            }
        }
        for (k, v) in &self.secrets {
            secrets.set(k.clone(), v.clone(), None);
        }
        let event_payload = self.event_file.as_deref().map(read_event).transpose()?;
        Ok(crate::dialect::LoadOptions {
            include_dirs: self.include_dirs.clone(),
            event: self.event.clone(),
            event_payload,
            platforms: self.platforms.clone(),
            secrets,
            ..Default::default()
        })
    }
}

/// Parse the command line and run the chosen subcommand; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    init_tracing();
    let reporter = Reporter::new(cli.color);
    match cli.command {
        Command::Validate(args) => validate::validate(&args, &reporter),
        Command::List(args) => list::list(&args, &reporter),
        Command::Run(args) => run::run(&args, &reporter),
        Command::Policy(args) => policy::policy(&args, &reporter),
        Command::Doctor => doctor::doctor(),
        Command::Gc(args) => gc::gc(&args, &reporter),
    }
}

/// Write command output to stdout. A closed pipe (`nestci list | head`)
/// is not an error: the reader has what it wanted.
pub(crate) fn print(text: &str) -> i32 {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            1
        }
    }
}

fn init_tracing() {
    // `NESTCI_LOG=debug` shows what nestci itself does; quiet by default.
    let filter = tracing_subscriber::EnvFilter::try_from_env("NESTCI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
