//! The GitHub Actions dialect: `.github/workflows/*.yml` into the model.
//!
//! What is decided while loading, with the contexts known before a run
//! (`github` for the chosen `--event`, `env`, `vars`, `matrix`, `inputs`
//! defaults, `runner`):
//!
//! - the jobs: `needs`, `strategy.matrix` (include/exclude; jobs named
//!   `test (ubuntu-latest, 20)` as GitHub names them), `runs-on` mapped to
//!   an image by the platform table ([`platform`]), `container`,
//!   `services`, `timeout-minutes`, `continue-on-error`, `env` at the
//!   workflow, job and step levels, `defaults.run`;
//! - `if:` of jobs and steps, evaluated by the expression engine
//!   ([`expr`]): `failure()` makes a job or step run on failure,
//!   `always()` always, and a condition that is false with what is known
//!   before the run drops the step, or marks the job
//!   [`skipped`](crate::model::Job::skipped) with the condition, event and
//!   branch as the reason — and with it every job that needs it, unless
//!   that job's `if:` says `always()`, as GitHub does;
//! - accepted keys nestci does not apply (`permissions`, `concurrency`,
//!   `environment`, `fail-fast`, service `ports`, ...) are warnings once
//!   per file ([`notes`]); unknown keys are errors; merge keys (`<<`) are
//!   errors, as on GitHub, which reads anchors and aliases but not those;
//! - `${{ }}` in `run`, `env`, `with`, names and working directories is
//!   replaced with what is known before the run; `secrets` holds
//!   `--secret`/`--secret-file` (masked in all output by the run). What
//!   only exists while the job runs — `steps.<id>.outputs`/`outcome`/
//!   `conclusion`, `needs.<id>.outputs`/`result`, and the `env` that
//!   `$GITHUB_ENV` may change — is left to [`runtime`]: such a value keeps
//!   its `steps` and `needs` placeholders as written (what `nestci list`
//!   shows) and is evaluated again by the runner through the model's
//!   [`StepTemplate`](crate::model::StepTemplate) and
//!   [`JobTemplate`](crate::model::JobTemplate): a step's `run`, `env`,
//!   `name`, `working-directory`, `if` and `docker://` `with`; a job's
//!   `env`, its `if:` when it reads `needs` (the job then waits for its
//!   needs whatever they did and the condition decides, with GitHub's
//!   implicit `success()`), and its `outputs`. `steps.<id>` naming no
//!   earlier step and `needs.<id>` naming a job not needed are warnings;
//!   duplicate step ids are errors. Every job offers the `GITHUB_ENV`,
//!   `GITHUB_OUTPUT`, `GITHUB_PATH` and `GITHUB_STEP_SUMMARY` files
//!   ([`crate::model::StepFiles`]).
//!
//! Not done yet: run-time values in a local composite action's `with`
//! (they read as empty, with a warning) and such an action's `outputs`;
//! a called workflow's `outputs`, `fail-fast` and `max-parallel`. Local
//! reusable workflows become jobs of the run ([`reusable`]).

pub mod expr;
mod matrix;
mod notes;
mod platform;
mod reusable;
mod runtime;
mod steps;

pub use platform::image_for;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value as Json, json};

use super::LoadOptions;
use super::reader::Reader;
use crate::diag::Diagnostic;
use crate::model::{Dialect, Env, Job, Located, Need, Pipeline, Service, Skipped, StepWhen, When};
use crate::yaml::{Node, Value};
use expr::{Contexts, JobStatus};
use notes::Notes;

const CONTAINER_KEYS: &[&str] = &["image", "env", "options", "ports", "volumes", "credentials"];
const SERVICE_KEYS: &[&str] = &["image", "env", "ports", "options", "volumes", "credentials"];

const TOP_KEYS: &[&str] = &[
    "name",
    "run-name",
    "on",
    "env",
    "defaults",
    "jobs",
    "permissions",
    "concurrency",
];
const JOB_KEYS: &[&str] = &[
    "name",
    "needs",
    "if",
    "runs-on",
    "container",
    "services",
    "env",
    "defaults",
    "steps",
    "strategy",
    "timeout-minutes",
    "continue-on-error",
    "outputs",
    "permissions",
    "concurrency",
    "environment",
    "uses",
    "with",
    "secrets",
];

/// `defaults.run`: the shell and working directory of `run` steps.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    pub shell: Option<String>,
    pub working_directory: Option<String>,
}

