//! The GitLab CI dialect: `.gitlab-ci.yml` into the pipeline model.
//!
//! Reading happens in the order GitLab itself processes a file:
//!
//! 1. [`include`]: local files (with wildcards) are read and merged under
//!    the main file; network includes are reported, or mapped to local files;
//! 2. [`extends`]: every job is merged over its parents (deep merge of
//!    mappings, lists replaced);
//! 3. [`reference`]: `!reference [job, key]` tags are replaced;
//! 4. globals: `stages` (default `.pre, build, test, deploy, .post`),
//!    `variables`, `default` (and the old top-level `image`, `services`,
//!    `cache`, `before_script`, `after_script`), `workflow`;
//! 5. [`job`]: every visible job (`.hidden` ones are templates) into a
//!    template; unsupported keys are warned about once per file;
//! 6. expansion: `parallel` copies (`test 1/3`) and `parallel:matrix`
//!    variants (`test: [linux, 1.80]`), each with its variables
//!    ([`variables`]) and its `rules` decision ([`rules`]); then `needs`
//!    are resolved to the concrete jobs.
//!
//! Scripts become steps: `before_script` and `script` run as one shell
//! script (so `cd` and `export` carry over, as on a runner) that stops at the
//! first failing command; `after_script` is a separate step that runs
//! whatever happened and whose failure does not fail the job.

mod extends;
mod include;
mod job;
mod reference;
mod rules;
mod variables;

pub use extends::deep_merge;
pub use variables::expand as expand_variables;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::LoadOptions;
use super::reader::Reader;
use crate::diag::{Diagnostic, did_you_mean};
use crate::model::{
    AllowFailure, ArtifactsFrom, Dialect, Env, Job, Loc, Located, Need, Pipeline, When,
};
use crate::yaml::{Mapping, Node, Span};
use job::{NeedSpec, Parallel, Template};

/// Top-level keys that are settings, not jobs.
const KEYWORDS: &[&str] = &[
    "default",
    "include",
    "stages",
    "types",
    "variables",
    "workflow",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
    "spec",
];

/// The stages of a file that declares none.
pub const DEFAULT_STAGES: &[&str] = &[".pre", "build", "test", "deploy", ".post"];

pub(crate) fn is_keyword(name: &str) -> bool {
    KEYWORDS.contains(&name)
}

/// What the later passes need to know about the earlier ones.
pub(crate) struct Ctx {
    /// Where the first include nestci could not read was written: what is
    /// missing may be defined there, so it is a warning, not an error.
    pub unresolved_include: Option<Loc>,
    /// The files `rules:exists` and `rules:changes` look at.
    pub checkout: rules::Checkout,
}

/// Unsupported keys already reported: one warning per key per file.
#[derive(Default)]
pub(crate) struct Warned {
    seen: HashSet<String>,
}

impl Warned {
    pub fn warn(&mut self, r: &mut Reader, key: &str, span: Span) {
        if !self.seen.insert(key.to_string()) {
            return;
        }
        let (message, help) = unsupported_message(key);
        r.warning(span, message).set_help(help);
    }
}

fn unsupported_message(key: &str) -> (String, String) {
    let ignored = "nestci ignores it; this is reported once per file";
    match key {
        "trigger" => (
            "`trigger` (downstream pipelines) is not supported; jobs with it are left out".into(),
            "run the downstream pipeline's file with nestci on its own".into(),
        ),
        "run" => (
            "`run` (CI/CD steps) is not supported; jobs without `script` are left out".into(),
            "write the job with `script:`".into(),
        ),
        "tags" | "interruptible" | "resource_group" | "coverage" => (
            format!("`{key}` is about GitLab runners and the server; it has no effect locally"),
            ignored.into(),
        ),
        "cache:several" => (
            "only the first of several caches is used".into(),
            "merge the caches into one `paths` list".into(),
        ),
        "cache:no-paths" => (
            "a cache without `paths` keeps nothing and is ignored".into(),
            "list the paths to keep between runs under `paths:`".into(),
        ),
        "needs:project" => (
            "`needs` on another project or pipeline is not supported; the entry is ignored".into(),
            ignored.into(),
        ),
        "image:entrypoint" | "services:entrypoint" => (
            "an image `entrypoint` is not applied: nestci runs steps through the shell".into(),
            ignored.into(),
        ),
        other => (
            format!("`{other}` is not supported yet and is ignored"),
            ignored.into(),
        ),
    }
}

