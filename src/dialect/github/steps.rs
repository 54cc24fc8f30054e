//! Job steps: `run` with its shell, `uses: docker://`, local composite
//! actions, `actions/checkout` (a no-op), and the remote actions nestci
//! refuses.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value as Json;

use super::super::reader::Reader;
use super::expr::{self, Contexts};
use super::runtime::{self, StepDeferred};
use super::{Defaults, interpolate_deferred, interpolate_node, step_when};
use crate::model::{Located, Step, StepWhen};
use crate::yaml::Node;

const STEP_KEYS: &[&str] = &[
    "id",
    "name",
    "if",
    "run",
    "uses",
    "with",
    "env",
    "shell",
    "working-directory",
    "continue-on-error",
    "timeout-minutes",
];

/// The shell command line for `shell:`, the script appended last.
pub fn shell(name: &str) -> Result<Vec<String>, String> {
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect();
    Ok(match name {
        // What GitHub runs: `bash --noprofile --norc -eo pipefail {0}`.
        "bash" => words("bash --noprofile --norc -eo pipefail -c"),
        "sh" => words("sh -e -c"),
        "python" => words("python -c"),
        "pwsh" | "powershell" | "cmd" => {
            return Err(format!(
                "`shell: {name}` is not supported: nestci runs Linux containers without PowerShell or cmd"
            ));
        }
        other => {
            return Err(format!(
                "`shell: {other}` is not supported; use bash, sh or python"
            ));
        }
    })
}

/// The default when no `shell` is set: bash, as GitHub uses on Linux
/// (`bash -e {0}`).
pub fn default_shell() -> Vec<String> {
    ["bash", "-e", "-c"].iter().map(|s| s.to_string()).collect()
}

/// How deep local composite actions may call one another, as on GitHub
/// (which allows ten levels); deeper is taken as a cycle.
pub const MAX_ACTION_DEPTH: usize = 10;

/// A job's steps as [`read_pending`] left them: what can only be decided
/// at run time is attached to each step as a [`StepDeferred`], which sees
/// the workflow's reusable-workflow `calls`.
pub fn finish(pending: Vec<(Step, StepDeferred)>, calls: &runtime::Calls) -> Vec<Step> {
    pending
        .into_iter()
        .map(|(mut step, mut deferred)| {
            if !deferred.is_empty() {
                deferred.calls = Arc::clone(calls);
                step.deferred = Some(Arc::new(deferred));
            }
            step
        })
        .collect()
}

