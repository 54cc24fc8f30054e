//! One GitLab job, as written (after `include`, `extends` and
//! `!reference`), read into a [`Template`]: everything but what depends on
//! the concrete job name (variables, rules), which [`super::expand`] adds
//! per `parallel` variant.

use std::time::Duration;

use super::super::reader::Reader;
use super::rules::{self, Rule};
use super::variables::{self, Var};
use super::{Ctx, Warned};
use crate::model::{
    AllowFailure, Cache, Env, Loc, Located, MatrixCombo, Service, Step, StepWhen, When,
};
use crate::yaml::{Mapping, Node, Span, Value};

/// Job keys nestci reads.
const SUPPORTED: &[&str] = &[
    "after_script",
    "allow_failure",
    "artifacts",
    "before_script",
    "cache",
    "dependencies",
    "image",
    "inherit",
    "needs",
    "parallel",
    "retry",
    "rules",
    "script",
    "services",
    "stage",
    "timeout",
    "type",
    "variables",
    "when",
    "only",
    "except",
];

/// GitLab job keys that nestci accepts but does not act on (yet); each is
/// reported once per file.
const NOT_SUPPORTED: &[&str] = &[
    "coverage",
    "dast_configuration",
    "environment",
    "hooks",
    "id_tokens",
    "identity",
    "interruptible",
    "manual_confirmation",
    "pages",
    "release",
    "resource_group",
    "run",
    "secrets",
    "start_in",
    "tags",
    "trigger",
];

/// Keys `default:` may set for every job.
pub const DEFAULT_KEYS: &[&str] = &[
    "after_script",
    "artifacts",
    "before_script",
    "cache",
    "hooks",
    "id_tokens",
    "image",
    "interruptible",
    "retry",
    "services",
    "tags",
    "timeout",
];

/// A job as written, before `parallel` expansion.
pub struct Template {
    pub name: String,
    pub loc: Loc,
    pub stage: Located<String>,
    pub image: Option<Located<String>>,
    pub services: Vec<Service>,
    pub steps: Vec<Step>,
    pub artifacts: Vec<Located<String>>,
    pub cache: Option<Cache>,
    pub timeout: Option<Located<Duration>>,
    pub retry: u32,
    pub allow_failure: Option<AllowFailure>,
    pub when: Option<When>,
    pub needs: Option<Vec<NeedSpec>>,
    /// `dependencies:` as written; `Some([])` receives no artifacts.
    pub dependencies: Option<Vec<Located<String>>>,
    pub variables: Vec<Var>,
    /// Which global variables the job inherits.
    pub inherit_variables: Inherit,
    pub rules: Option<(Vec<Rule>, Loc)>,
    pub only_except: Option<Located<String>>,
    pub parallel: Parallel,
}

/// `inherit: variables/default`: all, none, or the listed names.
#[derive(Debug, Clone)]
pub enum Inherit {
    All,
    Only(Vec<String>),
}

impl Inherit {
    pub fn allows(&self, name: &str) -> bool {
        match self {
            Inherit::All => true,
            Inherit::Only(names) => names.iter().any(|n| n == name),
        }
    }
}

/// `parallel`: copies of the job.
#[derive(Debug, Clone)]
pub enum Parallel {
    One,
    Count(usize),
    Matrix(Vec<MatrixCombo>),
}

/// A `needs` entry.
#[derive(Debug, Clone)]
pub struct NeedSpec {
    pub job: Located<String>,
    pub optional: bool,
    /// `parallel: matrix:` of the need: only these variants.
    pub matrix: Option<Vec<MatrixCombo>>,
    /// `artifacts: false`: wait for the job but do not receive its
    /// artifacts.
    pub artifacts: bool,
}

