//! `rules`, `only`/`except` and `workflow:rules`: whether a job is in the
//! pipeline, and how it runs.
//!
//! GitLab evaluates `rules` top to bottom and the first rule that matches
//! decides (`when`, `allow_failure`, `variables`); when none matches, the
//! job is not added. nestci keeps the decision for the planner, so that
//! `--env` on the command line still changes it:
//!
//! - whether the job runs becomes one condition in the `rules:if`
//!   language ([`crate::plan::condition`]), built from the rules in order:
//!   a rule that runs the job contributes `(if) || <rest>`, a
//!   `when: never` rule `!(if) && <rest>`. A rule without `if` matches
//!   always, which ends the chain. A chain that is always true leaves no
//!   condition; one that is always false makes the job `when: never`.
//! - the rule's `when` (`manual`, `always`, ...), `allow_failure` and
//!   `variables` are taken from the first rule that matches the variables
//!   known while loading (the file's, the predefined ones and `--env`).
//!
//! `rules:exists` and `rules:changes` are about the files of the checkout,
//! which do not change during a run: they are judged while loading
//! ([`Checkout`]), and a rule whose files do not match is left out of the
//! chain as if it were not written. Locally, "changed" means what git
//! shows as changed against `HEAD` (the working tree and the index) plus
//! what the `HEAD` commit changed, or everything that differs from
//! `compare_to` when given ([`crate::dialect::git::changed_files`]).
//! Outside a git repository `changes` is true, as on GitLab for a pipeline
//! that has no push to compare with. Patterns use GitLab's glob syntax
//! (`*` within a directory, `**` across them, `?`, `[abc]`), relative to
//! the project directory.
//!
//! `only`/`except` in their common form (lists of refs, `/regex/`, the
//! keywords `branches`, `tags`, `merge_requests`, ...; `variables`) become
//! a condition the same way. `workflow:rules` become a condition added to
//! every job.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::super::git;
use super::super::reader::Reader;
use super::variables::{self, Var};
use crate::model::{Located, When};
use crate::plan::condition::Condition;
use crate::yaml::{Node, Span, Value};

const RULE_KEYS: &[&str] = &[
    "if",
    "when",
    "allow_failure",
    "variables",
    "changes",
    "exists",
    "needs",
    "start_in",
    "interruptible",
];

/// One `rules` entry.
#[derive(Debug, Clone)]
pub struct Rule {
    pub cond: Option<String>,
    /// `cond`, parsed once (matrix variants and jobs sharing rules through
    /// `extends` evaluate it again and again).
    pub parsed: Option<Condition>,
    pub when: When,
    pub allow_failure: Option<bool>,
    pub variables: Vec<Var>,
    /// Its `exists` and `changes` (when written) hold for this checkout;
    /// a rule whose files do not match never matches.
    pub files_match: bool,
}

/// The project checkout as `rules:exists` and `rules:changes` see it. The
/// changed files are asked of git once per `compare_to`, and only when a
/// rule has `changes`.
pub struct Checkout {
    dir: PathBuf,
    changed: RefCell<HashMap<Option<String>, ChangedFiles>>,
    /// The repository's files ([`git::project_files`]), listed once.
    files: std::cell::OnceCell<Option<Vec<String>>>,
}

/// [`git::changed_files`]' answer for one `compare_to`.
type ChangedFiles = Result<Option<Vec<String>>, String>;

/// GitLab matches paths like Ruby's `File.fnmatch` with `FNM_PATHNAME`
/// and `FNM_DOTMATCH`: `*` stays within a directory, dot files match.
const MATCH: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

impl Checkout {
    pub fn new(dir: &Path) -> Checkout {
        Checkout {
            dir: dir.to_path_buf(),
            changed: RefCell::new(HashMap::new()),
            files: std::cell::OnceCell::new(),
        }
    }

    /// Does some file of the project match `pattern`? In a git repository
    /// the files git knows of (tracked, or untracked and not ignored);
    /// elsewhere every file under the project directory.
    fn exists(&self, pattern: &str) -> bool {
        let pattern = pattern.trim_start_matches("./");
        if let Some(files) = self.files.get_or_init(|| git::project_files(&self.dir)) {
            return glob::Pattern::new(pattern)
                .is_ok_and(|p| files.iter().any(|f| p.matches_with(f, MATCH)));
        }
        let full = format!(
            "{}/{}",
            glob::Pattern::escape(&self.dir.to_string_lossy()),
            pattern
        );
        match glob::glob_with(&full, MATCH) {
            Ok(mut paths) => paths.any(|p| p.is_ok_and(|p| p.is_file())),
            Err(_) => false,
        }
    }