/// Parse a GitLab CI document. Errors and warnings are left in `r`.
pub fn parse(root: &Node, r: &mut Reader, options: &LoadOptions) -> Option<Pipeline> {
    let main_file = Arc::clone(&r.file);
    let Some(top) = root.as_map() else {
        r.error(
            root.span,
            format!(
                "a GitLab CI file must be a mapping of jobs and settings, found {}",
                root.value.kind()
            ),
        )
        .set_help("start with a job: `build:` and an indented `script:` list");
        return None;
    };
    let project_dir = project_dir(&main_file);
    let expanded = include::expand(top, r, &project_dir, &options.include_dirs);
    let ctx = Ctx {
        unresolved_include: expanded.unresolved,
        checkout: rules::Checkout::new(if project_dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &project_dir
        }),
    };
    let origins = expanded.origins;
    let mut top = expanded.top;
    extends::resolve(&mut top, r, &ctx);
    reference::resolve(&mut top, r, &ctx);
    let mut warned = Warned::default();

    // Globals.
    let stages = stages(&top, r);
    let global_vars = top
        .get("variables")
        .map(|n| variables::read(n, r))
        .unwrap_or_default();
    let defaults = defaults(&top, r, &mut warned);
    let git = super::git::inspect(if project_dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &project_dir
    });
    let source = options
        .env
        .get("CI_PIPELINE_SOURCE")
        .map(str::to_string)
        .or_else(|| options.event.clone())
        .unwrap_or_else(|| "push".into());
    let commit = git.root.as_deref().and_then(super::git::commit);
    let predefined = variables::predefined(&project_dir, &git, commit.as_ref(), &source);
    let workflow = workflow(
        &top,
        r,
        &predefined,
        &global_vars,
        options,
        &ctx,
        &mut warned,
    );

    // Jobs.
    let mut templates = Vec::new();
    for (key, node) in top.iter() {
        if is_keyword(&key.name) || key.name.starts_with('.') {
            continue;
        }
        if key.name.trim().is_empty() {
            r.error(key.span, "a job name must not be empty");
            continue;
        }
        let saved = origins
            .get(&key.name)
            .map(|f| std::mem::replace(&mut r.file, Arc::clone(f)));
        let t = job::parse(&key.name, key.span, node, &defaults, r, &ctx, &mut warned);
        if let Some(t) = t {
            check_stage(&t, &stages, r);
            templates.push(t);
        }
        if let Some(saved) = saved {
            r.file = saved;
        }
    }
    if templates.is_empty() && !r.has_errors() && ctx.unresolved_include.is_none() {
        r.error(root.span, "the pipeline has no jobs").set_help(
            "add a job with `script:`; keys starting with `.` are hidden templates, not jobs",
        );
    }

    let env = Layers {
        predefined: &predefined,
        global: &global_vars,
        workflow_vars: &workflow.variables,
        overrides: &options.env,
    };
    let jobs = expand(templates, &stages, &env, &workflow, r, &ctx);
    finish_diagnostics(r, &main_file);
    let name = workflow
        .name
        .clone()
        .or_else(|| {
            options
                .env
                .get("CI_PROJECT_NAME")
                .or_else(|| predefined.get("CI_PROJECT_NAME"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "gitlab-ci".into());
    Some(Pipeline {
        name,
        dialect: Dialect::GitLab,
        file: main_file,
        stages,
        jobs,
        untrusted_input: None,
    })
}

/// Local includes are relative to the project root: the directory of the
/// pipeline file (where `.gitlab-ci.yml` lives in a checkout).
fn project_dir(file: &Path) -> PathBuf {
    file.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn stages(top: &Mapping, r: &mut Reader) -> Vec<String> {
    let node = top.get("stages").or_else(|| top.get("types"));
    let Some(node) = node else {
        return DEFAULT_STAGES.iter().map(|s| s.to_string()).collect();
    };
    let mut declared: Vec<String> = Vec::new();
    for s in r.string_list(node, "a stage name") {
        if declared.contains(&s.value) {
            // GitLab keeps the first; a repeat is harmless but suspicious.
            r.diagnostics.push(Diagnostic::warning(
                format!("stage `{}` is listed twice", s.value),
                Some(s.loc),
            ));
            continue;
        }
        declared.push(s.value);
    }
    declared.retain(|s| s != ".pre" && s != ".post");
    let mut out = vec![".pre".to_string()];
    out.extend(declared);
    out.push(".post".into());
    out
}

fn check_stage(t: &Template, stages: &[String], r: &mut Reader) {
    if stages.iter().any(|s| s == &t.stage.value) {
        return;
    }
    let names: Vec<&str> = stages.iter().map(String::as_str).collect();
    let help = match did_you_mean(&t.stage, &names) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("add it to `stages:` (now: {})", names.join(", ")),
    };
    r.diagnostics.push(
        Diagnostic::error(
            format!(
                "job `{}` uses stage `{}`, which is not in `stages`",
                t.name, t.stage.value
            ),
            Some(t.stage.loc.clone()),
        )
        .with_help(help),
    );
}

/// `default:` merged over the old top-level keys of the same names.
fn defaults(top: &Mapping, r: &mut Reader, warned: &mut Warned) -> Mapping {
    let mut out = Mapping::default();
    for key in [
        "image",
        "services",
        "cache",
        "before_script",
        "after_script",
    ] {
        if let Some((k, v)) = top.entry(key) {
            out.entries.push((k.clone(), v.clone()));
        }
    }
    if let Some(node) = top.get("default")
        && let Some(m) = r.map(node, "`default`")
    {
        r.check_keys(m, job::DEFAULT_KEYS, "`default`");
        for (k, _) in m.iter() {
            if matches!(
                k.name.as_str(),
                "hooks" | "id_tokens" | "interruptible" | "tags"
            ) {
                warned.warn(r, &k.name, k.span);
            }
        }
        out = extends::merge_maps(&out, m);
    }
    out
}

/// `workflow:` reduced to what applies to every job.
struct Workflow {
    name: Option<String>,
    condition: Option<Located<String>>,
    never: bool,
    variables: Vec<variables::Var>,
}

fn workflow(
    top: &Mapping,
    r: &mut Reader,
    predefined: &Env,
    global: &[variables::Var],
    options: &LoadOptions,
    ctx: &Ctx,
    warned: &mut Warned,
) -> Workflow {
    let mut out = Workflow {
        name: None,
        condition: None,
        never: false,
        variables: Vec::new(),
    };
    let Some(m) = top.get("workflow").and_then(|n| r.map(n, "`workflow`")) else {
        return out;
    };
    r.check_keys(m, &["name", "rules", "auto_cancel"], "`workflow`");
    if let Some((k, _)) = m.entry("auto_cancel") {
        warned.warn(r, "workflow:auto_cancel", k.span);
    }
    let Some((key, node)) = m.entry("rules") else {
        out.name = m.get("name").and_then(|n| r.string(n, "`workflow: name`"));
        return out;
    };
    let mut warn = |r: &mut Reader, k: &str, span: Span| warned.warn(r, k, span);
    let list = rules::read(node, r, "`workflow: rules`", &ctx.checkout, &mut warn);
    let compiled = rules::compile(&list);
    let mut env = predefined.clone();
    let mut raw = Vec::new();
    variables::layer(&mut env, &mut raw, global);
    env.overlay(&options.env);
    let env = variables::expand_all(&env, &raw);
    if let Some(rule) = rules::first_match(&list, &|n| env.get(n))
        && rule.when != When::Never
    {
        out.variables = rule.variables.clone();
    }
    out.condition = compiled.condition.map(|c| r.located(c, key.span));
    out.never = compiled.never;
    let mut named = env.clone();
    let mut raw = Vec::new();
    variables::layer(&mut named, &mut raw, &out.variables);
    out.name = m
        .get("name")
        .and_then(|n| r.string(n, "`workflow: name`"))
        .map(|n| variables::expand(&n, &|v| named.get(v)));
    out
}

/// The variable levels shared by every job.
struct Layers<'a> {
    predefined: &'a Env,
    global: &'a [variables::Var],
    workflow_vars: &'a [variables::Var],
    overrides: &'a Env,
}

/// One concrete job of a template: its name, `(index, total)` for
/// `parallel`, and its matrix values.
type Variant = (String, Option<(usize, usize)>, crate::model::MatrixCombo);

fn variants(t: &Template) -> Vec<Variant> {
    match &t.parallel {
        Parallel::One => vec![(t.name.clone(), None, Vec::new())],
        Parallel::Count(n) => (1..=*n)
            .map(|i| (format!("{} {i}/{n}", t.name), Some((i, *n)), Vec::new()))
            .collect(),
        Parallel::Matrix(combos) => combos
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    job::matrix_name(&t.name, c),
                    Some((i + 1, combos.len())),
                    c.clone(),
                )
            })
            .collect(),
    }
}

