//! The GitHub Actions dialect: the job graph a workflow becomes.
//!
//! The corpus in `tests/github/`: each `<name>.yml` is loaded on branch
//! `main` at a fixed commit, for the event its first line names
//! (`# event: pull_request`; default `push`), with `ubuntu-22.04` mapped
//! to `ubuntu:22.04`. The resulting job graph — names, needs, when, why a
//! job is skipped, images, services, steps with their shell, directory,
//! image and condition, the env the file sets, and the warnings — is
//! compared with `<name>.expected`; the plan's "not in this run" section
//! is part of it. Workflows with mistakes live in `tests/github-broken/`,
//! with the exact diagnostics in `<name>.stderr`.
//!
//! Regenerate after an intended change with
//! `NESTCI_BLESS=1 cargo test --test github` and review the diff.

mod common;

use std::fmt::Write;
use std::path::{Path, PathBuf};

use nestci::dialect::{self, LoadOptions, Loaded};
use nestci::model::{Step, StepWhen, When};
use nestci::plan::{self, PlanOptions};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn load(path: &str, event: &str, branch: &str) -> Loaded {
    let mut options = LoadOptions {
        event: Some(event.into()),
        platforms: vec![("ubuntu-22.04".into(), "ubuntu:22.04".into())],
        ..Default::default()
    };
    options.env.set("GITHUB_REF_NAME", branch, None);
    match dialect::load_with(Path::new(path), &options) {
        Ok(l) => l,
        Err(e) => panic!(
            "{:#?}",
            e.diagnostics
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
        ),
    }
}

#[test]
fn matrix_needs_images_and_conditions() {
    let l = load("tests/github/ci.yml", "push", "main");
    let p = &l.pipeline;
    let names: Vec<&str> = p.jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "lint",
            "test (ubuntu-22.04, stable, false)",
            "test (ubuntu-24.04, stable, false)",
            "test (ubuntu-24.04, 1.85, false)",
            "test (ubuntu-24.04, nightly, true)",
            "release",
            "pr-only",
        ]
    );
    let job = |n: &str| p.job(n).unwrap_or_else(|| panic!("job {n}"));
    // Platform table: the explicit mapping wins, other ubuntu labels are host.
    let image = |n: &str| job(n).image.as_ref().map(|i| i.value.clone());
    assert_eq!(
        image("test (ubuntu-22.04, stable, false)").as_deref(),
        Some("ubuntu:22.04")
    );
    assert_eq!(
        image("test (ubuntu-24.04, stable, false)").as_deref(),
        Some("host")
    );
    assert_eq!(
        image("release").as_deref(),
        Some("rust:1.85"),
        "container wins"
    );

    let nightly = job("test (ubuntu-24.04, nightly, true)");
    assert!(
        nightly.allow_failure.is_allowed(),
        "continue-on-error from the matrix"
    );
    assert!(
        !job("test (ubuntu-24.04, 1.85, false)")
            .allow_failure
            .is_allowed()
    );
    assert_eq!(nightly.env.get("RUSTUP_TOOLCHAIN"), Some("nightly"));
    assert_eq!(nightly.env.get("REGISTRY"), Some("ghcr.io/local"));
    assert_eq!(
        nightly.timeout.as_ref().map(|t| t.value.as_secs()),
        Some(1800)
    );
    let needs: Vec<&str> = nightly
        .needs
        .iter()
        .flatten()
        .map(|n| n.job.as_str())
        .collect();
    assert_eq!(needs, ["lint"]);
    assert_eq!(
        job("release").needs.as_ref().map(Vec::len),
        Some(4),
        "all variants"
    );

    // Steps: checkout is a no-op, `if: failure()` runs on failure, shells.
    let steps = &nightly.steps;
    assert!(steps[0].name.contains("no-op"));
    assert_eq!(
        steps[1].workdir.as_ref().map(|w| w.value.as_str()),
        Some("crates")
    );
    assert_eq!(steps[1].shell[0], "bash", "defaults.run.shell");
    assert_eq!(steps[2].when, StepWhen::OnFailure);
    assert_eq!(steps[2].run, "echo \"tests failed on ubuntu-24.04\"");

    let release = job("release");
    assert_eq!(release.when, When::OnSuccess);
    assert_eq!(release.env.get("PROFILE"), Some("release"), "container env");
    assert_eq!(release.services[0].alias, "redis");
    // `HOST:CONTAINER`: the container side is what readiness probes.
    let ports: Vec<u16> = release.services[0].ports.iter().map(|p| p.value).collect();
    assert_eq!(ports, [6379]);
    let runs: Vec<&str> = release.steps.iter().map(|s| s.run.as_str()).collect();
    assert_eq!(runs[1], "echo \"hi world\"", "composite action with inputs");
    assert_eq!(
        release.steps[2].image.as_ref().map(|i| i.value.as_str()),
        Some("alpine:3.20")
    );
    assert_eq!(release.steps[3].when, StepWhen::Always);
    assert_eq!(release.steps[3].shell, ["sh", "-e", "-c"]);
    assert_eq!(
        release.steps[0].env.get("TAG").map(|t| t.starts_with('v')),
        Some(true)
    );

    // A false `if:` keeps the job out with the real reason, not `when: never`.
    let pr_only = job("pr-only");
    assert_eq!(pr_only.when, When::OnSuccess);
    let skipped = pr_only.skipped.as_ref().map(|s| s.reason.as_str());
    assert_eq!(
        skipped,
        Some(
            "its `if: github.event_name == 'pull_request'` is false for event `push` on branch `main`"
        )
    );
    assert_eq!(
        pr_only.skipped.as_ref().map(|s| s.loc.to_string()),
        Some("tests/github/ci.yml:78:9".to_string())
    );
}

