//! GitLab `variables`: reading them, the predefined ones, and `$VAR`
//! expansion in the order GitLab documents.
//!
//! Precedence, lowest first (GitLab's "CI/CD variable precedence", the
//! levels that exist locally):
//!
//! 1. predefined variables (`CI`, `CI_COMMIT_SHA`, `CI_JOB_NAME`, ...);
//! 2. global `variables:` of the file;
//! 3. the job's `variables:` (after `extends`, so parents' are merged);
//! 4. `parallel:matrix` values and the matched rule's `variables:`;
//! 5. `--env K=V` from the command line (like a variable set when running
//!    a pipeline manually).
//!
//! Expansion is what GitLab does before a job starts: every value is
//! expanded recursively against the complete set (`$VAR`, `${VAR}`; `$$`
//! is a literal `$`; an unknown variable becomes empty), except those
//! written with `expand: false`. Scripts are not expanded here: the job's shell
//! does that, as on a runner.

use std::path::Path;

use super::super::git::{Commit, GitInfo};
use super::super::reader::{Reader, is_env_name};
use crate::model::{Env, Loc};
use crate::yaml::{Node, Value};

/// One variable as written in the file.
#[derive(Debug, Clone)]
pub struct Var {
    pub name: String,
    pub value: String,
    /// `expand: false` keeps `$` literally.
    pub expand: bool,
    pub loc: Option<Loc>,
}

/// Read a `variables:` mapping. Values are scalars or
/// `{value, description, expand, options}`.
pub fn read(node: &Node, r: &mut Reader) -> Vec<Var> {
    let mut out = Vec::new();
    let Some(map) = r.map(node, "`variables`") else {
        return out;
    };
    for (key, value) in map.iter() {
        if !is_env_name(&key.name) {
            r.error(
                key.span,
                format!("`{}` is not a valid variable name", key.name),
            )
            .set_help("variable names use letters, digits and `_`, and do not start with a digit");
            continue;
        }
        let (text, expand) = match &value.value {
            Value::Null => (Some(String::new()), true),
            Value::Map(m) => {
                r.check_keys(
                    m,
                    &["value", "description", "expand", "options"],
                    &format!("variable `{}`", key.name),
                );
                let text = match m.get("value") {
                    Some(v) if v.value == Value::Null => Some(String::new()),
                    Some(v) => r.string(v, &format!("the value of `{}`", key.name)),
                    None => Some(String::new()),
                };
                let expand = m
                    .get("expand")
                    .and_then(|n| r.bool(n, "`expand`"))
                    .unwrap_or(true);
                (text, expand)
            }
            _ => (
                r.string(value, &format!("the value of `{}`", key.name)),
                true,
            ),
        };
        if let Some(text) = text {
            out.push(Var {
                name: key.name.clone(),
                value: text,
                expand,
                loc: Some(r.loc(key.span)),
            });
        }
    }
    out
}

/// The predefined variables every job of the pipeline sees. Job-specific
/// ones (`CI_JOB_NAME`, ...) are added per job by [`job_predefined`].
///
/// Locally, `CI_COMMIT_TAG` is set when `HEAD` is exactly at a tag (the
/// first by name when there are several), also on a branch, where
/// `CI_COMMIT_BRANCH` stays set too; `CI_COMMIT_REF_NAME` is the branch,
/// or the tag when `HEAD` is detached.
pub fn predefined(project_dir: &Path, git: &GitInfo, commit: Option<&Commit>, source: &str) -> Env {
    let mut env = Env::new();
    let mut set = |k: &str, v: &str| env.set(k, v, None);
    set("CI", "true");
    set("GITLAB_CI", "true");
    set("CI_SERVER", "yes");
    set("CI_PROJECT_DIR", "/workspace");
    set("CI_BUILDS_DIR", "/");
    let project = git
        .root
        .as_deref()
        .unwrap_or(project_dir)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "project".into());
    set("CI_PROJECT_NAME", &project);
    set("CI_PIPELINE_SOURCE", source);
    if let Some(sha) = &git.sha {
        set("CI_COMMIT_SHA", sha);
        set("CI_COMMIT_SHORT_SHA", &sha[..8.min(sha.len())]);
    }
    if let Some(branch) = &git.branch {
        set("CI_COMMIT_BRANCH", branch);
        set("CI_COMMIT_REF_NAME", branch);
        set("CI_COMMIT_REF_SLUG", &slug(branch));
    }
    let tag = commit.and_then(|c| c.tags.first());
    if let Some(tag) = tag {
        set("CI_COMMIT_TAG", tag);
    }
    if git.branch.is_none()
        && let Some(name) = tag.or(git.sha.as_ref())
    {
        set("CI_COMMIT_REF_NAME", name);
        set("CI_COMMIT_REF_SLUG", &slug(name));
    }
    if let Some(c) = commit {
        let (title, description) = c.message.split_once('\n').unwrap_or((&c.message, ""));
        set("CI_COMMIT_TITLE", title);
        set(
            "CI_COMMIT_DESCRIPTION",
            description.trim_start_matches('\n'),
        );
        set("CI_COMMIT_MESSAGE", &c.message);
    }
    if let Some(b) = &git.default_branch {
        set("CI_DEFAULT_BRANCH", b);
    }
    env
}