fn expand(
    templates: Vec<Template>,
    stages: &[String],
    layers: &Layers,
    workflow: &Workflow,
    r: &mut Reader,
    ctx: &Ctx,
) -> Vec<Job> {
    let mut expansions: HashMap<String, Vec<String>> = HashMap::new();
    let mut taken: HashMap<String, Loc> = HashMap::new();
    // Each concrete job with its template's `needs` and `dependencies`.
    type Concrete = (Job, Option<Vec<NeedSpec>>, Option<Vec<Located<String>>>);
    let mut concrete: Vec<Concrete> = Vec::new();
    let mut dependencies = Vec::new();
    for t in templates {
        let mut names = Vec::new();
        for (name, node, combo) in variants(&t) {
            if let Some(first) = taken.get(&name) {
                r.diagnostics.push(
                    Diagnostic::error(
                        format!("two jobs are named `{name}` (the other is at {first})"),
                        Some(t.loc.clone()),
                    )
                    .with_help("rename one of the jobs"),
                );
                continue;
            }
            taken.insert(name.clone(), t.loc.clone());
            names.push(name.clone());
            concrete.push((
                build_job(&t, name, node, combo, layers, workflow),
                t.needs.clone(),
                t.dependencies.clone(),
            ));
        }
        dependencies.extend(
            t.dependencies
                .iter()
                .flatten()
                .cloned()
                .map(|d| (t.name.clone(), d)),
        );
        expansions.insert(t.name.clone(), names);
    }
    for (job, dep) in dependencies {
        if !expansions.contains_key(&dep.value) && !taken.contains_key(&dep.value) {
            unknown_job(r, ctx, &job, "dependencies", &dep, &expansions);
        }
    }
    // Where each concrete job's stage is in `stages`, for artifact passing.
    let stage_of: HashMap<String, usize> = concrete
        .iter()
        .map(|(job, _, _)| (job.name.clone(), stage_index(stages, job)))
        .collect();
    let in_stage_order = {
        let mut names: Vec<(usize, usize, &str)> = concrete
            .iter()
            .enumerate()
            .map(|(i, (job, _, _))| (stage_index(stages, job), i, job.name.as_str()))
            .collect();
        names.sort_unstable();
        names
            .into_iter()
            .map(|(s, _, n)| (s, n.to_string()))
            .collect::<Vec<_>>()
    };
    let mut jobs = Vec::with_capacity(concrete.len());
    for (mut job, needs, deps) in concrete {
        // The needed jobs whose artifacts are wanted (`artifacts: true`).
        let mut needed_artifacts = Vec::new();
        job.needs = needs.map(|needs| {
            let mut out = Vec::new();
            for need in needs {
                let targets = expansions.get(&need.job.value).cloned().or_else(|| {
                    taken
                        .contains_key(&need.job.value)
                        .then(|| vec![need.job.value.clone()])
                });
                let Some(mut targets) = targets else {
                    if !need.optional {
                        unknown_job(r, ctx, &job.name, "needs", &need.job, &expansions);
                    }
                    continue;
                };
                if let Some(filter) = &need.matrix {
                    let wanted: Vec<String> = filter
                        .iter()
                        .map(|c| job::matrix_name(&need.job.value, c))
                        .collect();
                    targets.retain(|t| wanted.contains(t));
                    if targets.is_empty() {
                        r.diagnostics.push(
                            Diagnostic::error(
                                format!(
                                    "job `{}` needs a `{}` matrix variant that does not exist",
                                    job.name, need.job.value
                                ),
                                Some(need.job.loc.clone()),
                            )
                            .with_help(format!("it would be named {}", wanted.join(" or "))),
                        );
                    }
                }
                for target in targets {
                    if target == job.name {
                        r.diagnostics.push(Diagnostic::error(
                            format!("job `{}` needs itself", job.name),
                            Some(need.job.loc.clone()),
                        ));
                        continue;
                    }
                    if need.artifacts {
                        needed_artifacts.push(target.clone());
                    }
                    out.push(Need {
                        job: target,
                        optional: need.optional,
                        loc: need.job.loc.clone(),
                    });
                }
            }
            out
        });
        let own_stage = stage_of.get(&job.name).copied().unwrap_or(0);
        job.artifacts_from = ArtifactsFrom::Jobs(match deps {
            Some(deps) => {
                let mut from = Vec::new();
                for dep in deps {
                    let targets = expansions
                        .get(&dep.value)
                        .cloned()
                        .unwrap_or_else(|| vec![dep.value.clone()]);
                    for target in targets {
                        // Unknown names were reported above.
                        let Some(&stage) = stage_of.get(&target) else {
                            continue;
                        };
                        if let Some(needs) = &job.needs {
                            if !needs.iter().any(|n| n.job == target) {
                                r.diagnostics.push(
                                    Diagnostic::error(
                                        format!(
                                            "job `{}` lists `{target}` in `dependencies` but not in `needs`",
                                            job.name
                                        ),
                                        Some(dep.loc.clone()),
                                    )
                                    .with_help(format!(
                                        "a job with `needs` receives artifacts only from needed jobs; add `{}` to `needs`",
                                        dep.value
                                    )),
                                );
                                continue;
                            }
                        } else if stage >= own_stage {
                            r.diagnostics.push(
                                Diagnostic::error(
                                    format!(
                                        "job `{}` (stage `{}`) lists `{target}` in `dependencies`, but `{target}` is in the same or a later stage (`{}`)",
                                        job.name,
                                        stages.get(own_stage).map_or("?", String::as_str),
                                        stages.get(stage).map_or("?", String::as_str),
                                    ),
                                    Some(dep.loc.clone()),
                                )
                                .with_help("`dependencies` may name only jobs of earlier stages"),
                            );
                            continue;
                        }
                        if !from.contains(&target) {
                            from.push(target);
                        }
                    }
                }
                from
            }
            None if job.needs.is_some() => needed_artifacts,
            // GitLab's default: every job of every earlier stage.
            None => in_stage_order
                .iter()
                .filter(|(s, _)| *s < own_stage)
                .map(|(_, n)| n.clone())
                .collect(),
        });
        jobs.push(job);
    }
    jobs
}