/// Read the steps of a job; `depth` counts the composite actions whose
/// steps these are (0 for the job's own). Each step's deferred parts stay
/// open to additions (a composite action's steps take the calling
/// step's); [`finish`] attaches them.
pub fn read_pending(
    node: &Node,
    job: &str,
    defaults: &Defaults,
    cx: &Contexts,
    project: &Path,
    depth: usize,
    r: &mut Reader,
) -> Vec<(Step, StepDeferred)> {
    let Some(items) = r.seq(node, "`steps`") else {
        return Vec::new();
    };
    let mut out: Vec<(Step, StepDeferred)> = Vec::new();
    // The ids of the steps read so far: the load-time `steps` context, so
    // that a reference to another step is checked (see
    // `super::check_references`).
    let mut ids = serde_json::Map::new();
    for (i, item) in items.iter().enumerate() {
        let Some(map) = r.map(item, "a step") else {
            continue;
        };
        r.check_keys(map, STEP_KEYS, "a step");
        let mut step_cx = cx.clone();
        step_cx.set("steps", Json::Object(ids.clone()));
        let cx = &step_cx;
        let id = map.get("id").and_then(|n| step_id(n, &mut ids, r));
        let mut pending = StepDeferred {
            cx: Arc::new(cx.clone()),
            ..Default::default()
        };
        let label = map
            .get("name")
            .and_then(|n| n.scalar_text())
            .or_else(|| map.get("id").and_then(|n| n.scalar_text()))
            .unwrap_or_else(|| format!("#{}", i + 1));
        let when = match map.get("if") {
            Some(n) => match runtime_condition(n, cx, r) {
                // Decided while the job runs; until then it may run.
                Some(text) => {
                    pending.condition = Some(text);
                    StepWhen::Always
                }
                None => match step_when(n, cx, r) {
                    Some(w) => w,
                    None => {
                        // Not dropped silently: `list`, `validate` and `run`
                        // say which step is left out and why.
                        left_out(n, &label, job, cx, r);
                        continue;
                    }
                },
            },
            None => StepWhen::OnSuccess,
        };
        let env = match map.get("env") {
            Some(n) => {
                let (env, deferred) = super::env_deferred(n, cx, runtime::STEP_RUNTIME, r);
                pending.env = deferred;
                env
            }
            None => Default::default(),
        };
        let continue_on_error = map
            .get("continue-on-error")
            .map(|n| super::bool_or_expr(n, cx, r))
            .unwrap_or(false);
        let timeout = map
            .get("timeout-minutes")
            .and_then(|n| super::minutes(n, r));
        let (name, deferred_name) = match map.get("name") {
            Some(n) => {
                let (shown, text) = interpolate_deferred(n, cx, runtime::STEP_RUNTIME, r);
                (Some(shown).filter(|s| !s.is_empty()), text)
            }
            None => (None, None),
        };
        let mut steps = match (map.get("run"), map.get("uses")) {
            (Some(_), Some(u)) => {
                r.error(
                    u.span,
                    format!("step `{label}` of job `{job}` has both `run` and `uses`"),
                )
                .set_help("a step either runs a script or uses an action");
                continue;
            }
            (Some(run), None) => {
                let (script, deferred_run) =
                    interpolate_deferred(run, cx, runtime::STEP_RUNTIME, r);
                let shell_name = map
                    .get("shell")
                    .and_then(|n| n.scalar_text())
                    .or_else(|| defaults.shell.clone());
                let shell = match shell_name {
                    None => default_shell(),
                    Some(s) => match shell(&s) {
                        Ok(sh) => sh,
                        Err(message) => {
                            let span = map.get("shell").map_or(item.span, |n| n.span);
                            r.error(span, format!("step `{label}` of job `{job}`: {message}"))
                                .set_help("write the step for bash, sh or python");
                            continue;
                        }
                    },
                };
                let workdir = match map.get("working-directory") {
                    Some(n) => {
                        let (shown, text) = interpolate_deferred(n, cx, runtime::STEP_RUNTIME, r);
                        pending.workdir = text;
                        Some(shown)
                    }
                    None => defaults.working_directory.clone(),
                }
                .map(|w| Located::new(w, r.loc(item.span)));
                let mut step = Step::new(
                    name.clone().unwrap_or_else(|| first_line(&script)),
                    script,
                    r.loc(item.span),
                );
                step.shell = shell;
                step.workdir = workdir;
                step.when = when;
                step.id = id;
                pending.run = deferred_run;
                pending.name = deferred_name;
                vec![(step, pending.clone())]
            }
            (None, Some(uses)) => {
                let Some(target) = r.nonempty_string(uses, "`uses`") else {
                    continue;
                };
                let call = Uses {
                    target: &target,
                    with: map.get("with"),
                    label: &label,
                    job,
                    node: uses,
                    cx,
                    project,
                    depth,
                };
                match uses_step(&call, r) {
                    Some(mut steps) => {
                        // An action run as one step is that step.
                        if let [(only, _)] = steps.as_mut_slice() {
                            only.id = id;
                        }
                        steps
                    }
                    None => continue,
                }
            }
            (None, None) => {
                r.error(
                    item.span,
                    format!("step `{label}` of job `{job}` has neither `run` nor `uses`"),
                );
                continue;
            }
        };
        for (s, inner) in &mut steps {
            s.env = env.with(&s.env);
            s.continue_on_error |= continue_on_error;
            if timeout.is_some() {
                s.timeout = timeout.clone();
            }
            if s.when == StepWhen::OnSuccess {
                s.when = when;
            }
            // The calling step's run-time parts hold for each step of a
            // composite action; its own come after (they win).
            let mut env = pending.env.clone();
            env.retain(|(k, _)| !inner.env.iter().any(|(ik, _)| ik == k));
            env.append(&mut inner.env);
            inner.env = env;
            if inner.condition.is_none() {
                inner.condition = pending.condition.clone();
            }
            if let Some(n) = &name
                && !s.name.starts_with(n.as_str())
            {
                s.name = format!("{n}: {}", s.name);
            }
        }
        out.extend(steps);
    }
    out
}

/// Say that a step whose `if:` is false before the run is left out: the
/// condition, the event and branch, and for a condition on the matrix or
/// on secrets, the values it was decided with.
fn left_out(node: &Node, label: &str, job: &str, cx: &Contexts, r: &mut Reader) {
    let why = super::false_condition(node, cx, r);
    let written = node.scalar_text().unwrap_or_default();
    let mut message = format!("step `{label}` of job `{job}` is left out: {}", why.reason);
    if written.contains("matrix.")
        && let Some(serde_json::Value::Object(m)) = cx.values.get("matrix")
        && !m.is_empty()
    {
        let values: Vec<String> = m
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::Object(_) | serde_json::Value::Array(_) => format!("{k}={v}"),
                _ => format!("{k}={}", super::expr::to_string(v)),
            })
            .collect();
        message.push_str(&format!(" with matrix {}", values.join(", ")));
    }
    let mut help = why.help;
    if written.contains("secrets.") {
        help.push_str("; a secret not given with `--secret` or `--secret-file` reads as empty");
    }
    r.warning(node.span, message)
        .set_label("false before the run")
        .set_help(help);
}