#[test]
fn the_event_and_branch_change_the_jobs() {
    let pr = load("tests/github/ci.yml", "pull_request", "feature");
    let skipped = |name: &str| {
        pr.pipeline
            .job(name)
            .map(|j| j.skipped.as_ref().map(|s| s.reason.clone()))
    };
    assert_eq!(skipped("pr-only"), Some(None));
    assert_eq!(
        skipped("release"),
        Some(Some(
            "its `if: github.event_name == 'push' && github.ref == 'refs/heads/main'` \
             is false for event `pull_request` on branch `feature`"
                .to_string()
        ))
    );
    // The planner leaves it out with that reason.
    let plan = match nestci::plan::build(&pr.pipeline, &Default::default()) {
        Ok(p) => p,
        Err(e) => panic!("{e:#?}"),
    };
    let left: Vec<&str> = plan.left_out.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(left, ["release"]);
    assert!(plan.left_out[0].reason.contains("for event `pull_request`"));
}

#[test]
fn unsupported_steps_are_refused_naming_the_step() {
    let err = match dialect::load(Path::new("tests/github-broken/remote-action.yml")) {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    };
    let all: Vec<String> = err.diagnostics.iter().map(|d| d.to_string()).collect();
    let text = all.join("\n");
    assert!(text.contains("remote-action.yml:7:15: error: step `Set up node` of job `build` uses `actions/setup-node@v4`"), "{text}");
    assert!(text.contains("`shell: pwsh` is not supported"), "{text}");
    assert!(text.contains("did you mean `contains`?"), "{text}");
    assert!(text.contains("--platform macos-14=IMAGE"), "{text}");
    assert!(
        text.contains("remote-action.yml:14:12: error: job `mac` needs `biuld`"),
        "{text}"
    );
}

/// The options of a corpus file: its `# event:` line, branch `main`, a
/// fixed commit.
fn corpus_options(path: &Path) -> LoadOptions {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let event = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# event:"))
        .map_or("push", str::trim)
        .to_string();
    let mut options = LoadOptions {
        event: Some(event),
        platforms: vec![("ubuntu-22.04".into(), "ubuntu:22.04".into())],
        ..Default::default()
    };
    options.env.set("GITHUB_REF_NAME", "main", None);
    options.env.set("GITHUB_SHA", SHA, None);
    options
}

fn step_line(step: &Step) -> String {
    let mut flags = Vec::new();
    match step.when {
        _ if step.deferred.as_ref().and_then(|d| d.condition()).is_some() => {
            let c = step.deferred.as_ref().and_then(|d| d.condition());
            flags.push(format!("if {} at run time", c.unwrap_or_default()));
        }
        StepWhen::OnSuccess => {}
        StepWhen::OnFailure => flags.push("on failure".to_string()),
        StepWhen::Always => flags.push("always".to_string()),
    }
    if step.shell != ["bash", "-e", "-c"] {
        flags.push(format!("shell {}", step.shell.join(" ")));
    }
    if let Some(w) = &step.workdir {
        flags.push(format!("in {}", w.value));
    }
    if let Some(i) = &step.image {
        flags.push(format!("image {}", i.value));
    }
    if let Some(t) = &step.timeout {
        flags.push(format!("timeout {:?}", t.value));
    }
    if step.continue_on_error {
        flags.push("continue on error".to_string());
    }
    if let Some(id) = &step.id {
        flags.push(format!("id {id}"));
    }
    let mut s = format!("  step {}", step.name);
    if !flags.is_empty() {
        let _ = write!(s, " [{}]", flags.join(", "));
    }
    s.push(':');
    for v in step.env.iter() {
        let _ = write!(s, "\n    env {}={}", v.name, v.value);
    }
    for line in step.run.lines() {
        let _ = write!(s, "\n    | {line}");
    }
    s
}