/// Where `job`'s stage is in `stages` (a stage not in the list was
/// reported when the job was read; it counts as the first).
fn stage_index(stages: &[String], job: &Job) -> usize {
    job.stage
        .as_deref()
        .and_then(|s| stages.iter().position(|x| x == s))
        .unwrap_or(0)
}

fn unknown_job(
    r: &mut Reader,
    ctx: &Ctx,
    job: &str,
    key: &str,
    target: &Located<String>,
    expansions: &HashMap<String, Vec<String>>,
) {
    let mut candidates: Vec<&str> = expansions.keys().map(String::as_str).collect();
    candidates.sort_unstable();
    let message = format!(
        "job `{job}` lists `{}` in `{key}`, which is not a job in this pipeline",
        target.value
    );
    let help = match did_you_mean(&target.value, &candidates) {
        Some(s) => format!("did you mean `{s}`?"),
        None if key == "needs" => {
            "name a visible job, or mark the entry `optional: true` if it may be absent".into()
        }
        None => format!("`{key}` lists jobs of this pipeline"),
    };
    let d = match &ctx.unresolved_include {
        Some(at) => Diagnostic::warning(message, Some(target.loc.clone())).with_help(format!(
            "it may come from the include at {at} that nestci could not read; the entry is ignored"
        )),
        None => Diagnostic::error(message, Some(target.loc.clone())).with_help(help),
    };
    r.diagnostics.push(d);
}

