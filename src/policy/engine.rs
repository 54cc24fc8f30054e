//! The engine: a pure function of (pipeline, mode, host facts, policy)
//! to findings. Nothing here touches the host; `run` calls it between
//! planning and choosing a backend, so a refusal happens before any
//! container exists.

use crate::backend::Mode;
use crate::model::{Job, Loc, Pipeline};
use crate::yaml::Span;

use super::config::PolicyConfig;
use super::facts::HostFacts;
use super::finding::{Action, Finding};
use super::rule::{Hit, Rule};
use super::rules;

/// The mode a pipeline is judged for: `auto` resolved with the host facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JudgedMode {
    Dind,
    Dood,
}

impl JudgedMode {
    pub fn as_str(self) -> &'static str {
        match self {
            JudgedMode::Dind => "dind",
            JudgedMode::Dood => "dood",
        }
    }
}

/// Everything besides the pipeline that a verdict depends on.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// What the user asked for (`--mode`).
    pub requested: Mode,
    /// What the pipeline is judged as.
    pub mode: JudgedMode,
    /// The pipeline comes from someone who should not get the host: a fork
    /// pull request, `pull_request_target`, or `--untrusted`.
    pub untrusted: bool,
    /// Why it is untrusted, for the findings' notes.
    pub untrusted_why: Option<String>,
    pub facts: Option<&'a HostFacts>,
    /// Host paths the policy file allows to be bind-mounted.
    pub allowed_mounts: &'a [String],
}

impl<'a> Context<'a> {
    /// Judge for `mode`. `auto` is judged as dind (the default where the
    /// kernel allows it) unless the facts say user namespaces are missing,
    /// in which case nestci would fall back to dood.
    pub fn new(mode: Mode, facts: Option<&'a HostFacts>) -> Context<'a> {
        let no_userns = facts.is_some_and(|f| f.user_namespaces == Some(false));
        let judged = match mode {
            Mode::Dind => JudgedMode::Dind,
            Mode::Dood => JudgedMode::Dood,
            Mode::Auto if no_userns => JudgedMode::Dood,
            Mode::Auto => JudgedMode::Dind,
        };
        Context {
            requested: mode,
            mode: judged,
            untrusted: false,
            untrusted_why: None,
            facts,
            allowed_mounts: &[],
        }
    }

    pub fn untrusted(mut self, untrusted: bool) -> Self {
        self.untrusted = untrusted;
        self.untrusted_why = untrusted.then(|| "`--untrusted` was given".to_string());
        self
    }

    pub fn allowed_mounts(mut self, paths: &'a [String]) -> Self {
        self.allowed_mounts = paths;
        self
    }

    pub fn is_dood(&self) -> bool {
        self.mode == JudgedMode::Dood
    }

    /// Whether `job`'s container root is an unprivileged uid on the host:
    /// dind mode, user namespaces available, and the job did not opt out
    /// with `userns: host`. Findings this neutralises are lowered or
    /// dropped, with [`USERNS_WHY`] in their note.
    pub fn root_is_mapped(&self, job: &Job) -> bool {
        self.mode == JudgedMode::Dind
            && self.facts.is_none_or(|f| f.user_namespaces != Some(false))
            && !job
                .security
                .userns
                .as_ref()
                .is_some_and(|u| u.value == crate::model::NamespaceMode::Host)
    }
}

/// The reason shared by every finding the dind user namespace weakens.
pub const USERNS_WHY: &str = "lowered in dind mode: the job runs in a user namespace where its root \
     is an unprivileged host uid, so capabilities apply only to the job's own namespaces and \
     root-owned host files stay out of reach";

/// Run every rule over every job of `pipeline` and let `config` decide
/// what each finding means. `source` (the pipeline file's text) lets
/// findings inside scripts point at their very line.
pub fn check(
    pipeline: &Pipeline,
    cx: &Context,
    config: &PolicyConfig,
    source: Option<&str>,
) -> Vec<Finding> {
    check_with(rules::ALL, pipeline, cx, config, source)
}

/// [`check`] with a chosen set of rules.
pub fn check_with(
    rules: &[&dyn Rule],
    pipeline: &Pipeline,
    cx: &Context,
    config: &PolicyConfig,
    source: Option<&str>,
) -> Vec<Finding> {
    // A pipeline whose own definition runs outsiders' code (GitHub's
    // `pull_request_target`) is untrusted whatever the command line says.
    let derived;
    let cx = match (&pipeline.untrusted_input, cx.untrusted) {
        (Some(why), false) => {
            derived = Context {
                untrusted: true,
                untrusted_why: Some(format!("{} ({})", why.value, why.loc)),
                ..cx.clone()
            };
            &derived
        }
        _ => cx,
    };
    let mut findings = Vec::new();
    let mut hits = Vec::new();
    for job in &pipeline.jobs {
        let first_of_job = findings.len();
        for rule in rules {
            let meta = rule.meta();
            hits.clear();
            rule.check(job, cx, &mut hits);
            for hit in hits.drain(..) {
                let Hit {
                    loc,
                    message,
                    severity,
                    note,
                    needle,
                } = hit;
                let loc = match (needle, source) {
                    (Some(needle), Some(text)) => refine(text, &loc, &needle),
                    _ => loc,
                };
                let severity = severity.unwrap_or(meta.severity);
                let mut finding = Finding {
                    rule: meta.id,
                    name: meta.name,
                    severity,
                    title: meta.title,
                    job: Some(job.name.clone()),
                    loc,
                    message,
                    note,
                    action: Action::default_for(severity),
                    exception: None,
                };
                config.decide(&mut finding, job);
                // Two of a job's keys can lead to one identical hit (an
                // image named by the job and a step): report it once.
                if !findings[first_of_job..].contains(&finding) {
                    findings.push(finding);
                }
            }
        }
    }
    findings
}

/// The place of `needle` in `text` at or after `loc`'s line (a script's
/// line inside a block scalar), or `loc` itself when it is not found.
fn refine(text: &str, loc: &Loc, needle: &str) -> Loc {
    let needle = needle.trim();
    if needle.is_empty() || loc.line() == 0 {
        return loc.clone();
    }
    let first = loc.line() as usize;
    for (i, line) in text.lines().enumerate().skip(first - 1).take(500) {
        if let Some(byte) = line.find(needle) {
            let col = line[..byte].chars().count() + 1;
            return Loc::new(
                &loc.file,
                Span {
                    line: (i + 1) as u32,
                    col: col as u32,
                },
            );
        }
    }
    loc.clone()
}