/// Parse a workflow. Errors and warnings are left in `r`.
pub fn parse(root: &Node, r: &mut Reader, options: &LoadOptions) -> Option<Pipeline> {
    let top = r.map(root, "a GitHub workflow")?;
    r.check_keys(top, TOP_KEYS, "a workflow");
    let mut notes = Notes::default();
    notes.note_keys(r, top, "", notes::TOP);
    let file = Arc::clone(&r.file);
    let project = project_dir(&file);
    let event = options.event.clone().unwrap_or_else(|| "push".into());
    let mut untrusted_input = None;
    match top.entry("on") {
        Some((_, on)) => {
            check_event(on, &event, &mut notes, r);
            untrusted_input = dangerous_trigger(on, r);
        }
        None => {
            r.error(root.span, "the workflow has no `on`")
                .set_help("add the events that start it, e.g. `on: [push, pull_request]`");
        }
    }

    let mut git = super::git::inspect(if project.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &project
    });
    // `--env GITHUB_REF_NAME=...` / `GITHUB_SHA=...` stand for another
    // checkout: the `github` context and the predefined variables agree.
    if let Some(branch) = options.env.get("GITHUB_REF_NAME") {
        git.branch = Some(branch.to_string());
    }
    if let Some(sha) = options.env.get("GITHUB_SHA") {
        git.sha = Some(sha.to_string());
    }
    let mut cx = Contexts::default();
    let mut github = github_context(&git, &event, &project);
    if let (Some(Json::Object(payload)), Some(Json::Object(event))) =
        (&options.event_payload, github.get_mut("event"))
    {
        // The payload as GitHub would send it, over what nestci makes up.
        for (k, v) in payload {
            event.insert(k.clone(), v.clone());
        }
    }
    cx.set("github", github);
    cx.set("vars", json!({}));
    cx.set("secrets", env_json(&options.secrets));
    cx.set("needs", json!({}));
    cx.set("steps", json!({}));
    let mut inputs = inputs(top, r);
    // A dispatch's inputs come with its payload, over the defaults.
    if event == "workflow_dispatch"
        && let (Json::Object(inputs), Some(Json::Object(given))) = (
            &mut inputs,
            options.event_payload.as_ref().and_then(|p| p.get("inputs")),
        )
    {
        for (k, v) in given {
            inputs.insert(k.clone(), v.clone());
        }
    }
    cx.set("inputs", inputs);
    cx.set(
        "runner",
        json!({"os": "Linux", "arch": "X64", "temp": "/tmp", "tool_cache": "/opt/hostedtoolcache"}),
    );
    let base = base_env(&git, &event);
    let mut workflow_env = base.clone();
    cx.set("env", env_json(&workflow_env));
    if let Some(n) = top.get("env") {
        let own = env(n, &cx, r);
        workflow_env.overlay(&own);
    }
    workflow_env.overlay(&options.env);
    let defaults = top
        .get("defaults")
        .map(|n| defaults(n, &cx, r))
        .unwrap_or_default();

    let Some(jobs_node) = top.get("jobs") else {
        r.error(root.span, "the workflow has no `jobs`");
        return None;
    };
    let scope = Scope {
        cx,
        base_env: base,
        env: workflow_env,
        defaults,
        project: &project,
        options,
        chain: vec![file.to_path_buf()],
        prefix: String::new(),
        calls: runtime::Calls::default(),
    };
    let mut jobs = read_jobs(jobs_node, &scope, &mut notes, r)?;
    let name = top
        .get("name")
        .and_then(Node::scalar_text)
        .unwrap_or_else(|| {
            file.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "workflow".into())
        });
    skip_dependants(&mut jobs);
    finish_diagnostics(r);
    Some(Pipeline {
        name,
        dialect: Dialect::GitHub,
        file,
        stages: Vec::new(),
        jobs,
        untrusted_input,
    })
}

/// What the jobs of one workflow are read with: the workflow nestci was
/// pointed at, or a reusable workflow one of its jobs calls
/// ([`reusable`]).
#[derive(Debug, Clone)]
pub(crate) struct Scope<'a> {
    /// The contexts known before the run: `github`, `vars`, `secrets`,
    /// `inputs`, `runner`, and `env` as the workflow level sets it.
    pub cx: Contexts,
    /// The predefined variables (CI, GITHUB_*), before any file's `env`:
    /// a called workflow starts from these, not from its caller's `env`.
    pub base_env: Env,
    /// The workflow's `env` over `base_env`, with `--env` over it.
    pub env: Env,
    pub defaults: Defaults,
    /// The repository root (`uses: ./...` is relative to it).
    pub project: &'a Path,
    pub options: &'a LoadOptions,
    /// The workflow files from the one nestci was pointed at down to this
    /// one: the depth limit and the cycle check of reusable workflows.
    pub chain: Vec<PathBuf>,
    /// Before every job name: `caller / ` in a called workflow, as GitHub
    /// shows its jobs.
    pub prefix: String,
    /// The reusable-workflow calls of the whole run, shared by every job's
    /// run-time parts (`needs.<caller>.outputs`).
    pub calls: runtime::Calls,
}