/// Read job `name`. `None` when it cannot become a job (errors or
/// warnings are recorded).
pub fn parse(
    name: &str,
    key_span: Span,
    node: &Node,
    defaults: &Mapping,
    r: &mut Reader,
    ctx: &Ctx,
    warned: &mut Warned,
) -> Option<Template> {
    let Some(map) = node.as_map() else {
        r.error(
            key_span,
            format!("job `{name}` must be a mapping, found {}", node.value.kind()),
        )
        .set_help(format!(
            "a job is a mapping with at least `script:`; to keep a value for reuse, hide it: `.{name}`"
        ));
        return None;
    };
    for (key, _) in map.iter() {
        if NOT_SUPPORTED.contains(&key.name.as_str()) {
            warned.warn(r, &key.name, key.span);
        } else if !SUPPORTED.contains(&key.name.as_str()) {
            let mut all: Vec<&str> = SUPPORTED.to_vec();
            all.extend_from_slice(NOT_SUPPORTED);
            let help = match crate::diag::did_you_mean(&key.name, &all) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "see https://docs.gitlab.com/ci/yaml/ for the job keywords".to_string(),
            };
            r.error(
                key.span,
                format!("unknown key `{}` in job `{name}`", key.name),
            )
            .set_label("unknown key")
            .set_help(help);
        }
    }
    if map.get("trigger").is_some() || (map.get("run").is_some() && map.get("script").is_none()) {
        // The warning above says the key is not supported; such a job has
        // nothing nestci could run.
        return None;
    }

    let inherit_default = inherit(map, "default", r);
    let inherit_variables = inherit(map, "variables", r);
    let get = |key: &str| -> Option<&Node> {
        map.get(key).or_else(|| {
            inherit_default
                .allows(key)
                .then(|| defaults.get(key))
                .flatten()
        })
    };

    let script = match map.get("script") {
        Some(n) => lines(n, r, "`script`"),
        None => {
            let message = format!("job `{name}` has no `script`");
            match &ctx.unresolved_include {
                Some(at) => {
                    r.warning(key_span, format!("{message}; it is left out"))
                        .set_help(format!("its `script` may come from the include at {at} that nestci could not read"));
                }
                None => {
                    r.error(key_span, message).set_help(format!(
                        "add `script:` with the commands to run; a mapping meant only for reuse is hidden: `.{name}`"
                    ));
                }
            }
            return None;
        }
    };
    let before = get("before_script")
        .map(|n| lines(n, r, "`before_script`"))
        .unwrap_or_default();
    let after = get("after_script")
        .map(|n| lines(n, r, "`after_script`"))
        .unwrap_or_default();
    let script_loc = r.loc(map.entry("script").map_or(key_span, |(k, _)| k.span));
    let mut steps = Vec::new();
    let mut body: Vec<String> = before;
    body.extend(script);
    if body.is_empty() {
        r.error(
            map.entry("script").map_or(key_span, |(k, _)| k.span),
            format!("job `{name}` has an empty `script`"),
        )
        .set_help("list at least one command");
        return None;
    }
    steps.push(step(
        "script",
        body.join("\n"),
        script_loc,
        StepWhen::OnSuccess,
    ));
    if !after.is_empty() {
        let loc = r.loc(get("after_script").map_or(key_span, |n| n.span));
        let mut s = step("after_script", after.join("\n"), loc, StepWhen::Always);
        // GitLab: a failing after_script does not change the job's result.
        s.continue_on_error = true;
        steps.push(s);
    }

    // `type` is GitLab's old name for `stage`.
    let stage = match map.get("stage").or_else(|| map.get("type")) {
        Some(n) => r.located_string(n, "`stage`")?,
        None => r.located("test".to_string(), key_span),
    };
    let image = get("image").and_then(|n| image(n, r, warned));
    let services = get("services")
        .map(|n| services(n, r, warned))
        .unwrap_or_default();
    let artifacts = get("artifacts")
        .map(|n| artifacts(n, r, warned))
        .unwrap_or_default();
    let cache = get("cache").and_then(|n| cache(n, r, warned));
    let timeout = get("timeout").and_then(|n| duration(n, r));
    let retry = get("retry").and_then(|n| retry(n, r, warned)).unwrap_or(0);
    let allow_failure = map.get("allow_failure").and_then(|n| allow_failure(n, r));
    let when = map.get("when").and_then(|n| rules::read_when(n, r));
    let needs = map.get("needs").map(|n| needs(n, r, warned));
    let dependencies = map
        .get("dependencies")
        .map(|n| r.string_list(n, "a job name in `dependencies`"));
    let variables = map
        .get("variables")
        .map(|n| variables::read(n, r))
        .unwrap_or_default();
    let rules = map.entry("rules").map(|(k, n)| {
        let mut warn = |r: &mut Reader, key: &str, span: Span| warned.warn(r, key, span);
        (
            rules::read(n, r, "`rules`", &ctx.checkout, &mut warn),
            r.loc(k.span),
        )
    });
    if rules.is_some() && (map.get("only").is_some() || map.get("except").is_some()) {
        let span = map.entry("rules").map_or(key_span, |(k, _)| k.span);
        r.error(
            span,
            format!("job `{name}` uses `rules` together with `only`/`except`"),
        )
        .set_help("GitLab refuses this combination; keep `rules` and drop `only`/`except`");
    }
    let only_except = rules::only_except(map.get("only"), map.get("except"), r).map(|c| {
        let span = map
            .entry("only")
            .or_else(|| map.entry("except"))
            .map_or(key_span, |(k, _)| k.span);
        r.located(c, span)
    });
    let parallel = map
        .get("parallel")
        .map(|n| parallel(n, r))
        .unwrap_or(Parallel::One);

    Some(Template {
        name: name.to_string(),
        loc: r.loc(key_span),
        stage,
        image,
        services,
        steps,
        artifacts,
        cache,
        timeout,
        retry,
        allow_failure,
        when,
        needs,
        dependencies,
        variables,
        inherit_variables,
        rules,
        only_except,
        parallel,
    })
}

