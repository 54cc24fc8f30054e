//! Local reusable workflows: `jobs.<id>.uses: ./.github/workflows/x.yml`.
//!
//! GitHub runs the called workflow's jobs as jobs of the calling run,
//! shown as `caller / job`; nestci does the same while loading:
//!
//! - `with:` fills the called workflow's `inputs` context, over the
//!   defaults of its `on.workflow_call.inputs`; undeclared inputs, values
//!   of the wrong `type` and missing `required` inputs are errors at the
//!   caller's line, as GitHub reports them when the run starts;
//! - `secrets:` is a mapping (each key declared by the called workflow,
//!   the `required` ones given) or `inherit` (all of the caller's);
//! - the called workflow starts from the predefined variables and its own
//!   `env`, not the caller's, as on GitHub;
//! - the caller's `needs` apply to the called workflow's entry jobs (those
//!   needing nothing there) and its `if:` to all of them; a job needing
//!   the caller needs every job of the called workflow;
//! - calls nest at most [`MAX_DEPTH`] workflows deep (GitHub's limit of
//!   four levels), and a workflow already in the chain is a cycle.
//!
//! - its `on.workflow_call.outputs` (values over its `jobs` context) are
//!   worked out once its jobs have run, for the jobs needing the caller:
//!   `needs.<caller>.outputs.<name>` ([`CallOutputs`]).
//!
//! Workflows of another repository (`owner/repo/...@ref`) are refused:
//! nestci does not fetch.

use std::sync::Arc;

use serde_json::{Value as Json, json};

use super::super::reader::Reader;
use super::notes::{self, Notes};
use super::runtime::CallOutputs;
use super::{
    Scope, TOP_KEYS, decide, defaults, env, env_json, expr, false_condition, interpolate_node,
    matrix, read_jobs,
};
use crate::model::{Job, When};
use crate::yaml::{Mapping, Node, Value};

/// How many workflows a chain of calls may hold, the top one included:
/// GitHub allows a caller and three levels of reusable workflows.
pub const MAX_DEPTH: usize = 4;

/// The keys a job that calls a workflow may have.
const CALLER_KEYS: &[&str] = &[
    "name",
    "uses",
    "with",
    "secrets",
    "needs",
    "if",
    "permissions",
    "concurrency",
    "strategy",
];