    /// Does some changed file match one of `patterns`? `Ok(true)` outside
    /// a git repository (see the module docs).
    fn changes(
        &self,
        patterns: &[glob::Pattern],
        compare_to: Option<&str>,
    ) -> Result<bool, String> {
        let key = compare_to.map(str::to_string);
        let mut cache = self.changed.borrow_mut();
        let files = cache
            .entry(key)
            .or_insert_with(|| git::changed_files(&self.dir, compare_to));
        match files {
            Err(e) => Err(e.clone()),
            Ok(None) => Ok(true),
            Ok(Some(files)) => Ok(files
                .iter()
                .any(|f| patterns.iter().any(|p| p.matches_with(f, MATCH)))),
        }
    }
}

/// Rules reduced to what the model holds.
#[derive(Debug, Clone, Default)]
pub struct Compiled {
    /// `None`: always true.
    pub condition: Option<String>,
    /// No rule can ever run the job.
    pub never: bool,
}

/// Read a `rules:` list (nested lists from `!reference` are flattened).
pub fn read(
    node: &Node,
    r: &mut Reader,
    what: &str,
    checkout: &Checkout,
    warn: &mut dyn FnMut(&mut Reader, &str, Span),
) -> Vec<Rule> {
    let mut items = Vec::new();
    flatten(node, &mut items, r, what);
    let mut rules = Vec::new();
    for item in items {
        let Some(map) = r.map(item, "a rule") else {
            continue;
        };
        r.check_keys(map, RULE_KEYS, "a rule");
        let cond = map.get("if").and_then(|n| {
            let text = r.nonempty_string(n, "`if`")?;
            match Condition::parse(&text) {
                Ok(c) => Some((text, c)),
                Err(e) => {
                    r.error(n.span, format!("invalid `rules:if`: {}", e.message))
                        .set_label(format!("column {} of the condition", e.column))
                        .set_help(format!(
                            "at column {} of `{text}`; a condition uses `$VAR`, quoted strings, `null`, \
                             `==`, `!=`, `=~ /regex/`, `!~`, `!`, `&&`, `||` and parentheses",
                            e.column
                        ));
                    None
                }
            }
        });
        let when = map
            .get("when")
            .and_then(|n| read_when(n, r))
            .unwrap_or(When::OnSuccess);
        let allow_failure = map
            .get("allow_failure")
            .and_then(|n| r.bool(n, "`allow_failure`"));
        let variables = map
            .get("variables")
            .map(|n| variables::read(n, r))
            .unwrap_or_default();
        for key in ["needs", "start_in", "interruptible"] {
            if let Some((k, _)) = map.entry(key) {
                warn(r, &format!("rules:{key}"), k.span);
            }
        }
        let exists = map.get("exists").is_none_or(|n| exists(n, r, checkout));
        let changes = exists && map.get("changes").is_none_or(|n| changes(n, r, checkout));
        let (cond, parsed) = match cond {
            Some((t, c)) => (Some(t), Some(c)),
            None => (None, None),
        };
        rules.push(Rule {
            cond,
            parsed,
            when,
            allow_failure,
            variables,
            files_match: exists && changes,
        });
    }
    rules
}

/// `paths` of `exists:`/`changes:` — a list, or a mapping with `paths`
/// and the other keys in `keys` — and the mapping when there is one.
fn paths<'n>(
    node: &'n Node,
    r: &mut Reader,
    what: &str,
    keys: &[&str],
) -> Option<(Vec<Located<String>>, Option<&'n crate::yaml::Mapping>)> {
    match &node.value {
        Value::Map(m) => {
            r.check_keys(m, keys, what);
            let Some(p) = m.get("paths") else {
                r.error(node.span, format!("{what} as a mapping needs `paths`"))
                    .set_help("list the files under `paths:`, e.g. `paths: [\"src/**/*\"]`");
                return None;
            };
            Some((r.string_list(p, "a path pattern"), Some(m)))
        }
        _ => Some((r.string_list(node, "a path pattern"), None)),
    }
}

