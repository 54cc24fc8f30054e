//! Job steps: `run` with its shell, `uses: docker://`, local composite
//! actions, `actions/checkout` (a no-op), and the remote actions nestci
//! refuses.

use std::path::Path;

use super::super::reader::Reader;
use super::expr::Contexts;
use super::{Defaults, interpolate_node, step_when};
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

/// Read the steps of a job; `depth` counts the composite actions whose
/// steps these are (0 for the job's own).
pub fn read(
    node: &Node,
    job: &str,
    defaults: &Defaults,
    cx: &Contexts,
    project: &Path,
    depth: usize,
    r: &mut Reader,
) -> Vec<Step> {
    let Some(items) = r.seq(node, "`steps`") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(map) = r.map(item, "a step") else {
            continue;
        };
        r.check_keys(map, STEP_KEYS, "a step");
        let label = map
            .get("name")
            .and_then(|n| n.scalar_text())
            .or_else(|| map.get("id").and_then(|n| n.scalar_text()))
            .unwrap_or_else(|| format!("#{}", i + 1));
        let when = match map.get("if") {
            Some(n) => match step_when(n, cx, r) {
                Some(w) => w,
                None => {
                    // Not dropped silently: `list`, `validate` and `run`
                    // say which step is left out and why.
                    left_out(n, &label, job, cx, r);
                    continue;
                }
            },
            None => StepWhen::OnSuccess,
        };
        let env = map
            .get("env")
            .map(|n| super::env(n, cx, r))
            .unwrap_or_default();
        let continue_on_error = map
            .get("continue-on-error")
            .map(|n| super::bool_or_expr(n, cx, r))
            .unwrap_or(false);
        let timeout = map
            .get("timeout-minutes")
            .and_then(|n| super::minutes(n, r));
        let name = map
            .get("name")
            .map(|n| interpolate_node(n, cx, r))
            .filter(|s| !s.is_empty());
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
                let script = interpolate_node(run, cx, r);
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
                let workdir = map
                    .get("working-directory")
                    .map(|n| interpolate_node(n, cx, r))
                    .or_else(|| defaults.working_directory.clone())
                    .map(|w| Located::new(w, r.loc(item.span)));
                let mut step = Step::new(
                    name.clone().unwrap_or_else(|| first_line(&script)),
                    script,
                    r.loc(item.span),
                );
                step.shell = shell;
                step.workdir = workdir;
                step.when = when;
                vec![step]
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
                    Some(steps) => steps,
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
        for s in &mut steps {
            s.env = env.with(&s.env);
            s.continue_on_error |= continue_on_error;
            if timeout.is_some() {
                s.timeout = timeout.clone();
            }
            if s.when == StepWhen::OnSuccess {
                s.when = when;
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

fn uses_step(call: &Uses, r: &mut Reader) -> Option<Vec<Step>> {
    let Uses {
        target,
        with,
        label,
        job,
        node: uses,
        cx,
        ..
    } = *call;
    let with_value = |key: &str, r: &mut Reader| -> Option<String> {
        with.and_then(Node::as_map)
            .and_then(|m| m.get(key))
            .map(|n| interpolate_node(n, cx, r))
    };
    if let Some(image) = target.strip_prefix("docker://") {
        // The image's own ENTRYPOINT is not known here: with `entrypoint`
        // it is run with `args`; without, `args` run through `sh -c`.
        let args = with_value("args", r).unwrap_or_default();
        let run = match with_value("entrypoint", r) {
            Some(ep) => format!("exec {ep} {args}"),
            None if args.is_empty() => {
                r.error(uses.span, format!("step `{label}` runs `{target}` without `with: args`"))
                    .set_help("nestci runs docker actions through `sh -c`: give the command in `with: args` (and optionally `with: entrypoint`)");
                return None;
            }
            None => args,
        };
        let mut step = Step::new(format!("docker://{image}"), run, r.loc(uses.span));
        step.shell = vec!["sh".into(), "-c".into()];
        step.image = Some(Located::new(image.to_string(), r.loc(uses.span)));
        return Some(vec![step]);
    }
    let bare = target.split('@').next().unwrap_or(target);
    if bare.eq_ignore_ascii_case("actions/checkout") {
        let mut step = Step::new(
            format!("{target} (no-op)"),
            "echo 'nestci: actions/checkout is a no-op: /workspace already is the checkout'",
            r.loc(uses.span),
        );
        step.shell = vec!["sh".into(), "-c".into()];
        return Some(vec![step]);
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

fn local_action(call: &Uses, r: &mut Reader) -> Option<Vec<Step>> {
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
    let steps = read(steps_node, job, &defaults, &inner, project, depth + 1, r);
    r.file = saved;
    Some(steps)
}