fn step(name: &str, run: String, loc: Loc, when: StepWhen) -> Step {
    let mut s = Step::new(name, run, loc);
    s.when = when;
    s
}

fn inherit(map: &Mapping, key: &str, r: &mut Reader) -> Inherit {
    let Some(node) = map.get("inherit") else {
        return Inherit::All;
    };
    let Some(m) = r.map(node, "`inherit`") else {
        return Inherit::All;
    };
    r.check_keys(m, &["default", "variables"], "`inherit`");
    match m.get(key).map(|n| &n.value) {
        None | Some(Value::Bool(true)) => Inherit::All,
        Some(Value::Bool(false)) => Inherit::Only(Vec::new()),
        Some(_) => Inherit::Only(
            m.get(key)
                .map(|n| r.string_list(n, &format!("a name in `inherit: {key}`")))
                .unwrap_or_default()
                .into_iter()
                .map(|s| s.value)
                .collect(),
        ),
    }
}

/// Script lines: a string or a list, nested lists (from `!reference`)
/// flattened.
pub fn lines(node: &Node, r: &mut Reader, what: &str) -> Vec<String> {
    let mut out = Vec::new();
    collect_lines(node, r, what, &mut out, 0);
    out
}

fn collect_lines(node: &Node, r: &mut Reader, what: &str, out: &mut Vec<String>, depth: usize) {
    match &node.value {
        Value::Seq(items) if depth < 10 => {
            for item in items {
                collect_lines(item, r, what, out, depth + 1);
            }
        }
        Value::Null => {}
        _ => {
            if let Some(s) = r.string(node, &format!("a line of {what}")) {
                out.push(s);
            }
        }
    }
}

fn image(node: &Node, r: &mut Reader, warned: &mut Warned) -> Option<Located<String>> {
    match &node.value {
        Value::Map(m) => {
            r.check_keys(
                m,
                &["name", "entrypoint", "pull_policy", "docker", "kubernetes"],
                "`image`",
            );
            if let Some((k, v)) = m.entry("entrypoint") {
                // `[""]` (clear the entrypoint) is what nestci does anyway:
                // steps run through the shell.
                let clears = v
                    .as_seq()
                    .is_some_and(|s| s.iter().all(|e| e.as_str() == Some("")));
                if !clears {
                    warned.warn(r, "image:entrypoint", k.span);
                }
            }
            for key in ["pull_policy", "docker", "kubernetes"] {
                if let Some((k, _)) = m.entry(key) {
                    warned.warn(r, &format!("image:{key}"), k.span);
                }
            }
            match m.get("name") {
                Some(n) => r.located_string(n, "`image: name`"),
                None => {
                    r.error(node.span, "`image` has no `name`");
                    None
                }
            }
        }
        _ => r.located_string(node, "`image`"),
    }
}