/// Variables that name the job itself.
pub fn job_predefined(env: &mut Env, name: &str, stage: &str, node: Option<(usize, usize)>) {
    env.set("CI_JOB_NAME", name, None);
    env.set("CI_JOB_NAME_SLUG", slug(name), None);
    env.set("CI_JOB_STAGE", stage, None);
    if let Some((index, total)) = node {
        env.set("CI_NODE_INDEX", index.to_string(), None);
        env.set("CI_NODE_TOTAL", total.to_string(), None);
    }
}

/// GitLab's `*_SLUG`: lower-cased, every run of characters other than
/// `0-9a-z` replaced by `-`, at most 63 bytes, no `-` at either end.
pub fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(63);
    out.trim_matches('-').to_string()
}

/// Layer `vars` over `env`, remembering which names must not be expanded.
pub fn layer(env: &mut Env, raw: &mut Vec<String>, vars: &[Var]) {
    for v in vars {
        env.set(v.name.clone(), v.value.clone(), v.loc.clone());
        raw.retain(|n| n != &v.name);
        if !v.expand {
            raw.push(v.name.clone());
        }
    }
}

/// Expand every value of `env` against the complete set, recursively, as
/// GitLab does before it hands a job to a runner (since 14.3): `B: $A/x`
/// and `C: $B/y` give `C` its full value whatever the order of definition.
/// Names in `raw` (`expand: false`) are kept as written and inserted as
/// they are. A reference back into a cycle expands to nothing.
pub fn expand_all(env: &Env, raw: &[String]) -> Env {
    let mut done: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut out = Env::new();
    for v in env.iter() {
        let mut visiting = Vec::new();
        let value = resolve(&v.name, env, raw, &mut done, &mut visiting);
        out.set(v.name.clone(), value, v.loc.clone());
    }
    out
}

fn resolve(
    name: &str,
    env: &Env,
    raw: &[String],
    done: &mut std::collections::HashMap<String, String>,
    visiting: &mut Vec<String>,
) -> String {
    if let Some(v) = done.get(name) {
        return v.clone();
    }
    let Some(value) = env.get(name) else {
        return String::new();
    };
    if raw.iter().any(|r| r == name) || !value.contains('$') {
        return value.to_string();
    }
    if visiting.iter().any(|v| v == name) {
        return String::new();
    }
    visiting.push(name.to_string());
    // Resolve the names this value uses first, then substitute.
    let mut resolved: Vec<(String, String)> = Vec::new();
    for used in referenced(value) {
        if env.get(&used).is_some() && !resolved.iter().any(|(n, _)| n == &used) {
            let v = resolve(&used, env, raw, done, visiting);
            resolved.push((used, v));
        }
    }
    visiting.pop();
    let out = expand(value, &|n| {
        resolved
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    });
    done.insert(name.to_string(), out.clone());
    out
}

/// The variable names `text` refers to.
fn referenced(text: &str) -> Vec<String> {
    let names = std::cell::RefCell::new(Vec::new());
    expand(text, &|n| {
        names.borrow_mut().push(n.to_string());
        None
    });
    names.into_inner()
}

/// Expand `$VAR`, `${VAR}` and `$$` in `text`. Unknown variables become
/// empty; a `$` not followed by a name stays.
pub fn expand<'a>(text: &str, lookup: &dyn Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) if is_env_name(&inner[..end]) => {
                    out.push_str(lookup(&inner[..end]).unwrap_or(""));
                    rest = &inner[end + 1..];
                }
                _ => {
                    out.push('$');
                    rest = after;
                }
            }
        } else {
            let len = after
                .char_indices()
                .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
                .map_or(after.len(), |(j, _)| j);
            if len == 0 || after.as_bytes()[0].is_ascii_digit() {
                out.push('$');
                rest = after;
            } else {
                out.push_str(lookup(&after[..len]).unwrap_or(""));
                rest = &after[len..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_forms() {
        let env = |n: &str| match n {
            "A" => Some("1"),
            "NAME" => Some("x"),
            _ => None,
        };
        assert_eq!(expand("$A-${NAME}-$$A-$NOPE.", &env), "1-x-$A-.");
        assert_eq!(expand("cost: $5 and $", &env), "cost: $5 and $");
        assert_eq!(expand("${bad name}", &env), "${bad name}");
    }

    #[test]
    fn expanded_recursively_against_the_whole_set_unless_raw() {
        let mut env = Env::new();
        env.set("BASE", "/opt", None);
        env.set("BIN", "$BASE/bin", None);
        env.set("TOOL", "${BIN}/tool", None);
        env.set("LOOP", "x$LOOP", None);
        env.set("LATER", "$EARLY", None);
        env.set("EARLY", "e", None);
        env.set("RAW", "$BASE", None);
        let out = expand_all(&env, &["RAW".to_string()]);
        assert_eq!(out.get("BIN"), Some("/opt/bin"));
        assert_eq!(out.get("TOOL"), Some("/opt/bin/tool"));
        assert_eq!(out.get("LOOP"), Some("x"));
        assert_eq!(out.get("LATER"), Some("e"));
        assert_eq!(out.get("RAW"), Some("$BASE"));
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Feature/Add_Thing!"), "feature-add-thing");
        assert_eq!(slug("test 1/3"), "test-1-3");
    }
}
