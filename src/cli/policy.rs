//! `nestci policy check|rules|explain`, and the gate `nestci run` passes
//! before anything is created.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::backend::Mode;
use crate::cli::{EXIT_USAGE, FileArg, Reporter};
use crate::diag::did_you_mean;
use crate::dialect::Loaded;
use crate::model::Pipeline;
use crate::plan::Plan;
use crate::policy::output::{Meta, json, sarif, text};
use crate::policy::{self, Context, Finding, HostFacts, PolicyConfig, Severity, rules};

/// Exit code when the policy refuses a pipeline.
pub const EXIT_DENIED: i32 = 3;

#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Judge a pipeline for privilege exposure in the mode it will run in.
    Check(CheckArgs),
    /// List every rule: id, severity, name and title.
    Rules(RulesArgs),
    /// Explain one rule in full: risk, safer alternative, reference.
    Explain {
        /// A rule id (`NCI001`) or name (`privileged`).
        id: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Pipeline file (or a directory to search).
    pub file: Option<PathBuf>,
    /// The mode to judge for: dind, dood, or auto (dind where the host
    /// has user namespaces, else dood).
    #[arg(long, value_enum, default_value = "auto")]
    pub mode: Mode,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Also fail (exit 3) on findings at or above this severity that the
    /// policy only warns about.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub fail_on: Option<Severity>,
    #[command(flatten)]
    pub options: PolicyOptions,
}

/// Policy flags shared by `policy check` and `run`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PolicyOptions {
    /// The pipeline comes from someone untrusted (a fork's pull request):
    /// giving it the host's container engine is a finding (NCI014).
    #[arg(long)]
    pub untrusted: bool,
    /// The policy file (default: .nestci/policy.yml when it exists).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
}

#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// Print the table as Markdown (the README's rules table).
    #[arg(long)]
    pub markdown: bool,
}

pub fn policy(args: &PolicyArgs, reporter: &Reporter) -> i32 {
    match &args.command {
        PolicyCommand::Check(a) => check(a, reporter),
        PolicyCommand::Rules(a) => super::print(&if a.markdown {
            rules_markdown()
        } else {
            rules_table()
        }),
        PolicyCommand::Explain { id } => explain(id, reporter),
    }
}

fn check(args: &CheckArgs, reporter: &Reporter) -> i32 {
    let loaded = match reporter.load(&FileArg {
        file: args.file.clone(),
        dialect: Default::default(),
    }) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let config = match load_config(&args.options, &loaded.pipeline, reporter) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let facts = HostFacts::probe();
    let cx = Context::new(args.mode, Some(&facts))
        .untrusted(args.options.untrusted)
        .allowed_mounts(&config.allow_mounts);
    let findings = policy::check(&loaded.pipeline, &cx, &config, Some(&loaded.text));
    let meta = Meta {
        file: &loaded.pipeline.file,
        pipeline: &loaded.pipeline.name,
        cx: &cx,
    };
    let rendered = match args.format {
        Format::Text => text::render(
            &findings,
            Some(&loaded.text),
            &meta,
            text::TextOptions {
                color: reporter.color_stdout,
                min_severity: Severity::Low,
            },
        ),
        Format::Json => json::render(&findings, &meta) + "\n",
        Format::Sarif => sarif::render(&findings, &meta) + "\n",
    };
    let code = reporter.print(&rendered);
    if code != 0 {
        return code;
    }
    let failing = findings.iter().any(|f| {
        f.is_denied() || (f.is_reported() && args.fail_on.is_some_and(|level| f.severity >= level))
    });
    if failing { EXIT_DENIED } else { 0 }
}

/// The policy file named by `--policy`, else `.nestci/policy.yml` in the
/// current directory, else none. Problems are printed; the error is the
/// exit code.
fn load_config(
    options: &PolicyOptions,
    pipeline: &Pipeline,
    reporter: &Reporter,
) -> Result<PolicyConfig, i32> {
    let loaded = match &options.policy {
        Some(path) => PolicyConfig::load(path),
        None => PolicyConfig::discover(Path::new(".")),
    };
    let config = loaded.map_err(|e| {
        reporter.diagnostics(&e.diagnostics, e.text.as_deref());
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{e}");
        EXIT_USAGE
    })?;
    let unused = config.unused_exceptions(pipeline);
    if !unused.is_empty() {
        let text = config
            .file
            .as_deref()
            .and_then(|f| std::fs::read_to_string(f.as_path()).ok());
        reporter.diagnostics(&unused, text.as_deref());
    }
    Ok(config)
}