fn describe(l: &Loaded) -> String {
    let p = &l.pipeline;
    let mut s = String::new();
    let _ = writeln!(s, "pipeline: {} ({})", p.name, p.dialect.as_str());
    for w in &l.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    for j in &p.jobs {
        let _ = writeln!(s, "\njob `{}` (id `{}`)", j.name, j.template);
        let needs: Vec<String> = j
            .needs
            .iter()
            .flatten()
            .map(|n| {
                if n.optional {
                    format!("{}?", n.job)
                } else {
                    n.job.clone()
                }
            })
            .collect();
        let _ = writeln!(s, "  needs: [{}]", needs.join(", "));
        let _ = writeln!(
            s,
            "  when: {:?}, allow_failure: {}",
            j.when, j.allow_failure
        );
        if let Some(skip) = &j.skipped {
            let _ = writeln!(s, "  skipped at {}: {}", skip.loc, skip.reason);
        }
        if let Some(d) = &j.deferred {
            if let Some(c) = d.condition() {
                let _ = writeln!(s, "  if at run time: {c}");
            }
            for (k, v) in d.outputs_written() {
                let _ = writeln!(s, "  output {k}: {v}");
            }
        }
        if let Some(i) = &j.image {
            let _ = writeln!(s, "  image: {}", i.value);
        }
        if let Some(t) = &j.timeout {
            let _ = writeln!(s, "  timeout: {:?}", t.value);
        }
        for (k, v) in &j.matrix {
            let _ = writeln!(s, "  matrix {k}={v}");
        }
        for svc in &j.services {
            let _ = writeln!(s, "  service: {} as {}", svc.image.value, svc.alias);
            for v in svc.env.iter() {
                let _ = writeln!(s, "    env {}={}", v.name, v.value);
            }
        }
        // Only what the file sets (and the job id), not the predefined.
        for v in j.env.iter().filter(|v| v.loc.is_some()) {
            let _ = writeln!(s, "  env {}={}", v.name, v.value);
        }
        for step in &j.steps {
            let _ = writeln!(s, "{}", step_line(step));
        }
    }
    match plan::build(p, &PlanOptions::default()) {
        Ok(plan) => {
            let _ = write!(s, "\nplan: {} job(s)\n", plan.jobs.len());
            if let Some(left) = plan.render_left_out() {
                s.push_str(&left);
            }
        }
        Err(e) => {
            for d in e {
                let _ = writeln!(s, "plan error: {d}");
            }
        }
    }
    s
}

fn files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yml"))
            .collect(),
        Err(e) => panic!("{dir}: {e}"),
    };
    files.sort();
    files
}

fn compare(actual: &[(PathBuf, String)], min: usize) {
    common::compare_snapshots(actual, min);
}

#[test]
fn corpus_matches_expected_job_graphs() {
    let actual: Vec<(PathBuf, String)> = files("tests/github")
        .into_iter()
        .map(|f| {
            let loaded = match dialect::load_with(&f, &corpus_options(&f)) {
                Ok(l) => l,
                Err(e) => panic!(
                    "{}: {:#?}",
                    f.display(),
                    e.diagnostics
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                ),
            };
            (f.with_extension("expected"), describe(&loaded))
        })
        .collect();
    compare(&actual, 15);
}

#[test]
fn broken_workflows_report_exact_locations() {
    let actual: Vec<(PathBuf, String)> = files("tests/github-broken")
        .into_iter()
        .map(|f| {
            (
                f.with_extension("stderr"),
                common::render_refusal(&f, &corpus_options(&f)),
            )
        })
        .collect();
    compare(&actual, 10);
}

/// `--event-file`: the payload's `inputs` fill a dispatch's `inputs`
/// (over the defaults) and its fields `github.event`; a file that is not
/// a JSON object is refused, naming the place.
#[test]
fn an_event_payload_file_feeds_inputs_and_github_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let payload = dir.path().join("event.json");
    std::fs::write(
        &payload,
        r#"{"inputs": {"environment": "production", "version": "2.0", "dry-run": false},
            "sender": {"login": "octocat"}}"#,
    )
    .expect("write payload");
    let workflow = dir.path().join("dispatch.yml");
    std::fs::write(
        &workflow,
        r#"on:
  workflow_dispatch:
    inputs:
      environment: {type: string, default: staging}
      version: {type: string, required: true}
      dry-run: {type: boolean, default: true}
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - run: echo "to ${{ inputs.environment }} v${{ inputs.version }} by ${{ github.event.sender.login }}"
      - if: inputs.dry-run
        run: echo dry
"#,
    )
    .expect("write workflow");
    let wf = workflow.display().to_string();
    let ev = payload.display().to_string();
    let out = common::nestci(&[
        "run",
        &wf,
        "--dry-run",
        "--event",
        "workflow_dispatch",
        "--event-file",
        &ev,
    ]);
    let shown = common::text(&out.stdout);
    assert!(out.status.success(), "{shown}{}", common::text(&out.stderr));
    assert!(shown.contains("to production v2.0 by octocat"), "{shown}");
    assert!(
        !shown.contains("echo dry"),
        "the payload's dry-run: false wins:\n{shown}"
    );

    std::fs::write(&payload, "[1, 2,\n oops]").expect("write bad payload");
    let out = common::nestci(&[
        "run",
        &wf,
        "--dry-run",
        "--event",
        "workflow_dispatch",
        "--event-file",
        &ev,
    ]);
    let err = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not JSON at line 2, column 2"), "{err}");
}