/// The jobs of a workflow's `jobs:` mapping, with `needs` resolved among
/// them. A job that calls a reusable workflow becomes the called
/// workflow's jobs; its `needs` go to their entry jobs (those needing
/// nothing inside the called workflow).
fn read_jobs(
    jobs_node: &Node,
    scope: &Scope,
    notes: &mut Notes,
    r: &mut Reader,
) -> Option<Vec<Job>> {
    let jobs_map = r.map(jobs_node, "`jobs`")?;
    let mut jobs: Vec<Job> = Vec::new();
    let mut expansions: Vec<(String, Vec<String>)> = Vec::new();
    let mut needs_of: Vec<Option<Vec<Located<String>>>> = Vec::new();
    for (key, node) in jobs_map.iter() {
        let Some(map) = r.map(node, &format!("job `{}`", key.name)) else {
            continue;
        };
        r.check_keys(map, JOB_KEYS, &format!("job `{}`", key.name));
        note_unapplied(&key.name, map, notes, r);
        let needs: Option<Vec<Located<String>>> = map
            .get("needs")
            .map(|n| r.string_list(n, "a job id in `needs`"));
        if let Some(uses) = map.get("uses") {
            let mut names = Vec::new();
            for job in reusable::call(&key.name, map, uses, scope, r) {
                let entry = job.needs.as_ref().is_none_or(Vec::is_empty);
                names.push(job.name.clone());
                needs_of.push(if entry { needs.clone() } else { None });
                jobs.push(job);
            }
            expansions.push((key.name.clone(), names));
            continue;
        }
        let combos = match map.get("strategy").and_then(|s| r.map(s, "`strategy`")) {
            Some(strategy) => {
                r.check_keys(
                    strategy,
                    &["matrix", "fail-fast", "max-parallel"],
                    "`strategy`",
                );
                // `fail-fast: false` is what nestci does anyway.
                let literal_false =
                    |k: &str| matches!(strategy.get(k).map(|n| &n.value), Some(Value::Bool(false)));
                if !literal_false("fail-fast") {
                    notes.note_keys(r, strategy, "strategy", &["fail-fast"]);
                }
                notes.note_keys(r, strategy, "strategy", &["max-parallel"]);
                strategy
                    .get("matrix")
                    .map(|m| matrix::expand(m, r))
                    .unwrap_or_default()
            }
            None => Vec::new(),
        };
        let variants: Vec<matrix::Combo> = if combos.is_empty() {
            vec![Vec::new()]
        } else {
            combos
        };
        let mut names = Vec::new();
        for combo in variants {
            let mut jcx = scope.cx.clone();
            jcx.set("matrix", matrix::context(&combo));
            // The ids this job needs: what `needs.<id>` may name.
            jcx.set(
                "needs",
                Json::Object(
                    needs
                        .iter()
                        .flatten()
                        .map(|n| (n.value.clone(), json!({})))
                        .collect(),
                ),
            );
            if let Some(mut job) = read_job(&key.name, key.span, map, &combo, &jcx, scope, r) {
                if !scope.prefix.is_empty() {
                    job.name = format!("{}{}", scope.prefix, job.name);
                    job.template = format!("{}{}", scope.prefix, job.template);
                }
                names.push(job.name.clone());
                jobs.push(job);
                needs_of.push(needs.clone());
            }
        }
        expansions.push((key.name.clone(), names));
    }
    // `needs` name job ids; a matrix job id means all its variants, a job
    // calling a workflow all of that workflow's jobs. A called workflow's
    // jobs keep the needs they have among themselves.
    for (job, needs) in jobs.iter_mut().zip(needs_of) {
        let resolved: Vec<Need> = needs
            .unwrap_or_default()
            .into_iter()
            .flat_map(|n| match expansions.iter().find(|(id, _)| *id == n.value) {
                Some((_, names)) => names
                    .iter()
                    .map(|t| Need {
                        job: t.clone(),
                        optional: false,
                        loc: n.loc.clone(),
                    })
                    .collect::<Vec<_>>(),
                None => {
                    let ids: Vec<&str> = expansions.iter().map(|(i, _)| i.as_str()).collect();
                    let help = crate::diag::did_you_mean(&n.value, &ids)
                        .map(|s| format!("did you mean `{s}`?"))
                        .unwrap_or_else(|| "`needs` lists job ids of this workflow".into());
                    r.diagnostics.push(
                        Diagnostic::error(
                            format!(
                                "job `{}` needs `{}`, which is not a job of this workflow",
                                job.template, n.value
                            ),
                            Some(n.loc.clone()),
                        )
                        .with_help(help),
                    );
                    Vec::new()
                }
            })
            .collect();
        job.needs.get_or_insert_with(Vec::new).extend(resolved);
    }
    Some(jobs)
}

/// Matrix variants are read one by one from the same YAML: a mistake in a
/// matrix job's steps would be reported once per variant. Keep the first
/// of identical diagnostics. A diagnostic inside a local action's file
/// cannot be shown with the workflow's text: it names its place in the
/// message instead (as the GitLab dialect does for included files).
fn finish_diagnostics(r: &mut Reader) {
    let main = Arc::clone(&r.file);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(r.diagnostics.len());
    for mut d in std::mem::take(&mut r.diagnostics) {
        if let Some(loc) = &d.loc
            && loc.file != main
        {
            d.message = format!("in {loc}: {}", d.message);
            d.loc = None;
        }
        if seen.insert((d.loc.clone(), d.message.clone(), d.is_error())) {
            out.push(d);
        }
    }
    r.diagnostics = out;
}

/// Check the keys of a job's `container` and `services` once per job (not
/// once per matrix variant) and note every accepted key nestci does not
/// apply. `with` and `secrets` belong to jobs that call a reusable
/// workflow; elsewhere GitHub refuses them, and so does nestci.
fn note_unapplied(id: &str, map: &crate::yaml::Mapping, notes: &mut Notes, r: &mut Reader) {
    notes.note_keys(r, map, "job", notes::JOB);
    if map.get("uses").is_none() {
        for (k, _) in map
            .iter()
            .filter(|(k, _)| k.name == "with" || k.name == "secrets")
        {
            r.error(
                k.span,
                format!("job `{id}` has `{}` but does not call a reusable workflow", k.name),
            )
            .set_label("only with `uses`")
            .set_help(format!(
                "`{}` passes values to the workflow named by `jobs.{id}.uses`; for steps, put `with` on the step that `uses` an action",
                k.name
            ));
        }
    }
    if let Some(c) = map.get("container").and_then(Node::as_map) {
        r.check_keys(c, CONTAINER_KEYS, "`container`");
        notes.note_keys(r, c, "container", notes::CONTAINER);
    }
    if let Some(services) = map.get("services").and_then(Node::as_map) {
        for (name, service) in services.iter() {
            if let Some(m) = service.as_map() {
                r.check_keys(m, SERVICE_KEYS, &format!("service `{}`", name.name));
                notes.note_keys(r, m, "services", notes::SERVICE);
            }
        }
    }
}