/// The gate of `nestci run`: judge the planned jobs for `mode`, print
/// what the policy warns about, and refuse (exit 3) on a denied finding.
/// Runs before a backend is chosen, so a refusal creates nothing.
pub fn gate(
    loaded: &Loaded,
    plan: &Plan,
    mode: Mode,
    options: &PolicyOptions,
    reporter: &Reporter,
) -> Result<(), i32> {
    let config = load_config(options, &loaded.pipeline, reporter)?;
    let facts = HostFacts::probe();
    let cx = Context::new(mode, Some(&facts))
        .untrusted(options.untrusted)
        .allowed_mounts(&config.allow_mounts);
    let pipeline = Pipeline {
        jobs: plan.jobs.iter().map(|pj| pj.job.clone()).collect(),
        ..loaded.pipeline.clone()
    };
    let findings = policy::check(&pipeline, &cx, &config, Some(&loaded.text));
    let mut err = std::io::stderr().lock();
    // Warnings worth reading before a run; low ones are only counted.
    let shown: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.is_reported() && (f.is_denied() || f.severity >= Severity::Medium))
        .collect();
    let masker = reporter.masker();
    for f in &shown {
        let rendered = text::finding(f, Some(&loaded.text), reporter.color_stderr);
        let _ = writeln!(err, "{}\n", masker.mask(&rendered));
    }
    let denied: Vec<&Finding> = findings.iter().filter(|f| f.is_denied()).collect();
    if denied.is_empty() {
        if !shown.is_empty() {
            let _ = writeln!(
                err,
                "policy: {} warning{} (mode {}); running anyway. `nestci policy check` shows all findings.\n",
                shown.len(),
                if shown.len() == 1 { "" } else { "s" },
                cx.mode.as_str()
            );
        }
        return Ok(());
    }
    drop(err);
    let list: Vec<String> = denied
        .iter()
        .map(|f| format!("{} ({}) at {}", f.rule, f.title, f.loc))
        .collect();
    reporter.error(
        &format!(
            "refusing to run: the policy denies {} finding{} in {} mode: {}",
            denied.len(),
            if denied.len() == 1 { "" } else { "s" },
            cx.mode.as_str(),
            list.join("; ")
        ),
        Some(
            "fix the pipeline, or record an exception with a `reason` in .nestci/policy.yml; \
             `nestci policy explain ID` says why and what is safer",
        ),
    );
    Err(EXIT_DENIED)
}

fn rules_table() -> String {
    let mut out = format!("{:<8} {:<9} {:<24} {}\n", "ID", "SEVERITY", "NAME", "TITLE");
    for r in rules::ALL {
        let m = r.meta();
        out.push_str(&format!(
            "{:<8} {:<9} {:<24} {}\n",
            m.id,
            m.severity.as_str(),
            m.name,
            m.title
        ));
    }
    out
}

/// The README's rules table, generated from the rule metadata.
pub fn rules_markdown() -> String {
    let mut out = String::from(
        "| id | severity | name | what it finds | safer alternative | follows |\n\
         |---|---|---|---|---|---|\n",
    );
    for r in rules::ALL {
        let m = r.meta();
        let cell = |s: &str| {
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .replace('|', "\\|")
        };
        out.push_str(&format!(
            "| {} | {} | `{}` | {} | {} | {} |\n",
            m.id,
            m.severity.as_str(),
            m.name,
            cell(m.title),
            cell(m.safer),
            cell(m.reference)
        ));
    }
    out
}

fn explain(id: &str, reporter: &Reporter) -> i32 {
    let Some(rule) = rules::find(id) else {
        let mut known: Vec<&str> = rules::ALL.iter().map(|r| r.meta().id).collect();
        known.extend(rules::ALL.iter().map(|r| r.meta().name));
        let help = did_you_mean(id, &known)
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| "`nestci policy rules` lists every rule".to_string());
        reporter.error(&format!("unknown rule `{id}`"), Some(&help));
        return EXIT_USAGE;
    };
    let m = rule.meta();
    let flow = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = format!(
        "{} {} ({})\n{}\n\nRisk: {}\n\nSafer: {}\n\nReference: {}\n",
        m.id,
        m.name,
        m.severity,
        m.title,
        flow(m.risk),
        flow(m.safer),
        flow(m.reference)
    );
    if let Some(uri) = m.help_uri {
        out.push_str(&format!("More: {uri}\n"));
    }
    reporter.print(&out)
}
