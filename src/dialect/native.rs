//! The native dialect: `pipelines/*.yml`, nestci's own format.
//!
//! ```yaml
//! name: demo
//! image: host
//! env: { CARGO_TERM_COLOR: never }
//! jobs:
//!   build:
//!     steps:
//!       - cargo build
//!   test:
//!     needs: [build]
//!     matrix: { RUST: ["1.80", "1.85"] }
//!     steps:
//!       - run: cargo test
//!         timeout: 10m
//! ```
//!
//! The parser is strict: an unknown key, a value of the wrong type, a bad
//! duration or size, an unknown `needs` or stage is an error located at the
//! key, with a suggestion where one is likely. Matrix jobs are expanded here
//! into concrete jobs named `test [RUST=1.80]`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use super::reader::Reader;
use crate::diag::did_you_mean;
use crate::model::{
    self, AppArmorMode, Cache, Dialect, Env, Job, Located, MatrixCombo, NamespaceMode, Need,
    NetworkMode, Pipeline, Resources, SeccompMode, Security, Service, Step, StepWhen, Volume, When,
    expand_name,
};
use crate::yaml::{Node, Span, Value};

const TOP_KEYS: &[&str] = &["name", "image", "env", "host_paths", "stages", "jobs"];
const JOB_KEYS: &[&str] = &[
    "stage",
    "needs",
    "image",
    "env",
    "steps",
    "services",
    "artifacts",
    "cache",
    "timeout",
    "retry",
    "allow_failure",
    "matrix",
    "when",
    "if",
    "resources",
    "security",
    "host_paths",
];
const STEP_KEYS: &[&str] = &[
    "run",
    "name",
    "image",
    "env",
    "workdir",
    "timeout",
    "continue_on_error",
    "when",
];
const SERVICE_KEYS: &[&str] = &["image", "alias", "env", "command", "ports"];
const ARTIFACT_KEYS: &[&str] = &["paths"];
const CACHE_KEYS: &[&str] = &["key", "paths"];
const RESOURCE_KEYS: &[&str] = &["memory", "pids", "cpus"];
const SECURITY_KEYS: &[&str] = &[
    "privileged",
    "cap_add",
    "cap_drop",
    "mount_docker_socket",
    "network",
    "pid",
    "ipc",
    "uts",
    "userns",
    "seccomp",
    "apparmor",
    "selinux",
    "systempaths",
    "no_new_privs",
    "devices",
    "volumes",
    "read_only",
    "user",
];

/// Linux capability names without the `CAP_` prefix, for checking
/// `cap_add`/`cap_drop` spelling.
pub const CAPABILITIES: &[&str] = &[
    "ALL",
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYSLOG",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "WAKE_ALARM",
];