fn build_job(
    t: &Template,
    name: String,
    node: Option<(usize, usize)>,
    combo: crate::model::MatrixCombo,
    layers: &Layers,
    workflow: &Workflow,
) -> Job {
    // Variables, lowest level first (see `variables`).
    let mut env = layers.predefined.clone();
    variables::job_predefined(&mut env, &name, &t.stage.value, node);
    let mut raw = Vec::new();
    let global: Vec<variables::Var> = layers
        .global
        .iter()
        .filter(|v| t.inherit_variables.allows(&v.name))
        .cloned()
        .collect();
    variables::layer(&mut env, &mut raw, &global);
    variables::layer(&mut env, &mut raw, layers.workflow_vars);
    variables::layer(&mut env, &mut raw, &t.variables);
    for (k, v) in &combo {
        env.set(k.clone(), v.clone(), None);
    }

    // Rules: decided with what is known now; the condition stays for the
    // planner so `--env` still applies.
    let mut when = t.when.unwrap_or_default();
    let mut allow_failure = t
        .allow_failure
        .clone()
        .unwrap_or(AllowFailure::from(when == When::Manual));
    let mut condition = t.only_except.clone();
    if let Some((list, loc)) = &t.rules {
        let mut known = env.clone();
        known.overlay(layers.overrides);
        let known = variables::expand_all(&known, &raw);
        let compiled = rules::compile(list);
        match rules::first_match(list, &|n| known.get(n)) {
            Some(rule) if rule.when != When::Never => {
                when = rule.when;
                allow_failure = match rule.allow_failure {
                    Some(allowed) => AllowFailure::from(allowed),
                    None => t.allow_failure.clone().unwrap_or_default(),
                };
                variables::layer(&mut env, &mut raw, &rule.variables);
            }
            _ => {
                // Not in the pipeline with these variables; the condition
                // says so, and `--env` may still bring it in.
                if let Some(rule) = list.iter().find(|r| r.when != When::Never) {
                    when = rule.when;
                }
            }
        }
        if compiled.never {
            when = When::Never;
        }
        condition = compiled.condition.map(|c| Located::new(c, loc.clone()));
    }
    if workflow.never {
        when = When::Never;
    }
    if let Some(w) = &workflow.condition {
        condition = Some(match condition {
            Some(c) => Located::new(format!("({}) && ({})", w.value, c.value), c.loc),
            None => w.clone(),
        });
    }
    env.overlay(layers.overrides);
    let env = variables::expand_all(&env, &raw);
    let lookup = |n: &str| env.get(n);
    let image = t
        .image
        .as_ref()
        .map(|i| Located::new(variables::expand(&i.value, &lookup), i.loc.clone()));
    let mut services = t.services.clone();
    for s in &mut services {
        s.image.value = variables::expand(&s.image.value, &lookup);
        s.env = env.with(&s.env);
    }
    let cache = t.cache.clone().map(|mut c| {
        c.key = variables::expand(&c.key, &lookup);
        c
    });
    let mut job = Job::new(name, t.loc.clone());
    job.template = t.name.clone();
    job.stage = Some(t.stage.value.clone());
    job.image = image;
    job.matrix = combo;
    job.steps = t.steps.clone();
    job.services = services;
    job.artifacts = t.artifacts.clone();
    job.cache = cache;
    job.timeout = t.timeout.clone();
    job.retry = t.retry;
    job.allow_failure = allow_failure;
    job.when = when;
    job.condition = condition;
    job.env = env;
    job
}

/// Diagnostics located in an included file cannot be shown with the main
/// file's text: they name their place in the message instead. Identical
/// diagnostics (a template's mistake seen through every job that extends
/// it) are reported once.
fn finish_diagnostics(r: &mut Reader, main: &Arc<PathBuf>) {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(r.diagnostics.len());
    for mut d in std::mem::take(&mut r.diagnostics) {
        if let Some(loc) = &d.loc
            && loc.file != *main
            && loc.line() > 0
        {
            d.message = format!("in {loc}: {}", d.message);
            d.loc = None;
        }
        let key = (d.loc.clone(), d.message.clone());
        if seen.insert(key) {
            out.push(d);
        }
    }
    r.diagnostics = out;
}

#[cfg(test)]
mod tests;