fn services(node: &Node, r: &mut Reader, warned: &mut Warned) -> Vec<Service> {
    let Some(items) = r.seq(node, "`services`") else {
        return Vec::new();
    };
    let mut out: Vec<Service> = Vec::new();
    for item in items {
        let service = match &item.value {
            Value::Map(m) => {
                r.check_keys(
                    m,
                    &[
                        "name",
                        "alias",
                        "entrypoint",
                        "command",
                        "variables",
                        "pull_policy",
                        "docker",
                        "kubernetes",
                    ],
                    "a service",
                );
                for key in ["entrypoint", "pull_policy", "docker", "kubernetes"] {
                    if let Some((k, _)) = m.entry(key) {
                        warned.warn(r, &format!("services:{key}"), k.span);
                    }
                }
                let Some(image) = m
                    .get("name")
                    .and_then(|n| r.located_string(n, "a service `name`"))
                else {
                    if m.get("name").is_none() {
                        r.error(item.span, "a service has no `name`")
                            .set_help("write `- name: postgres:16` (and optionally `alias`)");
                    }
                    continue;
                };
                let alias = m
                    .get("alias")
                    .and_then(|n| r.nonempty_string(n, "a service `alias`"))
                    .map(|a| a.split(',').next().unwrap_or(&a).trim().to_string())
                    .unwrap_or_else(|| default_alias(&image));
                let mut env = Env::new();
                if let Some(n) = m.get("variables") {
                    for v in variables::read(n, r) {
                        env.set(v.name, v.value, v.loc);
                    }
                }
                let command = m.get("command").map(|n| {
                    r.string_list(n, "a `command` argument")
                        .into_iter()
                        .map(|s| s.value)
                        .collect()
                });
                Service {
                    image,
                    alias,
                    env,
                    command,
                    // GitLab services have no ports; readiness is the
                    // container (and its healthcheck) only.
                    ports: Vec::new(),
                    loc: r.loc(item.span),
                }
            }
            _ => {
                let Some(image) = r.located_string(item, "a service image") else {
                    continue;
                };
                Service {
                    alias: default_alias(&image),
                    image,
                    env: Env::new(),
                    command: None,
                    ports: Vec::new(),
                    loc: r.loc(item.span),
                }
            }
        };
        if out.iter().any(|o| o.alias == service.alias) {
            r.error(
                item.span,
                format!("two services use the alias `{}`", service.alias),
            )
            .set_help("give each service its own `alias`");
            continue;
        }
        out.push(service);
    }
    out
}

/// GitLab's default service alias: the image without tag or digest, `/`
/// replaced by `-` (`registry.io/group/pg:16` is `registry.io-group-pg`).
pub fn default_alias(image: &str) -> String {
    let no_digest = image.split('@').next().unwrap_or(image);
    let (path, last) = match no_digest.rsplit_once('/') {
        Some((p, l)) => (Some(p), l),
        None => (None, no_digest),
    };
    let last = last.split(':').next().unwrap_or(last);
    match path {
        Some(p) => format!("{p}/{last}").replace('/', "-"),
        None => last.to_string(),
    }
}

fn artifacts(node: &Node, r: &mut Reader, warned: &mut Warned) -> Vec<Located<String>> {
    let Some(m) = r.map(node, "`artifacts`") else {
        return Vec::new();
    };
    const KEYS: &[&str] = &[
        "paths",
        "exclude",
        "expire_in",
        "expose_as",
        "name",
        "public",
        "access",
        "reports",
        "untracked",
        "when",
    ];
    r.check_keys(m, KEYS, "`artifacts`");
    for (k, _) in m.iter() {
        if k.name != "paths" && KEYS.contains(&k.name.as_str()) {
            warned.warn(r, &format!("artifacts:{}", k.name), k.span);
        }
    }
    m.get("paths")
        .map(|n| r.string_list(n, "an artifact path"))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| r.workspace_path(p))
        .collect()
}