/// Parse a native pipeline document. Errors and warnings are left in `r`.
pub fn parse(root: &Node, r: &mut Reader) -> Option<Pipeline> {
    let top = r.map(root, "a native pipeline")?;
    // Keys starting with `.` or `x-` hold YAML anchors for reuse (as in
    // GitLab's hidden jobs and Compose's extension fields); they are not
    // part of the pipeline.
    r.check_keys_except(top, TOP_KEYS, "the pipeline", |k| {
        k.starts_with('.') || k.starts_with("x-")
    });

    let file = Arc::clone(&r.file);
    let name = match top.get("name") {
        Some(n) => r.nonempty_string(n, "`name`").unwrap_or_default(),
        None => default_name(&file),
    };
    let default_image = top
        .get("image")
        .and_then(|n| r.located_string(n, "`image`"));
    let pipeline_env = top
        .get("env")
        .map(|n| r.env(n, "`env`"))
        .unwrap_or_default();
    let pipeline_host_paths = top
        .get("host_paths")
        .map(|n| host_paths(n, r))
        .unwrap_or_default();
    let defaults = Defaults {
        image: default_image,
        env: pipeline_env,
        host_paths: pipeline_host_paths,
    };
    let declared_stages = top.get("stages").map(|n| stage_list(n, r));

    let jobs_node = match top.entry("jobs") {
        Some((_, n)) => n,
        None => {
            r.error(root.span, "the pipeline has no `jobs`")
                .set_help("add a `jobs:` mapping with at least one job");
            return None;
        }
    };
    let jobs_map = r.map(jobs_node, "`jobs`")?;
    if jobs_map.is_empty() {
        r.error(jobs_node.span, "`jobs` is empty")
            .set_help("add at least one job with `steps`");
    }
    for (first, second) in &jobs_map.duplicates {
        r.error(
            second.span,
            format!(
                "job `{}` is defined twice (lines {} and {})",
                second.name, first.span.line, second.span.line
            ),
        )
        .set_help("give each job a unique name");
    }

    // First pass: read every job as written (a template, before matrix).
    let mut templates = Vec::new();
    for (key, node) in jobs_map.iter() {
        if key.name.trim().is_empty() {
            r.error(key.span, "a job name must not be empty");
            continue;
        }
        if let Some(t) = parse_job(&key.name, key.span, node, r, &defaults) {
            templates.push(t);
        }
    }

    // Stages: declared, else in order of first use.
    let stages = match declared_stages {
        Some(stages) => {
            let names: Vec<&str> = stages.iter().map(|s| s.value.as_str()).collect();
            for t in &templates {
                if let Some(stage) = &t.stage
                    && !names.contains(&stage.value.as_str())
                {
                    let help = match did_you_mean(stage, &names) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("declared stages: {}", names.join(", ")),
                    };
                    r.diagnostics.push(
                        crate::diag::Diagnostic::error(
                            format!(
                                "job `{}` uses stage `{}`, which is not declared in `stages`",
                                t.name, stage.value
                            ),
                            Some(stage.loc.clone()),
                        )
                        .with_help(help),
                    );
                }
            }
            stages.into_iter().map(|s| s.value).collect()
        }
        None => {
            let mut seen = Vec::<String>::new();
            for t in &templates {
                if let Some(stage) = &t.stage
                    && !seen.contains(&stage.value)
                {
                    seen.push(stage.value.clone());
                }
            }
            seen
        }
    };

    let jobs = expand(templates, r);
    Some(Pipeline {
        name,
        dialect: Dialect::Native,
        file,
        stages,
        jobs,
        untrusted_input: None,
    })
}

fn default_name(file: &Arc<PathBuf>) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pipeline".into())
}

fn stage_list(node: &Node, r: &mut Reader) -> Vec<Located<String>> {
    let stages = r.string_list(node, "a stage name");
    let mut seen = HashSet::new();
    for s in &stages {
        if !seen.insert(s.value.clone()) {
            r.diagnostics.push(crate::diag::Diagnostic::error(
                format!("stage `{}` is listed twice", s.value),
                Some(s.loc.clone()),
            ));
        }
    }
    stages
}

/// A job as written, before its matrix is expanded.
struct Template {
    name: String,
    job: Job,
    stage: Option<Located<String>>,
    /// `needs` as written: names of jobs or of matrix templates.
    needs: Option<Vec<Located<String>>>,
    matrix: Vec<MatrixCombo>,
}

/// What the pipeline level gives every job.
struct Defaults {
    image: Option<Located<String>>,
    env: Env,
    host_paths: Vec<Located<String>>,
}

/// `host_paths`: absolute directories or ones in the home directory
/// (`~/.cargo`); whether they exist is the backend's question at run time,
/// since a pipeline is validated on machines other than the one it runs on.
fn host_paths(node: &Node, r: &mut Reader) -> Vec<Located<String>> {
    let mut out = Vec::new();
    for dir in r.string_list(node, "a directory in `host_paths`") {
        let v = dir.value.as_str();
        if v.starts_with('/') || v == "~" || v.starts_with("~/") {
            out.push(dir);
        } else {
            r.diagnostics.push(
                crate::diag::Diagnostic::error(
                    format!("`host_paths` entry `{v}` is neither absolute nor in the home directory"),
                    Some(dir.loc.clone()),
                )
                .with_help("write an absolute path (`/opt/tool`) or one under your home (`~/.cargo`); the workspace is mounted already"),
            );
        }
    }
    out
}

