//! The policy file, `.nestci/policy.yml`: what to do with each rule's
//! findings, and per-job exceptions that must say why.
//!
//! ```yaml
//! rules:                      # per rule id (or name): deny | warn | ignore
//!   NCI027: ignore
//!   image-unpinned: deny
//! exceptions:                 # per job; `reason` is required
//!   - rule: NCI012
//!     job: gpu-tests          # a job name, or a matrix job's template name
//!     reason: the CUDA tests need /dev/nvidia0; this runner is dedicated
//!     action: warn            # optional, default ignore
//! allow_mounts:               # host paths NCI018 accepts as bind mounts
//!   - /opt/toolchains
//! ```
//!
//! Precedence, most specific first: an exception for (rule, job), then the
//! rule's entry under `rules`, then the default (critical: deny, others:
//! warn). The file is read like a pipeline: every mistake is reported at
//! its line and column, unknown keys with a "did you mean".

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Diagnostic, did_you_mean};
use crate::dialect::reader::Reader;
use crate::model::{Job, Located};

use super::finding::{Action, Finding};
use super::rules;

/// Where `nestci` looks for the policy, relative to the project directory.
pub const DEFAULT_PATH: &str = ".nestci/policy.yml";

const TOP_KEYS: &[&str] = &["rules", "exceptions", "allow_mounts"];
const EXCEPTION_KEYS: &[&str] = &["rule", "job", "reason", "action"];

/// A parsed policy file. The default value is "no policy file".
#[derive(Debug, Clone, Default)]
pub struct PolicyConfig {
    /// The file it came from.
    pub file: Option<Arc<PathBuf>>,
    /// Rule id to action.
    pub rules: HashMap<&'static str, Located<Action>>,
    pub exceptions: Vec<Exception>,
    /// Host paths (and everything below them) that may be bind-mounted.
    pub allow_mounts: Vec<String>,
}

/// "In this job, this rule's findings mean `action`, because `reason`."
#[derive(Debug, Clone)]
pub struct Exception {
    pub rule: &'static str,
    pub job: Located<String>,
    pub reason: String,
    pub action: Action,
}

/// A policy file that could not be used: every problem, located.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid policy file {}", .file.display())]
pub struct PolicyFileError {
    pub file: PathBuf,
    pub diagnostics: Vec<Diagnostic>,
    /// The file's text when it could be read, for snippets.
    pub text: Option<Arc<str>>,
}

impl PolicyConfig {
    /// Read the policy at `path`.
    pub fn load(path: &Path) -> Result<PolicyConfig, PolicyFileError> {
        match std::fs::read_to_string(path) {
            Ok(text) => PolicyConfig::parse(path, &text),
            Err(e) => Err(PolicyFileError {
                file: path.to_path_buf(),
                diagnostics: vec![Diagnostic::error(
                    format!("cannot read the policy file {}: {e}", path.display()),
                    None,
                )],
                text: None,
            }),
        }
    }

    /// Read `dir/.nestci/policy.yml` when it exists; no file is no policy.
    pub fn discover(dir: &Path) -> Result<PolicyConfig, PolicyFileError> {
        let path = dir.join(DEFAULT_PATH);
        if path.is_file() {
            PolicyConfig::load(&path)
        } else {
            Ok(PolicyConfig::default())
        }
    }