/// The jobs that job `id` (its mapping `map`, its `uses:` value `uses`)
/// brings in. Problems are reported in `r`; a call that cannot be read
/// brings no jobs.
pub(super) fn call(
    id: &str,
    map: &Mapping,
    uses: &Node,
    scope: &Scope,
    r: &mut Reader,
) -> Vec<Job> {
    for (k, _) in map.iter() {
        if !CALLER_KEYS.contains(&k.name.as_str()) && super::JOB_KEYS.contains(&k.name.as_str()) {
            r.error(
                k.span,
                format!(
                    "job `{id}` calls a reusable workflow and cannot have `{}`",
                    k.name
                ),
            )
            .set_label("not with `uses`")
            .set_help(
                "a job with `uses` takes only name, with, secrets, needs, if, permissions, \
                 concurrency and strategy; set the rest in the called workflow's jobs",
            );
        }
    }
    if let Some((k, _)) = map.entry("strategy") {
        r.error(
            k.span,
            format!("job `{id}`: a matrix over a reusable workflow is not supported yet"),
        )
        .set_help("put the `strategy.matrix` on the called workflow's jobs");
    }
    let Some(target) = r.nonempty_string(uses, "`uses`") else {
        return Vec::new();
    };
    let Some(relative) = target.strip_prefix("./") else {
        if target.contains('@') {
            r.error(
                uses.span,
                format!(
                    "job `{id}` calls `{target}`, a reusable workflow of another repository; \
                     nestci does not fetch workflows"
                ),
            )
            .set_label("remote workflow")
            .set_help(
                "copy the workflow into this repository's .github/workflows/ and call it as \
                 `uses: ./.github/workflows/NAME.yml`",
            );
        } else {
            r.error(
                uses.span,
                format!("job `{id}`: `{target}` is not a reusable workflow reference"),
            )
            .set_help("call a workflow of this repository as `uses: ./.github/workflows/NAME.yml`");
        }
        return Vec::new();
    };
    let path = scope.project.join(relative);
    let same = |a: &std::path::Path| {
        a.canonicalize()
            .ok()
            .is_some_and(|a| path.canonicalize().ok() == Some(a))
    };
    let chain = || {
        scope
            .chain
            .iter()
            .map(|p| p.display().to_string())
            .chain([path.display().to_string()])
            .collect::<Vec<_>>()
            .join(" → ")
    };
    if scope.chain.iter().any(|p| same(p)) {
        r.error(
            uses.span,
            format!(
                "job `{id}` calls `{target}`, which is already in the chain of calls: {}",
                chain()
            ),
        )
        .set_label("cycle")
        .set_help(
            "a workflow that calls itself (directly or through others) never ends; break the cycle",
        );
        return Vec::new();
    }
    if scope.chain.len() >= MAX_DEPTH {
        r.error(
            uses.span,
            format!(
                "job `{id}` calls `{target}`: reusable workflows nest at most {MAX_DEPTH} levels \
                 deep, as on GitHub ({})",
                chain()
            ),
        )
        .set_help("call the innermost workflow's jobs from a higher level, or inline them");
        return Vec::new();
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            r.error(
                uses.span,
                format!(
                    "job `{id}` calls `{target}`: cannot read {}: {e}",
                    path.display()
                ),
            )
            .set_help(
                "local reusable workflows are read from the repository root's .github/workflows/",
            );
            return Vec::new();
        }
    };
    let doc = match crate::yaml::parse(&text) {
        Ok(d) => d,
        Err(e) => {
            r.error(
                uses.span,
                format!(
                    "job `{id}` calls `{target}`, which is not valid YAML: {}",
                    e.message
                ),
            );
            return Vec::new();
        }
    };
    let Some(top) = doc.root.as_map() else {
        r.error(
            uses.span,
            format!("job `{id}` calls `{target}`, which is not a workflow mapping"),
        );
        return Vec::new();
    };
    let Some(declared) = workflow_call(top) else {
        r.error(
            uses.span,
            format!("job `{id}` calls `{target}`, which is not a reusable workflow: its `on` has no `workflow_call`"),
        )
        .set_help("add `on: workflow_call` (with its `inputs` and `secrets`) to the called workflow");
        return Vec::new();
    };

    // The caller's side, reported in the caller's file.
    let mut caller_cx = scope.cx.clone();
    caller_cx.set("env", env_json(&scope.env));
    let inputs = inputs(id, &target, map, declared, uses, &caller_cx, r);
    let secrets = secrets(id, &target, map, declared, uses, &caller_cx, r);
    let caller_name = map
        .get("name")
        .map(|n| interpolate_node(n, &caller_cx, r))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| id.to_string());

    // The called workflow, its problems pointing into its file.
    let saved = std::mem::replace(&mut r.file, Arc::new(path.clone()));
    r.check_keys(top, TOP_KEYS, "a workflow");
    let mut notes = Notes::default();
    notes.note_keys(r, top, "", notes::TOP);
    let mut cx = scope.cx.clone();
    cx.set("inputs", inputs);
    cx.set("secrets", secrets);
    cx.set("matrix", json!({}));
    let mut called_env = scope.base_env.clone();
    cx.set("env", env_json(&called_env));
    if let Some(n) = top.get("env") {
        let own = env(n, &cx, r);
        called_env.overlay(&own);
    }
    called_env.overlay(&scope.options.env);
    cx.set("env", env_json(&called_env));
    let called_defaults = top
        .get("defaults")
        .map(|n| defaults(n, &cx, r))
        .unwrap_or_default();
    let mut chain = scope.chain.clone();
    chain.push(path.clone());
    let inner = Scope {
        cx,
        base_env: scope.base_env.clone(),
        env: called_env,
        defaults: called_defaults,
        project: scope.project,
        options: scope.options,
        chain,
        prefix: format!("{}{caller_name} / ", scope.prefix),
        calls: Arc::clone(&scope.calls),
    };
    let mut jobs = match top.get("jobs") {
        Some(n) => read_jobs(n, &inner, &mut notes, r).unwrap_or_default(),
        None => {
            r.error(doc.root.span, "the called workflow has no `jobs`");
            Vec::new()
        }
    };
    if let Some(outputs) = declared.and_then(|d| d.get("outputs")) {
        let outputs = call_outputs(outputs, top, &inner.cx, r);
        if let Ok(mut calls) = scope.calls.lock() {
            calls.push(CallOutputs {
                caller: id.to_string(),
                prefix: inner.prefix.clone(),
                outputs,
                cx: Arc::new(inner.cx.clone()),
            });
        }
    }
    r.file = saved;

    // The caller's `if:`: false skips every called job; `always()` or
    // `failure()` decide when the entry jobs run.
    if let Some(n) = map.get("if") {
        caller_cx.set("job", json!({"status": "success"}));
        match decide(n, &caller_cx, r) {
            Some(when) => {
                for job in jobs
                    .iter_mut()
                    .filter(|j| j.needs.as_ref().is_none_or(Vec::is_empty))
                {
                    if job.when == When::OnSuccess {
                        job.when = when;
                    }
                }
            }
            None => {
                let skipped = false_condition(n, &caller_cx, r);
                for job in &mut jobs {
                    job.skipped = Some(skipped.clone());
                }
            }
        }
    }
    jobs
}