fn parse_job(
    name: &str,
    name_span: Span,
    node: &Node,
    r: &mut Reader,
    defaults: &Defaults,
) -> Option<Template> {
    let what = format!("job `{name}`");
    let map = r.map(node, &what)?;
    r.check_keys(map, JOB_KEYS, &format!("job `{name}`"));

    let stage = map
        .get("stage")
        .and_then(|n| r.located_string(n, "`stage`"));
    let needs = map
        .get("needs")
        .map(|n| r.string_list(n, "a job name in `needs`"));
    let image = match map.get("image") {
        Some(n) => r.located_string(n, "`image`"),
        None => defaults.image.clone(),
    };
    let own_env = map
        .get("env")
        .map(|n| r.env(n, "`env`"))
        .unwrap_or_default();
    let env = defaults.env.with(&own_env);
    let mut job_host_paths = defaults.host_paths.clone();
    for dir in map
        .get("host_paths")
        .map(|n| host_paths(n, r))
        .unwrap_or_default()
    {
        if !job_host_paths.iter().any(|h| h.value == dir.value) {
            job_host_paths.push(dir);
        }
    }

    let steps = match map.entry("steps") {
        Some((key, n)) => {
            let steps = parse_steps(n, r);
            if steps.is_empty() && matches!(&n.value, Value::Seq(s) if s.is_empty()) {
                r.error(key.span, format!("job `{name}` has no steps"))
                    .set_help("add at least one `- run: ...` step");
            }
            steps
        }
        None => {
            r.error(name_span, format!("job `{name}` has no `steps`"))
                .set_help("add `steps:` with at least one `- run: ...`");
            Vec::new()
        }
    };

    let services = map
        .get("services")
        .map(|n| parse_services(n, r))
        .unwrap_or_default();
    let artifacts = map
        .get("artifacts")
        .map(|n| parse_artifacts(n, r))
        .unwrap_or_default();
    let cache = map.get("cache").and_then(|n| parse_cache(n, r));
    let timeout = map.get("timeout").and_then(|n| r.duration(n, "`timeout`"));
    let retry = map
        .get("retry")
        .and_then(|n| r.uint(n, "`retry`", 10))
        .unwrap_or(0) as u32;
    let allow_failure = map
        .get("allow_failure")
        .and_then(|n| r.bool(n, "`allow_failure`"))
        .unwrap_or(false)
        .into();
    let when = map
        .get("when")
        .and_then(|n| r.choice(n, "`when`", When::NAMES, When::parse))
        .map(|w| w.value)
        .unwrap_or_default();
    let condition = map.get("if").and_then(|n| r.located_string(n, "`if`"));
    let resources = map
        .get("resources")
        .map(|n| parse_resources(n, r))
        .unwrap_or_default();
    let security = map
        .get("security")
        .map(|n| parse_security(n, r))
        .unwrap_or_default();
    let matrix = map
        .get("matrix")
        .map(|n| parse_matrix(n, r))
        .unwrap_or_default();

    let job = Job {
        stage: stage.as_ref().map(|s| s.value.clone()),
        image,
        env,
        steps,
        services,
        artifacts,
        cache,
        timeout,
        retry,
        allow_failure,
        when,
        condition,
        resources,
        security,
        host_paths: job_host_paths,
        ..Job::new(name, r.loc(name_span))
    };
    Some(Template {
        name: name.to_string(),
        job,
        stage,
        needs,
        matrix,
    })
}

fn parse_steps(node: &Node, r: &mut Reader) -> Vec<Step> {
    let Some(items) = r.seq(node, "`steps`") else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| parse_step(item, r))
        .collect()
}

