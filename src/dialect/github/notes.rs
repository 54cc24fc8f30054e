//! Keys nestci accepts in a workflow but does not apply: each is reported
//! once per file, as a warning at its first occurrence, saying what nestci
//! does instead. Nothing a user wrote is dropped silently, and nothing
//! GitHub accepts is an error just because nestci cannot act on it.
//!
//! Keys are named by their path (`strategy.fail-fast`, `services.ports`),
//! so the same key under two jobs is one warning, while `ports` of a
//! service and `ports` of a container are two: they mean different things.

use std::collections::HashSet;

use super::super::reader::Reader;
use crate::yaml::{Mapping, Span};

/// Which unapplied keys were already reported in this file.
#[derive(Debug, Default)]
pub struct Notes {
    seen: HashSet<String>,
}

impl Notes {
    /// Report `key` (a path such as `strategy.max-parallel`) at `span`,
    /// unless it was reported before.
    pub fn note(&mut self, r: &mut Reader, key: &str, span: Span) {
        if !self.seen.insert(key.to_string()) {
            return;
        }
        let (message, help) = message(key);
        r.warning(span, message).set_help(help);
    }

    /// Report every key of `map` that is in `keys`, as `prefix.key`.
    pub fn note_keys(&mut self, r: &mut Reader, map: &Mapping, prefix: &str, keys: &[&str]) {
        for (k, _) in map.iter() {
            if keys.contains(&k.name.as_str()) {
                let path = if prefix.is_empty() {
                    k.name.clone()
                } else {
                    format!("{prefix}.{}", k.name)
                };
                self.note(r, &path, k.span);
            }
        }
    }
}

/// Workflow keys that are accepted and not applied.
pub const TOP: &[&str] = &["permissions", "concurrency", "run-name"];
/// Job keys that are accepted and not applied.
pub const JOB: &[&str] = &["permissions", "concurrency", "environment"];
/// `container` keys that are accepted and not applied.
pub const CONTAINER: &[&str] = &["options", "ports", "volumes", "credentials"];
/// Service keys that are accepted and not (or not fully) applied.
pub const SERVICE: &[&str] = &["options", "ports", "volumes", "credentials"];

/// The warning and its help for one key path.
fn message(key: &str) -> (String, String) {
    let once = "nestci ignores it; this is reported once per file";
    let (m, h): (String, &str) = match key {
        "permissions" => (
            "`permissions` sets the scopes of GitHub's GITHUB_TOKEN, which nestci does not have".into(),
            once,
        ),
        "job.permissions" => (
            "`permissions` of a job sets the scopes of GitHub's GITHUB_TOKEN, which nestci does not have".into(),
            once,
        ),
        "concurrency" => (
            "`concurrency` is not applied: nestci never cancels or queues a run for another".into(),
            once,
        ),
        "job.concurrency" => (
            "`concurrency` of a job is not applied: nestci never cancels or queues a job for another".into(),
            once,
        ),
        "run-name" => (
            "`run-name` only names the run on GitHub's web pages".into(),
            once,
        ),
        "job.environment" => (
            "`environment` (deployment environments, their protection rules, variables and secrets) is not applied; the job runs without them".into(),
            "pass what the environment would provide with `--env KEY=VALUE`; this is reported once per file",
        ),
        "strategy.fail-fast" => (
            "`strategy.fail-fast` is not applied: when one matrix job fails, nestci lets the others finish".into(),
            "`fail-fast: false` says what nestci does; this is reported once per file",
        ),
        "strategy.max-parallel" => (
            "`strategy.max-parallel` is not applied per matrix".into(),
            "bound how many jobs run at once with `nestci run --jobs N`; this is reported once per file",
        ),
        "services.ports" => (
            "`services.ports` are used for readiness, not published: before the first step nestci waits until each container port accepts a TCP connection; the job reaches its services by their name (and on localhost in dind mode)".into(),
            "the host side of `HOST:CONTAINER` is not used; this is reported once per file",
        ),
        "container.ports" => (
            format!("`{key}` is not applied: nestci publishes no ports; the job reaches its services by their name (and on localhost in dind mode)"),
            once,
        ),
        "container.options" | "services.options" => (
            format!("`{key}` (extra `docker create` flags) is not applied"),
            "health checks, resources and privileges are not taken from `options`; this is reported once per file",
        ),
        "container.volumes" | "services.volumes" => (
            format!("`{key}` is not applied: only the workspace is mounted"),
            once,
        ),
        "container.credentials" | "services.credentials" => (
            format!("`{key}` is not applied: images are pulled with the credentials nestci itself has"),
            "log in to the registry before the run (dood) or import the image (`nestci images`); this is reported once per file",
        ),
        "on.filters" => (
            "the event's filters (`branches`, `tags`, `paths`, `types`, ...) are not applied: nestci runs the workflow for the chosen event whatever they say".into(),
            "choose the event with `--event NAME`; this is reported once per file",
        ),
        other => (format!("`{other}` is not applied"), once),
    };
    (m, h.to_string())
}