/// The repository root: the workflow lives in `<root>/.github/workflows/`.
fn project_dir(file: &Path) -> PathBuf {
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with(".github/workflows") {
        dir.parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default()
    } else {
        dir
    }
}

/// Triggers that run a workflow with the base repository's secrets and
/// write token on behalf of an outside contributor's pull request: a job
/// that checks out and builds the pull request's code runs code an
/// outsider controls ("pwn requests"). The policy engine treats such a
/// workflow as untrusted.
const DANGEROUS_TRIGGERS: &[&str] = &["pull_request_target", "workflow_run"];

fn dangerous_trigger(on: &Node, r: &Reader) -> Option<Located<String>> {
    let found = |name: &str, span| {
        DANGEROUS_TRIGGERS
            .contains(&name)
            .then(|| r.located(format!("the workflow runs on `{name}`"), span))
    };
    match &on.value {
        Value::Str(s) => found(s, on.span),
        Value::Seq(items) => items
            .iter()
            .find_map(|i| i.as_str().and_then(|s| found(s, i.span))),
        Value::Map(m) => m.iter().find_map(|(k, _)| found(&k.name, k.span)),
        _ => None,
    }
}

fn check_event(on: &Node, event: &str, notes: &mut Notes, r: &mut Reader) {
    // The chosen event's filters: `inputs` of `workflow_dispatch` and
    // `workflow_call` are applied (their defaults), the rest is not.
    if let Some(filter) = on
        .as_map()
        .and_then(|m| m.get(event))
        .and_then(Node::as_map)
        .and_then(|m| m.iter().find(|(k, _)| k.name != "inputs"))
    {
        notes.note(r, "on.filters", filter.0.span);
    }
    let events: Vec<String> = match &on.value {
        Value::Str(s) => vec![s.clone()],
        Value::Seq(items) => items.iter().filter_map(Node::scalar_text).collect(),
        Value::Map(m) => m.iter().map(|(k, _)| k.name.clone()).collect(),
        _ => {
            r.error(on.span, "`on` must name events");
            return;
        }
    };
    if !events.iter().any(|e| e == event) {
        r.warning(
            on.span,
            format!(
                "this workflow does not run on `{event}` (it runs on: {})",
                events.join(", ")
            ),
        )
        .set_help("choose the event with `--event NAME`");
    }
}

fn github_context(git: &super::git::GitInfo, event: &str, project: &Path) -> Json {
    let repo = git
        .root
        .as_deref()
        .unwrap_or(project)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repository".into());
    let branch = git.branch.clone().unwrap_or_default();
    let sha = git.sha.clone().unwrap_or_default();
    json!({
        "event_name": event,
        "event": {"ref": format!("refs/heads/{branch}"), "after": sha},
        "ref": format!("refs/heads/{branch}"),
        "ref_name": branch,
        "ref_type": "branch",
        "sha": sha,
        "repository": format!("local/{repo}"),
        "repository_owner": "local",
        "workspace": "/workspace",
        "actor": "nestci",
        "run_id": "1",
        "run_number": "1",
        "server_url": "https://github.com",
    })
}

fn base_env(git: &super::git::GitInfo, event: &str) -> Env {
    let mut env = Env::new();
    let mut set = |k: &str, v: &str| env.set(k, v, None);
    set("CI", "true");
    set("GITHUB_ACTIONS", "true");
    set("GITHUB_WORKSPACE", "/workspace");
    set("GITHUB_EVENT_NAME", event);
    set("RUNNER_OS", "Linux");
    set("RUNNER_ARCH", "X64");
    if let Some(sha) = &git.sha {
        set("GITHUB_SHA", sha);
    }
    if let Some(b) = &git.branch {
        set("GITHUB_REF", &format!("refs/heads/{b}"));
        set("GITHUB_REF_NAME", b);
    }
    env
}

fn inputs(top: &crate::yaml::Mapping, _r: &mut Reader) -> Json {
    // `workflow_dispatch` / `workflow_call` input defaults.
    let mut out = serde_json::Map::new();
    if let Some(on) = top.get("on").and_then(Node::as_map) {
        for trigger in ["workflow_dispatch", "workflow_call"] {
            let decl = on
                .get(trigger)
                .and_then(Node::as_map)
                .and_then(|m| m.get("inputs"))
                .and_then(Node::as_map);
            for (k, v) in decl.into_iter().flat_map(|m| m.iter()) {
                if let Some(d) = v.as_map().and_then(|m| m.get("default")) {
                    out.insert(k.name.clone(), matrix::to_json(d));
                }
            }
        }
    }
    Json::Object(out)
}

fn env_json(env: &Env) -> Json {
    Json::Object(
        env.iter()
            .map(|v| (v.name.clone(), Json::String(v.value.clone())))
            .collect(),
    )
}

/// An `env:` mapping, with `${{ }}` replaced.
pub(crate) fn env(node: &Node, cx: &Contexts, r: &mut Reader) -> Env {
    env_deferred(node, cx, &[], r).0
}