fn cache(node: &Node, r: &mut Reader, warned: &mut Warned) -> Option<Cache> {
    let (node, m) = match &node.value {
        Value::Seq(items) => {
            let first = items.first()?;
            if let Some(second) = items.get(1) {
                warned.warn(r, "cache:several", second.span);
            }
            (first, r.map(first, "a `cache` entry")?)
        }
        _ => (node, r.map(node, "`cache`")?),
    };
    const KEYS: &[&str] = &[
        "key",
        "paths",
        "policy",
        "when",
        "untracked",
        "unprotect",
        "fallback_keys",
        "fallback_key",
    ];
    r.check_keys(m, KEYS, "`cache`");
    for (k, _) in m.iter() {
        if !matches!(k.name.as_str(), "key" | "paths" | "policy" | "when")
            && KEYS.contains(&k.name.as_str())
        {
            warned.warn(r, &format!("cache:{}", k.name), k.span);
        }
    }
    let key = match m.get("key") {
        None => "default".to_string(),
        Some(n) => match &n.value {
            Value::Map(km) => {
                r.check_keys(km, &["files", "prefix"], "`cache: key`");
                let files: Vec<String> = km
                    .get("files")
                    .map(|f| r.string_list(f, "a file of `cache: key: files`"))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|f| f.value)
                    .collect();
                let prefix = km
                    .get("prefix")
                    .and_then(|p| r.string(p, "`cache: key: prefix`"))
                    .map(|p| format!("{p}-"))
                    .unwrap_or_default();
                format!("{prefix}files-{}", files.join("+"))
            }
            _ => r.nonempty_string(n, "`cache: key`")?,
        },
    };
    let paths: Vec<_> = m
        .get("paths")
        .map(|n| r.string_list(n, "a cache path"))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| r.workspace_path(p))
        .collect();
    if paths.is_empty() {
        warned.warn(r, "cache:no-paths", node.span);
        return None;
    }
    Some(Cache {
        key,
        paths,
        loc: r.loc(node.span),
    })
}

/// GitLab durations: `1h 30m`, `3 hours 30 minutes`, `90 seconds`; a bare
/// number is seconds.
fn duration(node: &Node, r: &mut Reader) -> Option<Located<Duration>> {
    let text = match &node.value {
        Value::Int(i) if *i > 0 => {
            return Some(r.located(Duration::from_secs(*i as u64), node.span));
        }
        _ => r.nonempty_string(node, "`timeout`")?,
    };
    if let Ok(secs) = text.trim().parse::<u64>() {
        return Some(r.located(Duration::from_secs(secs), node.span));
    }
    // humantime wants `3hours`; GitLab also accepts `3 hours`.
    let mut compact = String::with_capacity(text.len());
    let mut prev_digit = false;
    for c in text.trim().chars() {
        if c.is_whitespace() && prev_digit {
            continue;
        }
        prev_digit = c.is_ascii_digit();
        compact.push(c);
    }
    match humantime::parse_duration(&compact) {
        Ok(d) if !d.is_zero() => Some(r.located(d, node.span)),
        _ => {
            r.error(node.span, format!("`{text}` is not a valid duration"))
                .set_help("write a duration such as `30m`, `1h 30m` or `3 hours`");
            None
        }
    }
}

fn retry(node: &Node, r: &mut Reader, warned: &mut Warned) -> Option<u32> {
    let max_node = match &node.value {
        Value::Map(m) => {
            r.check_keys(m, &["max", "when", "exit_codes"], "`retry`");
            for key in ["when", "exit_codes"] {
                if let Some((k, _)) = m.entry(key) {
                    warned.warn(r, &format!("retry:{key}"), k.span);
                }
            }
            m.get("max")?
        }
        _ => node,
    };
    r.uint(max_node, "`retry`", 2).map(|n| n as u32)
}

/// `allow_failure: true`, or `allow_failure: { exit_codes: 137 }` (a code
/// or a list of codes).
fn allow_failure(node: &Node, r: &mut Reader) -> Option<AllowFailure> {
    let Value::Map(m) = &node.value else {
        return r.bool(node, "`allow_failure`").map(AllowFailure::from);
    };
    r.check_keys(m, &["exit_codes"], "`allow_failure`");
    let Some(codes) = m.get("exit_codes") else {
        r.error(node.span, "`allow_failure` as a mapping needs `exit_codes`")
            .set_help(
                "write `allow_failure: { exit_codes: [137, 255] }`, or `allow_failure: true`",
            );
        return None;
    };
    let items = match &codes.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![codes],
    };
    let codes: Vec<i32> = items
        .into_iter()
        .filter_map(|n| r.uint(n, "an exit code in `allow_failure: exit_codes`", 255))
        .map(|c| c as i32)
        .collect();
    Some(AllowFailure::ExitCodes(codes))
}

