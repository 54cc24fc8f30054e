//! The `nestci` binary as a user runs it: exit codes, output, discovery.

mod common;

use common::{nestci, text};
use std::path::PathBuf;

fn example_pipelines() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("pipelines")
        .expect("pipelines/ exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_validates_lists_and_dry_runs() {
    let files = example_pipelines();
    assert!(files.len() >= 3, "pipelines/ holds the examples");
    for file in &files {
        let f = file.to_str().expect("utf-8 path");
        let v = nestci(&["validate", f]);
        assert_eq!(
            v.status.code(),
            Some(0),
            "validate {f}: {}",
            text(&v.stderr)
        );
        assert!(text(&v.stdout).contains(": ok"), "{}", text(&v.stdout));
        assert!(v.stderr.is_empty(), "warnings for {f}: {}", text(&v.stderr));

        let l = nestci(&["list", f]);
        assert_eq!(l.status.code(), Some(0), "list {f}: {}", text(&l.stderr));
        let out = text(&l.stdout);
        assert!(out.starts_with("JOB"), "{out}");
        assert!(out.contains("wave"), "the DAG follows the table: {out}");

        let d = nestci(&["run", f, "--dry-run"]);
        assert_eq!(d.status.code(), Some(0), "dry-run {f}: {}", text(&d.stderr));
        assert!(text(&d.stdout).contains("wave 1:"), "{}", text(&d.stdout));
    }
}