fn parse_step(node: &Node, r: &mut Reader) -> Option<Step> {
    // `- cargo test` is shorthand for `- run: cargo test`.
    if let Value::Str(_) = node.value {
        let run = r.nonempty_string(node, "a step")?;
        return Some(step(run, None, node.span, r));
    }
    let map = match &node.value {
        Value::Map(m) => m,
        _ => {
            r.error(
                node.span,
                format!(
                    "a step must be a command or a mapping with `run`, found {}",
                    node.value.kind()
                ),
            )
            .set_help("write each step as `- run: <command>` or just `- <command>`");
            return None;
        }
    };
    r.check_keys(map, STEP_KEYS, "a step");
    let run = match map.get("run") {
        Some(n) => r.nonempty_string(n, "`run`")?,
        None => {
            r.error(node.span, "a step has no `run`")
                .set_help("add `run: <command>` to the step");
            return None;
        }
    };
    let name = map.get("name").and_then(|n| r.nonempty_string(n, "`name`"));
    let mut s = step(run, name, node.span, r);
    s.image = map
        .get("image")
        .and_then(|n| r.located_string(n, "`image`"));
    s.env = map
        .get("env")
        .map(|n| r.env(n, "`env`"))
        .unwrap_or_default();
    s.workdir = map
        .get("workdir")
        .and_then(|n| r.located_string(n, "`workdir`"));
    s.timeout = map.get("timeout").and_then(|n| r.duration(n, "`timeout`"));
    s.continue_on_error = map
        .get("continue_on_error")
        .and_then(|n| r.bool(n, "`continue_on_error`"))
        .unwrap_or(false);
    s.when = map
        .get("when")
        .and_then(|n| {
            r.choice(
                n,
                "step `when`",
                &["on_success", "on_failure", "always"],
                |w| {
                    Some(match w {
                        "on_success" => StepWhen::OnSuccess,
                        "on_failure" => StepWhen::OnFailure,
                        "always" => StepWhen::Always,
                        _ => return None,
                    })
                },
            )
        })
        .map(|w| w.value)
        .unwrap_or_default();
    Some(s)
}

fn step(run: String, name: Option<String>, span: Span, r: &Reader) -> Step {
    let name = name.unwrap_or_else(|| {
        let first = run
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        let mut short: String = first.chars().take(60).collect();
        if short.len() < first.len() {
            short.push('…');
        }
        short
    });
    Step::new(name, run, r.loc(span))
}

fn parse_services(node: &Node, r: &mut Reader) -> Vec<Service> {
    let Some(items) = r.seq(node, "`services`") else {
        return Vec::new();
    };
    let mut services: Vec<Service> = Vec::new();
    for item in items {
        let service = match &item.value {
            Value::Str(_) => r
                .located_string(item, "a service image")
                .map(|image| Service {
                    alias: default_alias(&image),
                    image,
                    env: Env::new(),
                    command: None,
                    ports: Vec::new(),
                    loc: r.loc(item.span),
                }),
            Value::Map(map) => {
                r.check_keys(map, SERVICE_KEYS, "a service");
                let image = match map.get("image") {
                    Some(n) => r.located_string(n, "a service `image`"),
                    None => {
                        r.error(item.span, "a service has no `image`");
                        None
                    }
                };
                image.map(|image| Service {
                    alias: map
                        .get("alias")
                        .and_then(|n| r.nonempty_string(n, "`alias`"))
                        .unwrap_or_else(|| default_alias(&image)),
                    env: map
                        .get("env")
                        .map(|n| r.env(n, "`env`"))
                        .unwrap_or_default(),
                    command: map.get("command").map(|n| command(n, r)),
                    ports: map.get("ports").map(|n| ports(n, r)).unwrap_or_default(),
                    image,
                    loc: r.loc(item.span),
                })
            }
            _ => {
                r.error(
                    item.span,
                    "a service must be an image name or a mapping with `image`",
                );
                None
            }
        };
        if let Some(s) = service {
            if services.iter().any(|o| o.alias == s.alias) {
                r.error(
                    item.span,
                    format!("two services use the alias `{}`", s.alias),
                )
                .set_help("give each service its own `alias`");
            }
            services.push(s);
        }
    }
    services
}