/// Compile the patterns, reporting those that are not valid globs.
fn patterns(list: &[Located<String>], r: &mut Reader) -> Vec<glob::Pattern> {
    let mut out = Vec::new();
    for p in list {
        match glob::Pattern::new(p.value.trim_start_matches("./")) {
            Ok(pattern) => out.push(pattern),
            Err(e) => {
                r.diagnostics.push(
                    crate::diag::Diagnostic::error(
                        format!("`{}` is not a valid path pattern: {}", p.value, e.msg),
                        Some(p.loc.clone()),
                    )
                    .with_help("`*` matches within a directory, `**` any depth, `[abc]` one of the characters"),
                );
            }
        }
    }
    out
}

/// `rules:exists`: does some file of the checkout match?
fn exists(node: &Node, r: &mut Reader, checkout: &Checkout) -> bool {
    let Some((list, map)) = paths(node, r, "`rules: exists`", &["paths", "project", "ref"]) else {
        return false;
    };
    if let Some(m) = map
        && let Some((k, _)) = m.entry("project").or_else(|| m.entry("ref"))
    {
        r.warning(
            k.span,
            "`exists` in another project or ref is not supported; the local checkout is used",
        );
    }
    // Reported as errors when invalid; an invalid pattern matches nothing.
    patterns(&list, r);
    list.iter().any(|p| checkout.exists(&p.value))
}

/// `rules:changes`: does some changed file match?
fn changes(node: &Node, r: &mut Reader, checkout: &Checkout) -> bool {
    let Some((list, map)) = paths(node, r, "`rules: changes`", &["paths", "compare_to"]) else {
        return false;
    };
    let compare_to = map.and_then(|m| m.get("compare_to"));
    let base = compare_to.and_then(|n| r.nonempty_string(n, "`compare_to`"));
    let patterns = patterns(&list, r);
    match checkout.changes(&patterns, base.as_deref()) {
        Ok(changed) => changed,
        Err(e) => {
            let span = compare_to.map_or(node.span, |n| n.span);
            r.error(span, format!("`compare_to`: {e}"))
                .set_help("name a branch, tag or commit that exists locally, e.g. `compare_to: refs/heads/main`");
            false
        }
    }
}

fn flatten<'n>(node: &'n Node, out: &mut Vec<&'n Node>, r: &mut Reader, what: &str) {
    match &node.value {
        Value::Seq(items) => {
            for item in items {
                if item.as_seq().is_some() {
                    flatten(item, out, r, what);
                } else {
                    out.push(item);
                }
            }
        }
        _ => {
            r.error(
                node.span,
                format!(
                    "{what} must be a list of rules, found {}",
                    node.value.kind()
                ),
            )
            .set_help("write `rules:` as a list: `- if: $CI_COMMIT_BRANCH == \"main\"`");
        }
    }
}

/// A `when:` value, including GitLab's `delayed` (run as `on_success`).
pub fn read_when(node: &Node, r: &mut Reader) -> Option<When> {
    const NAMES: &[&str] = &[
        "on_success",
        "on_failure",
        "always",
        "manual",
        "never",
        "delayed",
    ];
    r.choice(node, "`when`", NAMES, |s| match s {
        "delayed" => Some(When::OnSuccess),
        other => When::parse(other),
    })
    .map(|w| w.value)
}

/// The condition under which some rule that runs the job matches first.
pub fn compile(rules: &[Rule]) -> Compiled {
    // Fold from the last rule: `acc` is the chain after the current rule.
    // `Some(None)` stands for "true", `None` for "false".
    let mut acc: Option<Option<String>> = None;
    for rule in rules.iter().rev() {
        if !rule.files_match {
            // It never matches: the chain goes on with the next rule.
            continue;
        }
        let runs = rule.when != When::Never;
        acc = match (&rule.cond, runs) {
            (None, true) => Some(None),
            (None, false) => None,
            (Some(c), true) => match acc {
                Some(None) => Some(None),
                Some(Some(rest)) => Some(Some(format!("({c}) || {rest}"))),
                None => Some(Some(format!("({c})"))),
            },
            (Some(c), false) => match acc {
                Some(None) => Some(Some(format!("!({c})"))),
                Some(Some(rest)) => Some(Some(format!("!({c}) && {}", group(&rest)))),
                None => None,
            },
        };
    }
    match acc {
        None => Compiled {
            condition: None,
            never: true,
        },
        Some(condition) => Compiled {
            condition,
            never: false,
        },
    }
}