/// A step's `id`: unique among the steps of its job (or action), as
/// GitHub requires; added to `ids`.
fn step_id(node: &Node, ids: &mut serde_json::Map<String, Json>, r: &mut Reader) -> Option<String> {
    let id = r.nonempty_string(node, "a step `id`")?;
    let valid = id
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        r.error(node.span, format!("`{id}` is not a valid step id"))
            .set_help(
                "an id starts with a letter or `_` and has only letters, digits, `_` and `-`",
            );
        return None;
    }
    if ids.keys().any(|k| k.eq_ignore_ascii_case(&id)) {
        r.error(node.span, format!("two steps have `id: {id}`"))
            .set_help("give each step of a job its own id");
        return None;
    }
    ids.insert(id.clone(), Json::Object(Default::default()));
    Some(id)
}

/// The text of an `if:` that can only be decided while the job runs: one
/// that reads `steps`, `needs` or `env` (which `$GITHUB_ENV` may change).
/// Unknown step ids are reported here.
fn runtime_condition(node: &Node, cx: &Contexts, r: &mut Reader) -> Option<String> {
    let text = match node.value {
        crate::yaml::Value::Bool(_) => return None,
        _ => node.scalar_text()?,
    };
    let refs = expr::condition_references(&text).ok()?;
    super::check_references(node, &refs, cx, r);
    refs.iter()
        .any(|(c, _)| runtime::STEP_RUNTIME.contains(&c.as_str()))
        .then_some(text)
}

fn first_line(script: &str) -> String {
    let line = script
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut short: String = line.chars().take(60).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    short
}

/// A step's `uses:` and what reading it needs.
struct Uses<'a> {
    /// What `uses:` names (`docker://alpine`, `./.github/actions/x`, ...).
    target: &'a str,
    /// The step's `with:`.
    with: Option<&'a Node>,
    /// The step's name (or id, or `#n`) for messages.
    label: &'a str,
    /// The job's id.
    job: &'a str,
    /// The `uses:` value, where errors point.
    node: &'a Node,
    cx: &'a Contexts,
    project: &'a Path,
    /// Composite actions above this step (0 in a job's own steps).
    depth: usize,
}

fn uses_step(call: &Uses, r: &mut Reader) -> Option<Vec<(Step, StepDeferred)>> {
    let Uses {
        target,
        with,
        label,
        job,
        node: uses,
        cx,
        ..
    } = *call;
    let plain = || StepDeferred {
        cx: Arc::new(cx.clone()),
        ..Default::default()
    };
    // (as shown before the run, as written when decided at run time)
    let with_value = |key: &str, r: &mut Reader| -> Option<(String, Option<String>)> {
        with.and_then(Node::as_map)
            .and_then(|m| m.get(key))
            .map(|n| {
                let (shown, text) = interpolate_deferred(n, cx, runtime::STEP_RUNTIME, r);
                (shown, text.or_else(|| n.scalar_text()))
            })
    };
    if let Some(image) = target.strip_prefix("docker://") {
        // The image's own ENTRYPOINT is not known here: with `entrypoint`
        // it is run with `args`; without, `args` run through `sh -c`.
        let args = with_value("args", r).unwrap_or_default();
        let deferred = args.1.is_some();
        let (run, text) = match with_value("entrypoint", r) {
            Some(ep) => (
                format!("exec {} {}", ep.0, args.0),
                (deferred || ep.1.is_some()).then(|| {
                    format!(
                        "exec {} {}",
                        ep.1.unwrap_or_default(),
                        args.1.clone().unwrap_or_default()
                    )
                }),
            ),
            None if args.0.is_empty() && !deferred => {
                r.error(uses.span, format!("step `{label}` runs `{target}` without `with: args`"))
                    .set_help("nestci runs docker actions through `sh -c`: give the command in `with: args` (and optionally `with: entrypoint`)");
                return None;
            }
            None => (args.0, args.1),
        };
        let mut step = Step::new(format!("docker://{image}"), run, r.loc(uses.span));
        step.shell = vec!["sh".into(), "-c".into()];
        step.image = Some(Located::new(image.to_string(), r.loc(uses.span)));
        let mut pending = plain();
        // Evaluated again at run time only when a part reads a run-time
        // context: then the whole command is.
        let needs_runtime = with
            .and_then(Node::as_map)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|(k, _)| k.name == "args" || k.name == "entrypoint")
            .any(|(_, n)| {
                n.as_str()
                    .and_then(|t| expr::text_references(t).ok())
                    .is_some_and(|refs| {
                        refs.iter()
                            .any(|(c, _)| runtime::STEP_RUNTIME.contains(&c.as_str()))
                    })
            });
        if needs_runtime {
            pending.run = text;
        }
        return Some(vec![(step, pending)]);
    }
    let bare = target.split('@').next().unwrap_or(target);
    if bare.eq_ignore_ascii_case("actions/checkout") {
        let mut step = Step::new(
            format!("{target} (no-op)"),
            "echo 'nestci: actions/checkout is a no-op: /workspace already is the checkout'",
            r.loc(uses.span),
        );
        step.shell = vec!["sh".into(), "-c".into()];
        return Some(vec![(step, plain())]);
    }
    if target.starts_with("./") {
        return local_action(call, r);
    }
    r.error(
        uses.span,
        format!("step `{label}` of job `{job}` uses `{target}`, a remote action nestci cannot run"),
    )
    .set_help(
        "nestci runs `run:` steps, `docker://` images and local composite actions (`uses: ./path`); \
         replace this step with the commands it stands for",
    );
    None
}