/// An `env:` mapping whose values may read the `runtime` contexts: the
/// env as shown before the run, and the entries to evaluate again at run
/// time, as written.
pub(crate) fn env_deferred(
    node: &Node,
    cx: &Contexts,
    runtime: &[&str],
    r: &mut Reader,
) -> (Env, Vec<(String, String)>) {
    let mut out = Env::new();
    let mut deferred = Vec::new();
    let Some(map) = r.map(node, "`env`") else {
        return (out, deferred);
    };
    for (k, v) in map.iter() {
        let value = if runtime.is_empty() {
            interpolate_node(v, cx, r)
        } else {
            let (shown, text) = interpolate_deferred(v, cx, runtime, r);
            if let Some(text) = text {
                deferred.push((k.name.clone(), text));
            }
            shown
        };
        out.set(k.name.clone(), value, Some(r.loc(k.span)));
    }
    (out, deferred)
}

/// A scalar with its `${{ }}` replaced; errors are reported at the node.
/// For a value decided before the run: `steps` and `needs` read as empty
/// (with a warning saying so).
pub(crate) fn interpolate_node(node: &Node, cx: &Contexts, r: &mut Reader) -> String {
    if let Some(text) = node.as_str()
        && let Ok(refs) = expr::text_references(text)
        && let Some((c, _)) = refs
            .iter()
            .find(|(c, _)| runtime::KEPT.contains(&c.as_str()))
    {
        r.warning(
            node.span,
            format!("`{c}` is only known while the job runs, and this value is decided before: it reads as empty here"),
        )
        .set_help("use it in a step's `run`, `env`, `if`, `name` or `working-directory`, or in the job's `env`, `if` or `outputs`");
    }
    scalar_interpolated(node, cx, r)
}

/// A scalar that may be decided at run time: when it reads one of the
/// contexts in `runtime`, it is returned as shown before the run (the
/// `steps` and `needs` placeholders kept as written) with its text as
/// written, for [`runtime`] to evaluate again.
pub(crate) fn interpolate_deferred(
    node: &Node,
    cx: &Contexts,
    runtime_contexts: &[&str],
    r: &mut Reader,
) -> (String, Option<String>) {
    let refs = node
        .as_str()
        .and_then(|t| expr::text_references(t).ok())
        .unwrap_or_default();
    check_references(node, &refs, cx, r);
    if !refs
        .iter()
        .any(|(c, _)| runtime_contexts.contains(&c.as_str()))
    {
        return (scalar_interpolated(node, cx, r), None);
    }
    let text = node.as_str().unwrap_or_default().to_string();
    match expr::interpolate_keeping(&text, cx, runtime::KEPT) {
        Ok(shown) => (shown, Some(text)),
        Err(e) => {
            expression_error(node, &text, &e, r);
            (String::new(), None)
        }
    }
}

/// `steps.<id>` must name an earlier step of the job with that `id`, and
/// `needs.<id>` a job in the job's `needs`: else it reads as empty at run
/// time, which is almost always a typo. The load-time `steps` and `needs`
/// contexts hold the names that are there.
pub(crate) fn check_references(
    node: &Node,
    refs: &[(String, Option<String>)],
    cx: &Contexts,
    r: &mut Reader,
) {
    for (context, name) in refs {
        let (Some(name), Some(Json::Object(known))) = (name, cx.values.get(context.as_str()))
        else {
            continue;
        };
        if known.keys().any(|k| k.eq_ignore_ascii_case(name)) {
            continue;
        }
        let names: Vec<&str> = known.keys().map(String::as_str).collect();
        let hint = crate::diag::did_you_mean(name, &names).map(|s| format!("did you mean `{s}`?"));
        match context.as_str() {
            "steps" => {
                r.warning(
                    node.span,
                    format!("`steps.{name}` names no earlier step: no step before this one has `id: {name}`, so it reads as empty"),
                )
                .set_help(hint.unwrap_or_else(|| {
                    format!("give the step that sets it `id: {name}`")
                }));
            }
            "needs" => {
                r.warning(
                    node.span,
                    format!(
                        "`needs.{name}` names a job this job does not need, so it reads as empty"
                    ),
                )
                .set_help(hint.unwrap_or_else(|| format!("add `{name}` to the job's `needs`")));
            }
            _ => {}
        }
    }
}

/// A scalar with its `${{ }}` replaced; errors are reported at the node.
fn scalar_interpolated(node: &Node, cx: &Contexts, r: &mut Reader) -> String {
    let text = match &node.value {
        Value::Null => return String::new(),
        _ => match node.scalar_text() {
            Some(t) => t,
            None => {
                r.error(
                    node.span,
                    format!("expected a string, found {}", node.value.kind()),
                );
                return String::new();
            }
        },
    };
    match expr::interpolate(&text, cx) {
        Ok(s) => s,
        Err(e) => {
            expression_error(node, &text, &e, r);
            String::new()
        }
    }
}

fn expression_error(node: &Node, text: &str, e: &expr::ExprError, r: &mut Reader) {
    r.error(node.span, format!("invalid expression: {}", e.message))
        .set_help(format!(
            "in `{}`{}",
            text.trim(),
            if e.column > 0 {
                format!(" (column {} of the expression)", e.column)
            } else {
                String::new()
            }
        ));
}

/// A boolean, or an expression evaluating to one.
pub(crate) fn bool_or_expr(node: &Node, cx: &Contexts, r: &mut Reader) -> bool {
    match &node.value {
        Value::Bool(b) => *b,
        _ => {
            let text = interpolate_node(node, cx, r);
            text == "true"
        }
    }
}