/// `text` as an operand of `&&`: parenthesised unless it already is one
/// group or has no `||` at its top.
fn group(text: &str) -> String {
    if !text.contains("||") || is_one_group(text) {
        text.to_string()
    } else {
        format!("({text})")
    }
}

/// `(...)` whose opening parenthesis closes at the very end.
fn is_one_group(text: &str) -> bool {
    if !text.starts_with('(') {
        return false;
    }
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i == text.len() - 1;
                }
            }
            _ => {}
        }
    }
    false
}

/// The first rule that matches with `lookup`, if any.
pub fn first_match<'r, 'v>(
    rules: &'r [Rule],
    lookup: &dyn Fn(&str) -> Option<&'v str>,
) -> Option<&'r Rule> {
    rules
        .iter()
        .filter(|rule| rule.files_match)
        .find(|rule| match &rule.parsed {
            None => rule.cond.is_none(),
            Some(c) => c.eval(lookup).unwrap_or(false),
        })
}

/// `only`/`except` as one condition; `None` when they do not restrict.
pub fn only_except(only: Option<&Node>, except: Option<&Node>, r: &mut Reader) -> Option<String> {
    let only = only.and_then(|n| refs_condition(n, r, "`only`"));
    let except = except.and_then(|n| refs_condition(n, r, "`except`"));
    match (only, except) {
        (None, None) => None,
        (Some(o), None) => Some(o),
        (None, Some(e)) => Some(format!("!({e})")),
        (Some(o), Some(e)) => Some(format!("({o}) && !({e})")),
    }
}

fn refs_condition(node: &Node, r: &mut Reader, what: &str) -> Option<String> {
    let (refs, vars): (Vec<Located<String>>, Vec<Located<String>>) = match &node.value {
        Value::Map(m) => {
            r.check_keys(m, &["refs", "variables", "changes", "kubernetes"], what);
            for key in ["changes", "kubernetes"] {
                if let Some((k, _)) = m.entry(key) {
                    r.warning(
                        k.span,
                        format!("{what}: `{key}` is not supported yet and is ignored"),
                    );
                }
            }
            (
                m.get("refs")
                    .map(|n| r.string_list(n, "a ref"))
                    .unwrap_or_default(),
                m.get("variables")
                    .map(|n| r.string_list(n, "a variables expression"))
                    .unwrap_or_default(),
            )
        }
        _ => (r.string_list(node, "a ref"), Vec::new()),
    };
    let mut parts = Vec::new();
    if !refs.is_empty() {
        let alternatives: Vec<String> = refs.iter().map(|r| ref_condition(&r.value)).collect();
        parts.push(alternatives.join(" || "));
    }
    if !vars.is_empty() {
        let mut checked = Vec::new();
        for v in &vars {
            match Condition::parse(&v.value) {
                Ok(_) => checked.push(v.value.clone()),
                Err(e) => r.diagnostics.push(crate::diag::Diagnostic::error(
                    format!("invalid {what} variables expression: {}", e.message),
                    Some(v.loc.clone()),
                )),
            }
        }
        if !checked.is_empty() {
            parts.push(checked.join(" || "));
        }
    }
    match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(
            parts
                .iter()
                .map(|p| format!("({p})"))
                .collect::<Vec<_>>()
                .join(" && "),
        ),
    }
}

/// One `only:`/`except:` ref as a condition.
fn ref_condition(name: &str) -> String {
    let source = |s: &str| format!("$CI_PIPELINE_SOURCE == \"{s}\"");
    match name {
        "branches" => "$CI_COMMIT_BRANCH".into(),
        "tags" => "$CI_COMMIT_TAG".into(),
        "merge_requests" => source("merge_request_event"),
        "pushes" => source("push"),
        "schedules" => source("schedule"),
        "web" => source("web"),
        "api" => source("api"),
        "triggers" => source("trigger"),
        "pipelines" => source("pipeline"),
        "external" => source("external"),
        "chat" => source("chat"),
        "external_pull_requests" => source("external_pull_request_event"),
        _ if name.len() > 1 && name.starts_with('/') && name[1..].contains('/') => {
            format!("$CI_COMMIT_REF_NAME =~ {name}")
        }
        _ => format!(
            "$CI_COMMIT_REF_NAME == \"{}\"",
            name.replace('\\', "\\\\").replace('"', "\\\"")
        ),
    }
}