    /// Parse policy text as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<PolicyConfig, PolicyFileError> {
        let file = Arc::new(path.to_path_buf());
        let source: Arc<str> = Arc::from(text);
        let fail = |diagnostics| PolicyFileError {
            file: path.to_path_buf(),
            diagnostics,
            text: Some(Arc::clone(&source)),
        };
        let doc = match crate::yaml::parse(text) {
            Ok(doc) => doc,
            Err(e) => {
                let loc = e.span.map(|s| crate::model::Loc::new(&file, s));
                let mut d = Diagnostic::error(format!("invalid YAML: {}", e.message), loc);
                d.help = e.help;
                return Err(fail(vec![d]));
            }
        };
        let mut r = Reader::new(Arc::clone(&file));
        let mut config = PolicyConfig {
            file: Some(Arc::clone(&file)),
            ..PolicyConfig::default()
        };
        if matches!(doc.root.value, crate::yaml::Value::Null) {
            return Ok(config);
        }
        if let Some(top) = r.map(&doc.root, "the policy file") {
            r.check_keys(top, TOP_KEYS, "the policy file");
            if let Some(node) = top.get("rules")
                && let Some(map) = r.map(node, "`rules`")
            {
                for (key, value) in map.iter() {
                    let Some(id) = rule_id(&key.name, key.span, &mut r) else {
                        continue;
                    };
                    if let Some(action) =
                        r.choice(value, "rule action", Action::NAMES, Action::parse)
                    {
                        config.rules.insert(id, action);
                    }
                }
            }
            if let Some(node) = top.get("exceptions")
                && let Some(items) = r.seq(node, "`exceptions`")
            {
                for item in items {
                    if let Some(e) = exception(item, &mut r) {
                        config.exceptions.push(e);
                    }
                }
            }
            if let Some(node) = top.get("allow_mounts") {
                for path in r.string_list(node, "a host path") {
                    if !path.value.starts_with('/') {
                        r.error(
                            path.loc.span,
                            "an allowed mount must be an absolute host path",
                        )
                        .set_help("write it as `/opt/toolchains`");
                        continue;
                    }
                    config.allow_mounts.push(path.value);
                }
            }
        }
        let diagnostics = r.diagnostics;
        if diagnostics.iter().any(Diagnostic::is_error) {
            return Err(fail(diagnostics));
        }
        Ok(config)
    }

    /// Warnings for exceptions that name no job of `pipeline`: a typo there
    /// would otherwise silently except nothing.
    pub fn unused_exceptions(&self, pipeline: &crate::model::Pipeline) -> Vec<Diagnostic> {
        let names: Vec<&str> = pipeline
            .jobs
            .iter()
            .flat_map(|j| [j.name.as_str(), j.template.as_str()])
            .collect();
        self.exceptions
            .iter()
            .filter(|e| !names.contains(&e.job.value.as_str()))
            .map(|e| {
                let help = match did_you_mean(&e.job.value, &names) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("the pipeline's jobs: {}", names.join(", ")),
                };
                Diagnostic::warning(
                    format!("the exception for {} names no job of this pipeline", e.rule),
                    Some(e.job.loc.clone()),
                )
                .with_label(format!("no job `{}`", e.job.value))
                .with_help(help)
            })
            .collect()
    }

    /// Set `finding.action` (and `exception`) from this policy.
    pub fn decide(&self, finding: &mut Finding, job: &Job) {
        let exception = self.exceptions.iter().find(|e| {
            e.rule == finding.rule && (e.job.value == job.name || e.job.value == job.template)
        });
        if let Some(e) = exception {
            finding.action = e.action;
            finding.exception = Some(e.reason.clone());
        } else if let Some(action) = self.rules.get(finding.rule) {
            finding.action = action.value;
        }
    }
}

/// A rule named by id (`NCI001`) or name (`privileged`), or an error with a
/// suggestion.
fn rule_id(word: &str, span: crate::yaml::Span, r: &mut Reader) -> Option<&'static str> {
    if let Some(rule) = rules::find(word) {
        return Some(rule.meta().id);
    }
    let mut known: Vec<&str> = rules::ALL.iter().map(|r| r.meta().id).collect();
    known.extend(rules::ALL.iter().map(|r| r.meta().name));
    let help = match did_you_mean(word, &known) {
        Some(s) => format!("did you mean `{s}`?"),
        None => "`nestci policy rules` lists every rule".to_string(),
    };
    r.error(span, format!("unknown rule `{word}`"))
        .set_label("not a rule id or name")
        .set_help(help);
    None
}

fn exception(node: &crate::yaml::Node, r: &mut Reader) -> Option<Exception> {
    let map = r.map(node, "an exception")?;
    r.check_keys(map, EXCEPTION_KEYS, "an exception");
    let rule = match map.get("rule") {
        Some(n) => {
            let word = r.nonempty_string(n, "`rule`")?;
            rule_id(&word, n.span, r)
        }
        None => {
            r.error(node.span, "an exception has no `rule`")
                .set_help("name the rule it excepts: `rule: NCI012`");
            None
        }
    };
    let job = match map.get("job") {
        Some(n) => r.located_string(n, "`job`"),
        None => {
            r.error(node.span, "an exception has no `job`")
                .set_help("name the job it applies to: `job: build`");
            None
        }
    };
    let reason = match map.get("reason") {
        Some(n) => r.nonempty_string(n, "`reason`"),
        None => {
            r.error(node.span, "an exception has no `reason`")
                .set_label("every exception must say why")
                .set_help("add `reason: <why this job needs it and what limits the risk>`");
            None
        }
    };
    let action = match map.get("action") {
        Some(n) => {
            r.choice(n, "exception action", Action::NAMES, Action::parse)?
                .value
        }
        None => Action::Ignore,
    };
    Some(Exception {
        rule: rule?,
        job: job?,
        reason: reason?,
        action,
    })
}