fn needs(node: &Node, r: &mut Reader, warned: &mut Warned) -> Vec<NeedSpec> {
    let Some(items) = r.seq(node, "`needs`") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        match &item.value {
            Value::Map(m) => {
                r.check_keys(
                    m,
                    &[
                        "job",
                        "optional",
                        "artifacts",
                        "parallel",
                        "pipeline",
                        "project",
                        "ref",
                    ],
                    "a `needs` entry",
                );
                if m.get("pipeline").is_some() || m.get("project").is_some() {
                    warned.warn(r, "needs:project", item.span);
                    continue;
                }
                let Some(job) = m
                    .get("job")
                    .and_then(|n| r.located_string(n, "`needs: job`"))
                else {
                    if m.get("job").is_none() {
                        r.error(item.span, "a `needs` entry has no `job`");
                    }
                    continue;
                };
                let optional = m
                    .get("optional")
                    .and_then(|n| r.bool(n, "`optional`"))
                    .unwrap_or(false);
                let matrix = m.get("parallel").and_then(|p| {
                    let pm = r.map(p, "`needs: parallel`")?;
                    r.check_keys(pm, &["matrix"], "`needs: parallel`");
                    pm.get("matrix").map(|n| matrix(n, r))
                });
                let artifacts = m
                    .get("artifacts")
                    .and_then(|n| r.bool(n, "`needs: artifacts`"))
                    .unwrap_or(true);
                out.push(NeedSpec {
                    job,
                    optional,
                    matrix,
                    artifacts,
                });
            }
            _ => {
                if let Some(job) = r.located_string(item, "a job name in `needs`") {
                    out.push(NeedSpec {
                        job,
                        optional: false,
                        matrix: None,
                        artifacts: true,
                    });
                }
            }
        }
    }
    out
}

/// GitLab's limit on `parallel` copies.
const MAX_PARALLEL: usize = 200;

fn parallel(node: &Node, r: &mut Reader) -> Parallel {
    match &node.value {
        Value::Map(m) => {
            r.check_keys(m, &["matrix"], "`parallel`");
            match m.get("matrix") {
                Some(n) => {
                    let combos = matrix(n, r);
                    if combos.len() > MAX_PARALLEL {
                        r.error(n.span, format!("`parallel: matrix` makes {} jobs; GitLab allows at most {MAX_PARALLEL}", combos.len()));
                        return Parallel::One;
                    }
                    if combos.is_empty() {
                        return Parallel::One;
                    }
                    Parallel::Matrix(combos)
                }
                None => {
                    r.error(node.span, "`parallel` needs a number or `matrix`");
                    Parallel::One
                }
            }
        }
        _ => match r.uint(node, "`parallel`", MAX_PARALLEL as u64) {
            Some(n) if n >= 2 => Parallel::Count(n as usize),
            Some(_) => {
                r.error(node.span, "`parallel` must be between 2 and 200")
                    .set_help("remove `parallel` to run the job once");
                Parallel::One
            }
            None => Parallel::One,
        },
    }
}

/// `matrix: [{A: [1, 2], B: x}, ...]`: the union of each entry's product.
pub fn matrix(node: &Node, r: &mut Reader) -> Vec<MatrixCombo> {
    let Some(items) = r.seq(node, "`matrix`") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let Some(m) = r.map(item, "a `matrix` entry") else {
            continue;
        };
        out.extend(crate::dialect::matrix::product(m, r, MAX_PARALLEL));
    }
    out
}

/// GitLab's name of a `parallel:matrix` job: `test: [linux, 1.80]`.
pub fn matrix_name(template: &str, combo: &MatrixCombo) -> String {
    let values: Vec<&str> = combo.iter().map(|(_, v)| v.as_str()).collect();
    format!("{template}: [{}]", values.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_names() {
        assert_eq!(default_alias("postgres:16"), "postgres");
        assert_eq!(
            default_alias("registry.io/group/pg:16@sha256:x"),
            "registry.io-group-pg"
        );
        let combo = vec![
            ("OS".to_string(), "linux".to_string()),
            ("V".to_string(), "1".to_string()),
        ];
        assert_eq!(matrix_name("test", &combo), "test: [linux, 1]");
    }
}