/// `ports: [80, 5432]`: each a TCP port from 1 to 65535, located, so that
/// a wrong one is reported where it is written.
fn ports(node: &Node, r: &mut Reader) -> Vec<Located<u16>> {
    let Some(items) = r.seq(node, "`ports`") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        match item.value {
            Value::Int(i) if (1..=i64::from(u16::MAX)).contains(&i) => {
                // In range, so the conversion cannot fail.
                if let Ok(p) = u16::try_from(i) {
                    out.push(r.located(p, item.span));
                }
            }
            Value::Int(i) => {
                r.error(
                    item.span,
                    format!("a service port must be between 1 and 65535, found {i}"),
                )
                .set_help("write the TCP port the service listens on, e.g. `ports: [5432]`");
            }
            _ => {
                r.error(
                    item.span,
                    format!(
                        "a service port must be a whole number, found {}",
                        item.value.kind()
                    ),
                )
                .set_help("write the TCP port the service listens on, e.g. `ports: [5432]`");
            }
        }
    }
    out
}

/// GitLab's rule: the image name without registry path or tag.
fn default_alias(image: &str) -> String {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last.split(':').next().unwrap_or(last).to_string()
}

fn command(node: &Node, r: &mut Reader) -> Vec<String> {
    match &node.value {
        Value::Str(s) => s.split_whitespace().map(str::to_string).collect(),
        _ => r
            .string_list(node, "a `command` argument")
            .into_iter()
            .map(|s| s.value)
            .collect(),
    }
}

fn parse_artifacts(node: &Node, r: &mut Reader) -> Vec<Located<String>> {
    let paths = match &node.value {
        Value::Map(map) => {
            r.check_keys(map, ARTIFACT_KEYS, "`artifacts`");
            map.get("paths")
                .map(|n| r.string_list(n, "an artifact path"))
                .unwrap_or_default()
        }
        _ => r.string_list(node, "an artifact path"),
    };
    paths
        .into_iter()
        .filter_map(|p| r.workspace_path(p))
        .collect()
}

fn parse_cache(node: &Node, r: &mut Reader) -> Option<Cache> {
    let map = r.map(node, "`cache`")?;
    r.check_keys(map, CACHE_KEYS, "`cache`");
    let key = match map.get("key") {
        Some(n) => r.nonempty_string(n, "`cache.key`")?,
        None => "default".to_string(),
    };
    let paths: Vec<_> = map
        .get("paths")
        .map(|n| r.string_list(n, "a cache path"))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| r.workspace_path(p))
        .collect();
    if paths.is_empty() {
        r.error(node.span, "`cache` has no `paths`")
            .set_help("list the workspace paths to keep between runs");
        return None;
    }
    Some(Cache {
        key,
        paths,
        loc: r.loc(node.span),
    })
}

fn parse_resources(node: &Node, r: &mut Reader) -> Resources {
    let Some(map) = r.map(node, "`resources`") else {
        return Resources::default();
    };
    r.check_keys(map, RESOURCE_KEYS, "`resources`");
    let memory = map.get("memory").and_then(|n| r.size(n, "`memory`"));
    let pids = map.get("pids").and_then(|n| {
        let v = r.uint(n, "`pids`", 4_194_304)?;
        if v == 0 {
            r.error(n.span, "`pids` must be at least 1");
            return None;
        }
        Some(r.located(v, n.span))
    });
    let cpus = map.get("cpus").and_then(|n| {
        let v = match n.value {
            Value::Int(i) => i as f64,
            Value::Float(f) => f,
            _ => {
                r.error(
                    n.span,
                    format!("`cpus` must be a number, found {}", n.value.kind()),
                );
                return None;
            }
        };
        if !(v > 0.0 && v <= 1024.0) {
            r.error(
                n.span,
                "`cpus` must be more than 0 (fractions like 0.5 are fine)",
            );
            return None;
        }
        Some(r.located(v, n.span))
    });
    Resources { memory, pids, cpus }
}