fn local_action(call: &Uses, r: &mut Reader) -> Option<Vec<(Step, StepDeferred)>> {
    let Uses {
        target,
        with,
        label,
        job,
        node: uses,
        cx,
        project,
        depth,
    } = *call;
    if depth >= MAX_ACTION_DEPTH {
        r.error(
            uses.span,
            format!("step `{label}` of job `{job}`: local actions call each other more than {MAX_ACTION_DEPTH} levels deep at `{target}`"),
        )
        .set_help("a composite action that uses itself (directly or through others) never ends; break the cycle");
        return None;
    }
    let dir = project.join(target.trim_start_matches("./"));
    let file = ["action.yml", "action.yaml"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file());
    let Some(file) = file else {
        r.error(
            uses.span,
            format!("step `{label}` of job `{job}`: no action.yml in `{target}`"),
        )
        .set_help(format!("local actions are read from {}", dir.display()));
        return None;
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => {
            r.error(
                uses.span,
                format!("step `{label}`: cannot read {}: {e}", file.display()),
            );
            return None;
        }
    };
    let doc = match crate::yaml::parse(&text) {
        Ok(d) => d,
        Err(e) => {
            r.error(
                uses.span,
                format!("{} is not valid YAML: {}", file.display(), e.message),
            );
            return None;
        }
    };
    let Some(top) = doc.root.as_map() else {
        r.error(
            uses.span,
            format!("step `{label}`: {} is not a mapping", file.display()),
        )
        .set_help("an action.yml has `name`, `inputs` and `runs`");
        return None;
    };
    let runs = top.get("runs").and_then(Node::as_map);
    let using = runs
        .and_then(|m| m.get("using"))
        .and_then(Node::scalar_text)
        .unwrap_or_default();
    if using != "composite" {
        r.error(
            uses.span,
            format!("step `{label}` of job `{job}` uses `{target}`, a `{using}` action; nestci runs only composite local actions"),
        )
        .set_help("JavaScript and Dockerfile actions are not supported; write the steps as a composite action or `run:` steps");
        return None;
    }
    // `inputs` context: `with:` values over the action's defaults.
    let mut inputs = serde_json::Map::new();
    if let Some(decl) = top.get("inputs").and_then(Node::as_map) {
        for (k, v) in decl.iter() {
            if let Some(d) = v.as_map().and_then(|m| m.get("default")) {
                inputs.insert(
                    k.name.clone(),
                    serde_json::Value::String(interpolate_node(d, cx, r)),
                );
            }
        }
    }
    if let Some(w) = with.and_then(Node::as_map) {
        for (k, v) in w.iter() {
            inputs.insert(
                k.name.clone(),
                serde_json::Value::String(interpolate_node(v, cx, r)),
            );
        }
    }
    let mut inner = cx.clone();
    inner.set("inputs", serde_json::Value::Object(inputs));
    let Some(steps_node) = runs.and_then(|m| m.get("steps")) else {
        r.error(
            uses.span,
            format!(
                "step `{label}`: the composite action {} has no `runs.steps`",
                file.display()
            ),
        );
        return None;
    };
    // Errors inside the action point into its file.
    let saved = std::mem::replace(&mut r.file, std::sync::Arc::new(file.clone()));
    let defaults = Defaults::default();
    let steps = read_pending(steps_node, job, &defaults, &inner, project, depth + 1, r);
    r.file = saved;
    Some(steps)
}
