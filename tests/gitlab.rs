//! The GitLab CI dialect on the corpus in `tests/gitlab/`: each
//! `<name>.gitlab-ci.yml` is loaded (with `CI_COMMIT_BRANCH=main` and a
//! fixed commit, and `tests/gitlab/mapped` as `--include-dir`) and the
//! resulting job graph — names, stages, needs, when, conditions, images,
//! services, steps, whose artifacts each job receives, the job's own
//! variables and the warnings — is compared
//! with `<name>.expected`.
//!
//! Regenerate after an intended change with
//! `NESTCI_BLESS=1 cargo test --test gitlab` and review the diff.
//! Files with mistakes live in `tests/gitlab-broken/`, with the exact
//! diagnostics in `<name>.stderr`.

mod common;

use std::fmt::Write;
use std::path::{Path, PathBuf};

use nestci::dialect::{self, LoadOptions, Loaded};
use nestci::model::StepWhen;
use nestci::plan::{self, PlanOptions};

fn options() -> LoadOptions {
    let mut o = LoadOptions {
        include_dirs: vec![PathBuf::from("tests/gitlab/mapped")],
        ..Default::default()
    };
    o.env.set("CI_PROJECT_NAME", "shop", None);
    o.env.set("CI_COMMIT_BRANCH", "main", None);
    o.env.set("CI_COMMIT_REF_NAME", "main", None);
    o.env.set("CI_COMMIT_REF_SLUG", "main", None);
    o.env.set(
        "CI_COMMIT_SHA",
        "0123456789abcdef0123456789abcdef01234567",
        None,
    );
    o.env.set("CI_COMMIT_SHORT_SHA", "01234567", None);
    o
}

fn load(path: &Path) -> Loaded {
    match dialect::load_with(path, &options()) {
        Ok(l) => l,
        Err(e) => panic!(
            "{}: {:#?}",
            path.display(),
            e.diagnostics
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
        ),
    }
}

/// Variables a file sets (and `CI_NODE_*`), not the predefined ones.
fn shown_var(name: &str, from_file: bool) -> bool {
    from_file
        || name.starts_with("CI_NODE_")
        || !(name.starts_with("CI") || name.starts_with("GITLAB"))
}

fn describe(l: &Loaded) -> String {
    let p = &l.pipeline;
    let mut s = String::new();
    let _ = writeln!(s, "pipeline: {} ({})", p.name, p.dialect.as_str());
    let _ = writeln!(s, "stages: {}", p.stages.join(", "));
    for w in &l.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    for j in &p.jobs {
        let _ = writeln!(s, "\njob `{}` (template `{}`)", j.name, j.template);
        let _ = writeln!(s, "  stage: {}", j.stage.as_deref().unwrap_or("-"));
        match &j.needs {
            None => {
                let _ = writeln!(s, "  needs: (stage order)");
            }
            Some(n) => {
                let names: Vec<String> = n
                    .iter()
                    .map(|n| {
                        if n.optional {
                            format!("{}?", n.job)
                        } else {
                            n.job.clone()
                        }
                    })
                    .collect();
                let _ = writeln!(s, "  needs: [{}]", names.join(", "));
            }
        }
        let _ = writeln!(
            s,
            "  when: {:?}, allow_failure: {}, retry: {}",
            j.when, j.allow_failure, j.retry
        );
        if let Some(c) = &j.condition {
            let _ = writeln!(s, "  if: {}", c.value);
        }
        if let Some(i) = &j.image {
            let _ = writeln!(s, "  image: {}", i.value);
        }
        if let Some(t) = &j.timeout {
            let _ = writeln!(s, "  timeout: {:?}", t.value);
        }
        for svc in &j.services {
            let _ = writeln!(
                s,
                "  service: {} as {}{}",
                svc.image.value,
                svc.alias,
                svc.command
                    .as_ref()
                    .map(|c| format!(" command {c:?}"))
                    .unwrap_or_default()
            );
        }
        if let Some(c) = &j.cache {
            let paths: Vec<&str> = c.paths.iter().map(|p| p.value.as_str()).collect();
            let _ = writeln!(s, "  cache: {} {:?}", c.key, paths);
        }
        if !j.artifacts.is_empty() {
            let paths: Vec<&str> = j.artifacts.iter().map(|p| p.value.as_str()).collect();
            let _ = writeln!(s, "  artifacts: {paths:?}");
        }
        let from = j.artifacts_from.jobs(j);
        if !from.is_empty() {
            let _ = writeln!(s, "  artifacts from: [{}]", from.join(", "));
        }
        for v in j.env.iter() {
            if shown_var(&v.name, v.loc.is_some()) {
                let _ = writeln!(s, "  env {}={}", v.name, v.value);
            }
        }
        for step in &j.steps {
            let when = match step.when {
                StepWhen::Always => " (always)",
                StepWhen::OnFailure => " (on failure)",
                StepWhen::OnSuccess => "",
            };
            let _ = writeln!(s, "  step {}{when}:", step.name);
            for line in step.run.lines() {
                let _ = writeln!(s, "    | {line}");
            }
        }
    }
    s
}

fn files(dir: &str, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("corpus directory exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

fn compare(actual: &[(PathBuf, String)], min: usize) {
    common::compare_snapshots(actual, min);
}

#[test]
fn corpus_matches_expected_job_graphs() {
    let actual: Vec<(PathBuf, String)> = files("tests/gitlab", ".gitlab-ci.yml")
        .into_iter()
        .map(|f| {
            let name = f.to_string_lossy().replace(".gitlab-ci.yml", ".expected");
            (PathBuf::from(name), describe(&load(&f)))
        })
        .collect();
    compare(&actual, 15);
}

#[test]
fn corpus_plans_without_errors() {
    for f in files("tests/gitlab", ".gitlab-ci.yml") {
        let l = load(&f);
        if let Err(e) = plan::build(&l.pipeline, &PlanOptions::default()) {
            panic!(
                "{}: {:#?}",
                f.display(),
                e.iter().map(|d| d.to_string()).collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn broken_files_report_exact_locations() {
    let actual: Vec<(PathBuf, String)> = files("tests/gitlab-broken", ".gitlab-ci.yml")
        .into_iter()
        .map(|f| {
            let name = f.to_string_lossy().replace(".gitlab-ci.yml", ".stderr");
            (PathBuf::from(name), common::render_refusal(&f, &options()))
        })
        .collect();
    compare(&actual, 10);
}