pub(crate) fn minutes(node: &Node, r: &mut Reader) -> Option<Located<Duration>> {
    let m = match node.value {
        Value::Int(i) if i > 0 => i as f64,
        Value::Float(f) if f > 0.0 => f,
        _ => {
            r.error(
                node.span,
                "`timeout-minutes` must be a positive number of minutes",
            )
            .set_help("write the minutes as a number, e.g. `timeout-minutes: 10`");
            return None;
        }
    };
    Some(r.located(Duration::from_secs_f64(m * 60.0), node.span))
}

fn defaults(node: &Node, cx: &Contexts, r: &mut Reader) -> Defaults {
    let mut out = Defaults::default();
    let Some(map) = r.map(node, "`defaults`") else {
        return out;
    };
    r.check_keys(map, &["run"], "`defaults`");
    let Some(run) = map.get("run").and_then(|n| r.map(n, "`defaults.run`")) else {
        return out;
    };
    r.check_keys(run, &["shell", "working-directory"], "`defaults.run`");
    out.shell = run.get("shell").map(|n| interpolate_node(n, cx, r));
    out.working_directory = run
        .get("working-directory")
        .map(|n| interpolate_node(n, cx, r));
    out
}

/// How an `if:` maps to the model: evaluated for a passing and a failing
/// run so far. `None`: never runs with what is known before the run.
fn decide(node: &Node, cx: &Contexts, r: &mut Reader) -> Option<When> {
    let text = match node.value {
        Value::Bool(b) => return b.then_some(When::OnSuccess),
        _ => node.scalar_text().unwrap_or_default(),
    };
    let mut ok = cx.clone();
    ok.status = JobStatus::Success;
    let mut failed = cx.clone();
    failed.status = JobStatus::Failure;
    let both = expr::condition(&text, &ok).and_then(|a| Ok((a, expr::condition(&text, &failed)?)));
    match both {
        Ok((true, true)) => Some(When::Always),
        Ok((true, false)) => Some(When::OnSuccess),
        Ok((false, true)) => Some(When::OnFailure),
        Ok((false, false)) => None,
        Err(e) => {
            expression_error(node, &text, &e, r);
            Some(When::OnSuccess)
        }
    }
}

/// A step's `if:` as a [`StepWhen`]; `None` drops the step.
pub(crate) fn step_when(node: &Node, cx: &Contexts, r: &mut Reader) -> Option<StepWhen> {
    match decide(node, cx, r)? {
        When::Always => Some(StepWhen::Always),
        When::OnFailure => Some(StepWhen::OnFailure),
        _ => Some(StepWhen::OnSuccess),
    }
}

fn read_job(
    id: &str,
    span: crate::yaml::Span,
    map: &crate::yaml::Mapping,
    combo: &matrix::Combo,
    cx: &Contexts,
    scope: &Scope,
    r: &mut Reader,
) -> Option<Job> {
    let (workflow_env, workflow_defaults, project, options) =
        (&scope.env, &scope.defaults, scope.project, scope.options);
    // GitHub adds the matrix values to a name unless the name already
    // uses an expression (typically `${{ matrix.os }}`).
    let name = match map.get("name") {
        Some(n) if n.as_str().is_some_and(|s| s.contains("${{")) => interpolate_node(n, cx, r),
        Some(n) => matrix::job_name(&interpolate_node(n, cx, r), combo),
        None => matrix::job_name(id, combo),
    };

    let mut job_env = workflow_env.clone();
    job_env.set("GITHUB_JOB", id, None);
    let mut jcx = cx.clone();
    jcx.set("env", env_json(&job_env));
    let (image, container_env) = job_image(id, map, &jcx, options, r);
    job_env.overlay(&container_env);
    let mut deferred = runtime::JobDeferred::default();
    if let Some(n) = map.get("env") {
        let (own, later) = env_deferred(n, &jcx, runtime::JOB_RUNTIME, r);
        job_env.overlay(&own);
        deferred.env = later;
    }
    job_env.overlay(&options.env);
    jcx.set("env", env_json(&job_env));
    jcx.set("job", json!({"status": "success"}));

    let (when, skipped) = match map.get("if") {
        // An `if:` on the results or outputs of the jobs it needs waits
        // for them: the job is ready whatever they did, and the condition
        // decides (with GitHub's implicit `success()`).
        Some(n) if reads_needs(n, &jcx, r) => {
            deferred.condition = n.scalar_text();
            (When::Always, None)
        }
        Some(n) => match decide(n, &jcx, r) {
            Some(when) => (when, None),
            None => (When::OnSuccess, Some(false_condition(n, &jcx, r))),
        },
        None => (When::OnSuccess, None),
    };
    let mut defaults = workflow_defaults.clone();
    if let Some(n) = map.get("defaults") {
        let own = self::defaults(n, &jcx, r);
        defaults.shell = own.shell.or(defaults.shell);
        defaults.working_directory = own.working_directory.or(defaults.working_directory);
    }
    let steps = match map.get("steps") {
        Some(n) => steps::finish(
            steps::read_pending(n, id, &defaults, &jcx, project, 0, r),
            &scope.calls,
        ),
        None => {
            r.error(span, format!("job `{id}` has no `steps`"))
                .set_help("add `steps:` with at least one `- run: ...`");
            return None;
        }
    };
    let services = map
        .get("services")
        .map(|n| services(n, &jcx, r))
        .unwrap_or_default();
    let timeout = map.get("timeout-minutes").and_then(|n| minutes(n, r));
    let allow_failure = map
        .get("continue-on-error")
        .map(|n| bool_or_expr(n, &jcx, r))
        .unwrap_or(false);
    if let Some(n) = map.get("outputs") {
        deferred.outputs = job_outputs(n, &steps, &jcx, r);
    }
    let mut job = Job::new(name, r.loc(span));
    job.template = id.to_string();
    job.step_files = Some(runtime::step_files());
    if deferred.condition.is_some() || !deferred.env.is_empty() || !deferred.outputs.is_empty() {
        deferred.cx = Arc::new(jcx.clone());
        deferred.calls = Arc::clone(&scope.calls);
        job.deferred = Some(Arc::new(deferred));
    }
    job.needs = Some(Vec::new());
    job.image = image;
    job.env = job_env;
    job.matrix = combo
        .iter()
        .map(|(k, v)| (k.clone(), expr::to_string(v)))
        .collect();
    job.steps = steps;
    job.services = services;
    job.timeout = timeout;
    job.allow_failure = allow_failure.into();
    job.when = when;
    job.skipped = skipped;
    Some(job)
}