#[test]
fn dry_run_follows_selection_and_order() {
    let out = nestci(&[
        "run",
        "pipelines/fan-out.yml",
        "--dry-run",
        "--job",
        "lines",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("2 jobs to run"), "{s}");
    let prepare = s.find("  prepare").expect("prepare is pulled in");
    let lines = s.find("  lines").expect("lines is selected");
    assert!(prepare < lines, "needs come first: {s}");
    assert!(!s.contains("  report"), "{s}");
}

#[test]
fn validation_errors_exit_2_with_location() {
    let out = nestci(&["validate", "tests/broken/unknown-job-key.yml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("tests/broken/unknown-job-key.yml:4:5"),
        "{err}"
    );
    assert!(err.contains("did you mean `steps`?"), "{err}");
}

#[test]
fn unknown_job_selection_is_a_usage_error() {
    let out = nestci(&[
        "run",
        "pipelines/fan-out.yml",
        "--dry-run",
        "--job",
        "wrods",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("did you mean `--job words`?"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    assert_eq!(nestci(&["run", "--jobs", "0"]).status.code(), Some(2));
    assert_eq!(nestci(&["run", "--env", "NOEQUALS"]).status.code(), Some(2));
    assert_eq!(nestci(&["frobnicate"]).status.code(), Some(2));
    let help = nestci(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help.stdout).contains("validate"));
    let version = nestci(&["--version"]);
    assert!(text(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn missing_file_says_what_to_do() {
    let out = nestci(&["validate", "no/such/file.yml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("cannot read no/such/file.yml"), "{err}");
    assert!(err.contains("help:"), "{err}");
}

#[test]
fn discovery_prefers_pipelines_ci_yml() {
    // Run from the repository root without a file: pipelines/ci.yml.
    let out = nestci(&["validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("pipelines/ci.yml: ok"),
        "{}",
        text(&out.stdout)
    );
}

/// The GitHub example lives in `pipelines/github/`, outside both
/// `.github/workflows/` (which would change discovery for this repository)
/// and the top level of `pipelines/` (which the examples test reads).
#[test]
fn the_github_example_validates_and_shows_skipped_jobs_with_their_reason() {
    let f = "pipelines/github/hello.yml";
    let v = nestci(&["validate", f]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stderr));
    assert!(
        text(&v.stdout).contains("pipeline `Hello (GitHub Actions)` (github), 3 jobs"),
        "{}",
        text(&v.stdout)
    );
    assert!(v.stderr.is_empty(), "no warnings: {}", text(&v.stderr));
    assert!(
        !example_pipelines()
            .iter()
            .any(|p| p.starts_with("pipelines/github")),
        "the examples test reads only top-level files"
    );

    let d = nestci(&["run", f, "--dry-run", "--event", "pull_request"]);
    assert_eq!(d.status.code(), Some(0), "{}", text(&d.stderr));
    let out = text(&d.stdout);
    assert!(
        out.contains("echo \"$GREETING from pull_request on Linux\""),
        "{out}"
    );

    // A false `if:` is reported with its condition, not as `when: never`.
    let l = nestci(&[
        "list",
        "tests/github/needs-chain.yml",
        "--event",
        "pull_request",
    ]);
    assert_eq!(l.status.code(), Some(0), "{}", text(&l.stderr));
    let out = text(&l.stdout);
    assert!(
        out.contains("not in this run:\n  publish   its `if: github.event_name == 'push'"),
        "{out}"
    );
    assert!(
        out.contains("  announce  it needs `publish`, which is skipped"),
        "{out}"
    );
    assert!(!out.contains("when: never"), "{out}");
    let sel = nestci(&[
        "run",
        "tests/github/needs-chain.yml",
        "--dry-run",
        "--event",
        "pull_request",
        "--job",
        "publish",
    ]);
    assert_eq!(sel.status.code(), Some(2));
    let err = text(&sel.stderr);
    assert!(
        err.contains("`--job publish` selects `publish`, which cannot run: its `if:"),
        "{err}"
    );
    assert!(err.contains("needs-chain.yml:28:9"), "{err}");
}

#[test]
fn secrets_fill_the_secrets_context_and_are_masked_in_the_dry_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("s.env");
    std::fs::write(&file, "# deploy\nexport DEPLOY_USER='robot-7f3a'\n").expect("write");
    let file = file.to_string_lossy().into_owned();
    let args = [
        "run",
        "tests/github/secrets.yml",
        "--dry-run",
        "--secret-file",
        &file,
        "--secret",
        "REGISTRY_TOKEN=tok-51c2",
    ];
    let d = nestci(&args);
    assert_eq!(d.status.code(), Some(0), "{}", text(&d.stderr));
    let out = text(&d.stdout);
    assert!(
        !out.contains("robot-7f3a") && !out.contains("tok-51c2"),
        "{out}"
    );
    assert!(out.contains("Publish with ***"), "{out}");
    assert!(
        out.contains("$ echo \"deploying as *** to $REGISTRY\""),
        "{out}"
    );
    // The step whose `if:` needs the token runs only when it is given.
    assert!(out.contains("Only with a token"), "{out}");
    let without = nestci(&["run", "tests/github/secrets.yml", "--dry-run"]);
    assert!(!text(&without.stdout).contains("Only with a token"));
    // ... and says so rather than dropping it silently.
    let err = text(&without.stderr);
    assert!(
        err.contains(
            "warning: step `Only with a token` of job `publish` is left out: \
             its `if: secrets.REGISTRY_TOKEN != ''` is false"
        ),
        "{err}"
    );
    assert!(err.contains("secrets.yml:22:13"), "{err}");
    assert!(err.contains("a secret not given with `--secret`"), "{err}");

    // A bad line names the file and line, without the value.
    std::fs::write(&file, "A=1\nexport\n").expect("write");
    let bad = nestci(&["list", "tests/github/secrets.yml", "--secret-file", &file]);
    assert_eq!(bad.status.code(), Some(2));
    let err = text(&bad.stderr);
    assert!(
        err.contains(&format!("{file}:2: `export` is not KEY=VALUE")),
        "{err}"
    );
}

#[test]
fn gitlab_sees_secrets_as_variables_below_env() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(".gitlab-ci.yml");
    std::fs::write(
        &file,
        "deploy:\n  rules:\n    - if: $DEPLOY_TOKEN == \"t0k-abc\"\n  script:\n    - echo deploy\n\
         other:\n  rules:\n    - if: $MODE == \"cli\"\n  script:\n    - echo other\n",
    )
    .expect("write");
    let file = file.to_string_lossy().into_owned();
    let jobs = |extra: &[&str]| {
        let mut args = vec!["list", file.as_str()];
        args.extend_from_slice(extra);
        let out = nestci(&args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        // The jobs that run: not under "not in this run".
        let out = text(&out.stdout);
        let left_out = out.split("not in this run:").nth(1).unwrap_or("");
        ["deploy", "other"]
            .into_iter()
            .filter(|j| !left_out.contains(&format!("  {j}  ")))
            .collect::<Vec<_>>()
    };
    assert!(jobs(&[]).is_empty());
    assert_eq!(jobs(&["--secret", "DEPLOY_TOKEN=t0k-abc"]), ["deploy"]);
    assert_eq!(jobs(&["--secret", "MODE=cli"]), ["other"]);
    // `--env` wins over a secret of the same name, as a pipeline variable
    // wins over a masked project variable.
    let run = nestci(&[
        "run",
        &file,
        "--dry-run",
        "--secret",
        "MODE=secret",
        "--env",
        "MODE=cli",
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(
        text(&run.stdout).contains("  other (image"),
        "{}",
        text(&run.stdout)
    );
}