/// `on.workflow_call.outputs`: each output's name and `value` as written.
/// A value is checked now against the called workflow's job ids, so a
/// mistake is reported at its place rather than read as empty later.
fn call_outputs(
    node: &Node,
    top: &Mapping,
    cx: &super::Contexts,
    r: &mut Reader,
) -> Vec<(String, String)> {
    let Some(map) = r.map(node, "`outputs`") else {
        return Vec::new();
    };
    // `jobs.<id>` of the called workflow, empty until the run.
    let ids: serde_json::Map<String, Json> = top
        .get("jobs")
        .and_then(Node::as_map)
        .map(|jobs| {
            jobs.iter()
                .map(|(k, _)| (k.name.clone(), json!({"outputs": {}, "result": ""})))
                .collect()
        })
        .unwrap_or_default();
    let mut check_cx = cx.clone();
    check_cx.set("jobs", Json::Object(ids));
    let mut out = Vec::new();
    for (key, decl) in map.iter() {
        let value = decl.as_map().and_then(|m| m.get("value"));
        let Some(text) = value.and_then(Node::scalar_text) else {
            r.error(
                key.span,
                format!(
                    "output `{}` of the called workflow has no `value`",
                    key.name
                ),
            )
            .set_help("give it `value: ${{ jobs.<job>.outputs.<name> }}`");
            continue;
        };
        if let (Some(node), Err(e)) = (value, expr::interpolate(&text, &check_cx)) {
            r.error(node.span, format!("output `{}`: {}", key.name, e.message))
                .set_help(
                    "an output's `value` reads the called workflow's jobs, e.g. \
                     `${{ jobs.build.outputs.version }}`",
                );
            continue;
        }
        out.push((key.name.clone(), text));
    }
    out
}

/// The called workflow's `on.workflow_call` (`Some(None)` when it has no
/// settings), or `None` when it cannot be called.
fn workflow_call(top: &Mapping) -> Option<Option<&Mapping>> {
    let on = top.get("on")?;
    match &on.value {
        Value::Str(s) => (s == "workflow_call").then_some(None),
        Value::Seq(items) => items
            .iter()
            .any(|i| i.as_str() == Some("workflow_call"))
            .then_some(None),
        Value::Map(m) => m.get("workflow_call").map(Node::as_map),
        _ => None,
    }
}

/// A declaration's `required: true`.
fn required(decl: &Node) -> bool {
    matches!(
        decl.as_map()
            .and_then(|m| m.get("required"))
            .map(|n| &n.value),
        Some(Value::Bool(true))
    )
}

/// The `inputs` context of the called workflow: `with:` over the declared
/// defaults, each checked against its declaration.
fn inputs(
    id: &str,
    target: &str,
    map: &Mapping,
    declared: Option<&Mapping>,
    uses: &Node,
    cx: &super::Contexts,
    r: &mut Reader,
) -> Json {
    let decls = declared
        .and_then(|d| d.get("inputs"))
        .and_then(Node::as_map);
    let names: Vec<&str> = decls
        .map(|d| d.iter().map(|(k, _)| k.name.as_str()).collect())
        .unwrap_or_default();
    let mut out = serde_json::Map::new();
    let with = map.get("with").and_then(|w| r.map(w, "`with`"));
    for (k, v) in with.into_iter().flat_map(|m| m.iter()) {
        let Some(decl) = decls.and_then(|d| d.get(&k.name)) else {
            let help = crate::diag::did_you_mean(&k.name, &names)
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| {
                    format!("declare it under `on.workflow_call.inputs` in {target}, or remove it")
                });
            r.error(
                k.span,
                format!(
                    "job `{id}` passes the input `{}`, which `{target}` does not declare",
                    k.name
                ),
            )
            .set_help(help);
            continue;
        };
        let ty = decl
            .as_map()
            .and_then(|m| m.get("type"))
            .and_then(Node::scalar_text)
            .unwrap_or_else(|| "string".into());
        if let Some(value) = typed(&k.name, v, &ty, target, cx, r) {
            out.insert(k.name.clone(), value);
        }
    }
    for (k, decl) in decls.into_iter().flat_map(|d| d.iter()) {
        if out.contains_key(&k.name) {
            continue;
        }
        match decl.as_map().and_then(|m| m.get("default")) {
            Some(d) => {
                out.insert(k.name.clone(), matrix::to_json(d));
            }
            None if required(decl) => {
                r.error(
                    uses.span,
                    format!(
                        "job `{id}` does not pass the required input `{}` of `{target}`",
                        k.name
                    ),
                )
                .set_help(format!("add it under `with:`, e.g. `{}: ...`", k.name));
            }
            None => {}
        }
    }
    Json::Object(out)
}