/// Whether a job's `if:` reads `needs` (checking the ids it names).
fn reads_needs(node: &Node, cx: &Contexts, r: &mut Reader) -> bool {
    let Some(text) = node.as_str() else {
        return false;
    };
    let Ok(refs) = expr::condition_references(text) else {
        return false;
    };
    check_references(node, &refs, cx, r);
    refs.iter()
        .any(|(c, _)| runtime::JOB_RUNTIME.contains(&c.as_str()))
}

/// A job's `outputs`: name to value as written, evaluated once its steps
/// have run. `steps.<id>` is checked against the ids of `steps`.
fn job_outputs(
    node: &Node,
    steps: &[crate::model::Step],
    cx: &Contexts,
    r: &mut Reader,
) -> Vec<(String, String)> {
    let Some(map) = r.map(node, "`outputs`") else {
        return Vec::new();
    };
    let mut cx = cx.clone();
    cx.set(
        "steps",
        Json::Object(
            steps
                .iter()
                .filter_map(|s| Some((s.id.clone()?, json!({}))))
                .collect(),
        ),
    );
    let mut out = Vec::new();
    for (k, v) in map.iter() {
        let Some(text) = v.scalar_text() else {
            r.error(
                v.span,
                format!("output `{}` is {}, not a string", k.name, v.value.kind()),
            )
            .set_help("write the value as a string, e.g. `${{ steps.build.outputs.version }}`");
            continue;
        };
        match expr::text_references(&text) {
            Ok(refs) => check_references(v, &refs, &cx, r),
            Err(e) => {
                expression_error(v, &text, &e, r);
                continue;
            }
        }
        out.push((k.name.clone(), text));
    }
    out
}