fn parse_security(node: &Node, r: &mut Reader) -> Security {
    let Some(map) = r.map(node, "`security`") else {
        return Security::default();
    };
    r.check_keys(map, SECURITY_KEYS, "`security`");
    let get_bool = |r: &mut Reader, key: &str| {
        map.get(key)
            .and_then(|n| r.located_bool(n, &format!("`{key}`")))
    };
    let ns = |r: &mut Reader, key: &str| {
        map.get(key).and_then(|n| {
            r.choice(
                n,
                &format!("`{key}` mode"),
                NamespaceMode::NAMES,
                NamespaceMode::parse,
            )
        })
    };
    let caps = |r: &mut Reader, key: &str| -> Vec<Located<String>> {
        map.get(key)
            .map(|n| r.string_list(n, "a capability"))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| {
                let upper = c.value.to_ascii_uppercase();
                let name = upper.strip_prefix("CAP_").unwrap_or(&upper).to_string();
                if CAPABILITIES.contains(&name.as_str()) {
                    Some(Located::new(name, c.loc))
                } else {
                    let help = match did_you_mean(&name, CAPABILITIES) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "see capabilities(7) for the names".to_string(),
                    };
                    r.diagnostics.push(
                        crate::diag::Diagnostic::error(
                            format!("`{}` is not a Linux capability", c.value),
                            Some(c.loc),
                        )
                        .with_help(help),
                    );
                    None
                }
            })
            .collect()
    };
    let volumes = map
        .get("volumes")
        .map(|n| r.string_list(n, "a volume"))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| match Volume::parse(&v.value) {
            Ok(vol) => Some(Located::new(vol, v.loc)),
            Err(e) => {
                r.diagnostics.push(
                    crate::diag::Diagnostic::error(e, Some(v.loc))
                        .with_help("write a volume as `/host/path:/container/path[:ro]`"),
                );
                None
            }
        })
        .collect();
    Security {
        privileged: get_bool(r, "privileged"),
        cap_add: caps(r, "cap_add"),
        cap_drop: caps(r, "cap_drop"),
        mount_docker_socket: get_bool(r, "mount_docker_socket"),
        network: map
            .get("network")
            .and_then(|n| r.choice(n, "`network` mode", NetworkMode::NAMES, NetworkMode::parse)),
        pid: ns(r, "pid"),
        ipc: ns(r, "ipc"),
        uts: ns(r, "uts"),
        userns: ns(r, "userns"),
        seccomp: map
            .get("seccomp")
            .and_then(|n| r.choice(n, "`seccomp` mode", SeccompMode::NAMES, SeccompMode::parse)),
        apparmor: map.get("apparmor").and_then(|n| {
            r.choice(
                n,
                "`apparmor` mode",
                AppArmorMode::NAMES,
                AppArmorMode::parse,
            )
        }),
        selinux: map.get("selinux").and_then(|n| {
            r.choice(
                n,
                "`selinux` mode",
                AppArmorMode::NAMES,
                AppArmorMode::parse,
            )
        }),
        systempaths: map.get("systempaths").and_then(|n| {
            r.choice(
                n,
                "`systempaths` mode",
                AppArmorMode::NAMES,
                AppArmorMode::parse,
            )
        }),
        no_new_privs: get_bool(r, "no_new_privs"),
        devices: map
            .get("devices")
            .map(|n| r.string_list(n, "a device"))
            .unwrap_or_default(),
        volumes,
        read_only: get_bool(r, "read_only"),
        user: map.get("user").and_then(|n| r.located_string(n, "`user`")),
    }
}