/// A `with:` value as the declared `type` (string, number, boolean); an
/// expression filling the whole value keeps its own type, as on GitHub.
fn typed(
    name: &str,
    node: &Node,
    ty: &str,
    target: &str,
    cx: &super::Contexts,
    r: &mut Reader,
) -> Option<Json> {
    let value = match node.as_str() {
        Some(s) if s.contains("${{") => {
            let trimmed = s.trim();
            let whole = trimmed.starts_with("${{")
                && trimmed.ends_with("}}")
                && trimmed.matches("${{").count() == 1;
            let result = if whole {
                expr::evaluate(expr::condition_text(trimmed), cx)
            } else {
                expr::interpolate(s, cx).map(Json::String)
            };
            match result {
                Ok(v) => v,
                Err(e) => {
                    super::expression_error(node, s, &e, r);
                    return None;
                }
            }
        }
        _ => matrix::to_json(node),
    };
    let coerced = match (ty, &value) {
        ("boolean", Json::Bool(_)) | ("number", Json::Number(_)) | ("string", Json::String(_)) => {
            Some(value.clone())
        }
        ("boolean", Json::String(s)) if s == "true" || s == "false" => {
            Some(Json::Bool(s == "true"))
        }
        ("number", Json::String(s)) => expr::parse_number(s).map(expr::number),
        ("string", Json::Bool(_) | Json::Number(_)) => Some(Json::String(expr::to_string(&value))),
        ("string" | "number" | "boolean", _) => None,
        (other, _) => {
            r.error(
                node.span,
                format!("the input `{name}` of `{target}` has the unknown type `{other}`"),
            )
            .set_help("reusable workflow inputs are of type string, number or boolean");
            return None;
        }
    };
    if coerced.is_none() {
        r.error(
            node.span,
            format!(
                "the input `{name}` of `{target}` is a {ty}, not `{}`",
                expr::to_string(&value)
            ),
        )
        .set_label(format!("not a {ty}"))
        .set_help(match ty {
            "boolean" => "write `true` or `false`",
            "number" => "write a number, e.g. `3`",
            _ => "write a string",
        });
    }
    coerced
}

/// The `secrets` context of the called workflow: `inherit` passes all of
/// the caller's, a mapping the declared ones it names.
fn secrets(
    id: &str,
    target: &str,
    map: &Mapping,
    declared: Option<&Mapping>,
    uses: &Node,
    cx: &super::Contexts,
    r: &mut Reader,
) -> Json {
    let node = map.get("secrets");
    if node.and_then(Node::as_str) == Some("inherit") {
        return cx
            .values
            .get("secrets")
            .cloned()
            .unwrap_or_else(|| json!({}));
    }
    let decls = declared
        .and_then(|d| d.get("secrets"))
        .and_then(Node::as_map);
    let names: Vec<&str> = decls
        .map(|d| d.iter().map(|(k, _)| k.name.as_str()).collect())
        .unwrap_or_default();
    let mut out = serde_json::Map::new();
    let given = node.and_then(|n| r.map(n, "`secrets` (a mapping, or `inherit`)"));
    for (k, v) in given.into_iter().flat_map(|m| m.iter()) {
        if decls.and_then(|d| d.get(&k.name)).is_none() {
            let help = crate::diag::did_you_mean(&k.name, &names)
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| {
                    format!("declare it under `on.workflow_call.secrets` in {target}, or pass all with `secrets: inherit`")
                });
            r.error(
                k.span,
                format!(
                    "job `{id}` passes the secret `{}`, which `{target}` does not declare",
                    k.name
                ),
            )
            .set_help(help);
            continue;
        }
        out.insert(k.name.clone(), Json::String(interpolate_node(v, cx, r)));
    }
    for (k, decl) in decls.into_iter().flat_map(|d| d.iter()) {
        if !out.contains_key(&k.name) && required(decl) {
            r.error(
                uses.span,
                format!(
                    "job `{id}` does not pass the required secret `{}` of `{target}`",
                    k.name
                ),
            )
            .set_help(format!(
                "add `secrets: {{{}: ${{{{ secrets.NAME }}}}}}` or `secrets: inherit`",
                k.name
            ));
        }
    }
    Json::Object(out)
}