/// The [`Skipped`] of a job whose `if:` is false before the run: the
/// condition as written, and the event and branch it was evaluated for.
pub(crate) fn false_condition(node: &Node, cx: &Contexts, r: &Reader) -> Skipped {
    let written = node.scalar_text().unwrap_or_default();
    let github = cx.values.get("github");
    let field = |name: &str| {
        github
            .and_then(|g| g.get(name))
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (event, branch) = (field("event_name"), field("ref_name"));
    let on_branch = if branch.is_empty() {
        String::new()
    } else {
        format!(" on branch `{branch}`")
    };
    Skipped {
        reason: format!(
            "its `if: {}` is false for event `{event}`{on_branch}",
            expr::condition_text(&written)
        ),
        help: "the condition is decided before the run: choose the event with `--event NAME` \
               and the branch with `--env GITHUB_REF_NAME=BRANCH`"
            .into(),
        loc: r.loc(node.span),
    }
}

/// GitHub skips a job when a job it needs was skipped, unless its `if:`
/// makes it run whatever happened (`always()`); such a job waits for the
/// skipped one only if it is in the run (an optional need). Applied until
/// nothing changes, so a skip travels down a whole `needs` chain.
fn skip_dependants(jobs: &mut [Job]) {
    loop {
        let skipped: HashMap<String, Skipped> = jobs
            .iter()
            .filter_map(|j| Some((j.name.clone(), j.skipped.clone()?)))
            .collect();
        if skipped.is_empty() {
            return;
        }
        let mut changed = false;
        for job in jobs.iter_mut().filter(|j| j.skipped.is_none()) {
            let always = job.when == When::Always;
            let mut first = None;
            for need in job.needs.iter_mut().flatten() {
                let Some(why) = skipped.get(&need.job) else {
                    continue;
                };
                if always {
                    need.optional = true;
                } else if first.is_none() {
                    first = Some(Skipped {
                        reason: format!(
                            "it needs `{}`, which is skipped: {}",
                            need.job, why.reason
                        ),
                        help: why.help.clone(),
                        loc: need.loc.clone(),
                    });
                }
            }
            if first.is_some() {
                job.skipped = first;
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

/// The job's image: `container` wins over `runs-on`.
fn job_image(
    id: &str,
    map: &crate::yaml::Mapping,
    cx: &Contexts,
    options: &LoadOptions,
    r: &mut Reader,
) -> (Option<Located<String>>, Env) {
    if let Some(c) = map.get("container") {
        match &c.value {
            Value::Map(m) => {
                let image = m.get("image").map(|n| interpolate_node(n, cx, r));
                let env = m.get("env").map(|n| env(n, cx, r)).unwrap_or_default();
                if let Some(image) = image.filter(|i| !i.is_empty()) {
                    return (Some(r.located(image, c.span)), env);
                }
            }
            _ => {
                let image = interpolate_node(c, cx, r);
                if !image.is_empty() {
                    return (Some(r.located(image, c.span)), Env::new());
                }
            }
        }
    }
    let Some(runs_on) = map.get("runs-on") else {
        r.error(
            map.entries
                .first()
                .map_or(crate::yaml::Span::START, |(k, _)| k.span),
            format!("job `{id}` has no `runs-on`"),
        )
        .set_help("add `runs-on: ubuntu-latest`");
        return (None, Env::new());
    };
    let labels: Vec<String> = match &runs_on.value {
        Value::Seq(items) => items.iter().map(|n| interpolate_node(n, cx, r)).collect(),
        Value::Map(m) => m
            .get("labels")
            .map(|n| match &n.value {
                Value::Seq(items) => items.iter().map(|i| interpolate_node(i, cx, r)).collect(),
                _ => vec![interpolate_node(n, cx, r)],
            })
            .unwrap_or_default(),
        _ => vec![interpolate_node(runs_on, cx, r)],
    };
    match platform::image_for(&labels, &options.platforms) {
        Ok(image) => (Some(r.located(image, runs_on.span)), Env::new()),
        Err(message) => {
            r.error(runs_on.span, format!("job `{id}`: {message}"))
                .set_help(format!(
                    "map the label to an image with `--platform {}=IMAGE`",
                    labels.first().map(String::as_str).unwrap_or("LABEL")
                ));
            (None, Env::new())
        }
    }
}

/// A service's `ports:` as the container ports nestci waits for. GitHub
/// writes them Docker's way: `8080`, `5432:5432`, `127.0.0.1:8080:80`,
/// `53/udp`. Only the container side (after the last `:`) matters to
/// nestci, which publishes nothing; UDP ports and ranges cannot be probed
/// with a TCP connect, and are said to be skipped.
fn service_ports(node: &Node, cx: &Contexts, r: &mut Reader) -> Vec<Located<u16>> {
    let Some(items) = r.seq(node, "`ports`") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let text = interpolate_node(item, cx, r);
        match container_port(&text) {
            Ok(Some(port)) => out.push(r.located(port, item.span)),
            Ok(None) => {
                r.warning(
                    item.span,
                    format!("port `{text}` is not waited for: only single TCP ports can be probed"),
                )
                .set_help("the service still starts; a step may have to wait for it itself");
            }
            Err(message) => {
                r.error(item.span, format!("service port `{text}`: {message}"))
                    .set_help(
                        "write `CONTAINER_PORT` or `HOST_PORT:CONTAINER_PORT`, e.g. `5432:5432`",
                    );
            }
        }
    }
    out
}

/// The container port of a Docker port spec; `Ok(None)` for what a TCP
/// connect cannot probe (UDP/SCTP, ranges).
fn container_port(spec: &str) -> Result<Option<u16>, String> {
    let spec = spec.trim();
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let container = ports.rsplit(':').next().unwrap_or(ports);
    if container.contains('-') {
        return Ok(None);
    }
    let port = match container.parse::<u16>() {
        Ok(p) if p > 0 => p,
        _ => return Err("the container port must be a number between 1 and 65535".into()),
    };
    match proto {
        "tcp" => Ok(Some(port)),
        "udp" | "sctp" => Ok(None),
        other => Err(format!("unknown protocol `{other}` (tcp, udp or sctp)")),
    }
}

fn services(node: &Node, cx: &Contexts, r: &mut Reader) -> Vec<Service> {
    let Some(map) = r.map(node, "`services`") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in map.iter() {
        let (image, env, ports) = match &v.value {
            Value::Map(m) => (
                m.get("image").map(|n| interpolate_node(n, cx, r)),
                m.get("env").map(|n| env(n, cx, r)).unwrap_or_default(),
                m.get("ports")
                    .map(|n| service_ports(n, cx, r))
                    .unwrap_or_default(),
            ),
            _ => (Some(interpolate_node(v, cx, r)), Env::new(), Vec::new()),
        };
        match image.filter(|i| !i.is_empty()) {
            Some(image) => out.push(Service {
                image: r.located(image, v.span),
                alias: k.name.clone(),
                env,
                command: None,
                ports,
                loc: r.loc(k.span),
            }),
            None => {
                r.error(v.span, format!("service `{}` has no `image`", k.name));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::container_port;

    #[test]
    fn the_container_side_of_a_port_spec_is_probed() {
        assert_eq!(container_port("8080"), Ok(Some(8080)));
        assert_eq!(container_port("5432:5432"), Ok(Some(5432)));
        assert_eq!(container_port("127.0.0.1:8080:80"), Ok(Some(80)));
        assert_eq!(container_port("9000:80/tcp"), Ok(Some(80)));
        assert_eq!(container_port("53:53/udp"), Ok(None));
        assert_eq!(container_port("8000-8010:8000-8010"), Ok(None));
        assert!(container_port("0").is_err());
        assert!(container_port("80/quic").is_err());
        assert!(container_port("http").is_err());
    }
}