/// `matrix: {A: [1, 2], B: [x]}` is the product of its axes; a list of such
/// mappings is the union of their products (GitLab's `parallel:matrix`).
fn parse_matrix(node: &Node, r: &mut Reader) -> Vec<MatrixCombo> {
    match &node.value {
        Value::Map(map) => super::matrix::product(map, r, MAX_MATRIX),
        Value::Seq(items) => {
            let mut combos = Vec::new();
            for item in items {
                if let Some(map) = r.map(item, "a matrix entry") {
                    combos.extend(super::matrix::product(map, r, MAX_MATRIX));
                }
            }
            combos
        }
        _ => {
            r.error(
                node.span,
                format!(
                    "`matrix` must be a mapping of names to lists of values, found {}",
                    node.value.kind()
                ),
            );
            Vec::new()
        }
    }
}

/// Matrix jobs beyond this are almost surely a mistake.
const MAX_MATRIX: usize = 256;

/// Expand matrices into concrete jobs and resolve `needs` against them.
fn expand(templates: Vec<Template>, r: &mut Reader) -> Vec<Job> {
    // Template name -> the concrete job names it became.
    let mut expansions: HashMap<String, Vec<String>> = HashMap::new();
    let mut concrete: Vec<(Job, Option<Vec<Located<String>>>)> = Vec::new();
    let mut taken: HashMap<String, model::Loc> = HashMap::new();

    for t in templates {
        let combos = if t.matrix.is_empty() {
            vec![Vec::new()]
        } else {
            t.matrix.clone()
        };
        let mut names = Vec::new();
        for combo in combos {
            let mut job = t.job.clone();
            job.name = expand_name(&t.name, &combo);
            for (k, v) in &combo {
                job.env.set(k.clone(), v.clone(), None);
            }
            job.matrix = combo;
            if let Some(first) = taken.get(&job.name) {
                r.diagnostics.push(
                    crate::diag::Diagnostic::error(
                        format!(
                            "two jobs are named `{}` (the other is at {first})",
                            job.name
                        ),
                        Some(job.loc.clone()),
                    )
                    .with_help("rename one of the jobs or change the matrix values"),
                );
                continue;
            }
            taken.insert(job.name.clone(), job.loc.clone());
            names.push(job.name.clone());
            concrete.push((job, t.needs.clone()));
        }
        expansions.insert(t.name, names);
    }

    let all_names: Vec<String> = concrete.iter().map(|(j, _)| j.name.clone()).collect();
    let mut jobs = Vec::with_capacity(concrete.len());
    for (mut job, needs) in concrete {
        job.needs = needs.map(|needs| {
            let mut out = Vec::new();
            for need in needs {
                let targets = expansions.get(&need.value).cloned().or_else(|| {
                    taken
                        .contains_key(&need.value)
                        .then(|| vec![need.value.clone()])
                });
                match targets {
                    Some(targets) => {
                        for target in targets {
                            if target == job.name {
                                r.diagnostics.push(crate::diag::Diagnostic::error(
                                    format!("job `{}` needs itself", job.name),
                                    Some(need.loc.clone()),
                                ));
                                continue;
                            }
                            out.push(Need {
                                job: target,
                                optional: false,
                                loc: need.loc.clone(),
                            });
                        }
                    }
                    None => {
                        let mut candidates: Vec<&str> =
                            expansions.keys().map(String::as_str).collect();
                        candidates.extend(all_names.iter().map(String::as_str));
                        candidates.sort_unstable();
                        let help = match did_you_mean(&need.value, &candidates) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => "`needs` lists jobs defined in this pipeline".to_string(),
                        };
                        r.diagnostics.push(
                            crate::diag::Diagnostic::error(
                                format!(
                                    "job `{}` needs `{}`, which is not a job in this pipeline",
                                    job.name, need.value
                                ),
                                Some(need.loc.clone()),
                            )
                            .with_help(help),
                        );
                    }
                }
            }
            out
        });
        jobs.push(job);
    }
    jobs
}
