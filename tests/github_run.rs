//! GitHub workflows run end to end, in both modes: what steps and jobs
//! pass on at run time.
//!
//! `tests/github/step-files.yml` (also a corpus file, so its job graph is
//! snapshotted by `tests/github.rs`) writes `$GITHUB_OUTPUT`,
//! `$GITHUB_ENV` (plain and `NAME<<DELIM` values), `$GITHUB_PATH` and
//! `$GITHUB_STEP_SUMMARY`; later steps read them, and `steps.<id>.*` in
//! their `run`, `env`, `name`, `working-directory` and `if`; other jobs
//! read the job's `outputs` and `result` through `needs`, in `env`,
//! `run` and their `if:`. The same assertions hold in dind mode (the
//! `host` image, through the `nestci` binary) and in dood mode (busybox
//! standing in for `host`, through the scheduler), and each run leaves no
//! step files behind.

mod dind_common;
#[path = "dood_support/mod.rs"]
mod support;

use std::path::Path;

use dind_common::Sandbox;
use nestci::run::JobStatus;
use support::{Guard, Spec, engine, leftovers, run, run_id};

const WORKFLOW: &str = include_str!("github/step-files.yml");

/// A malformed `$GITHUB_OUTPUT` fails the step that wrote it, as on GitHub.
const MALFORMED: &str = r#"
on: push
jobs:
  bad-output:
    runs-on: ubuntu-latest
    defaults:
      run:
        shell: sh
    steps:
      - run: |
          echo "not a pair" >> "$GITHUB_OUTPUT"
          echo "wrote=it"
      - if: failure()
        run: echo "after=failure"
"#;

/// What each job printed, as `key=value` lines, in one string per job.
struct Seen {
    produce: String,
    consume: String,
    report: String,
    broken: String,
    /// Every job's output, for "never printed" checks and messages.
    all: String,
}

/// The assertions both modes share.
fn check(seen: &Seen, workspace: &Path, status: impl Fn(&str) -> JobStatus) {
    let has = |text: &str, line: &str| text.lines().any(|l| l.trim_end().ends_with(line));
    let p = &seen.produce;
    // GITHUB_OUTPUT: `steps.meta.outputs.*` in run, env, name and
    // working-directory; `steps.meta.outcome`.
    for line in [
        "run=1.2.3",
        "env=v1.2.3",
        "▸ Use 1.2.3",
        "pwd=/workspace/sub",
        "outcome=success",
    ] {
        assert!(has(p, line), "produce: no `{line}` in\n{}", seen.all);
    }
    // GITHUB_ENV, plain and multi-line, as env and in `${{ env.* }}`.
    for line in [
        "greeting=hello from env",
        "expr-greeting=hello from env",
        "multi=3",
    ] {
        assert!(has(p, line), "produce: no `{line}` in\n{}", seen.all);
    }
    // GITHUB_PATH: the tool is found by name.
    assert!(has(p, "tool=ran"), "{}", seen.all);
    // Step `if:` on outcome/conclusion of a continue-on-error step, on an
    // output (false: skipped), on the env file.
    assert!(has(p, "flaky=failure/success"), "{}", seen.all);
    assert!(has(p, "env-condition=yes"), "{}", seen.all);
    assert!(!seen.all.contains("never=printed"), "{}", seen.all);
    // The summary is kept beside the log and named at the end of the job.
    assert!(
        p.contains("step summary saved in") && p.contains("produce.summary.md"),
        "{}",
        seen.all
    );
    let logs = workspace.join(".nestci/logs");
    let summary = std::fs::read_dir(&logs)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|run| run.path().join("produce.summary.md"))
        .find(|p| p.is_file())
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    assert_eq!(summary, "### Build summary\nversion **1.2.3**\n");

    // Job outputs and results through `needs`, in env, run and `if:`.
    assert_eq!(status("produce"), JobStatus::Passed, "{}", seen.all);
    assert_eq!(status("consume"), JobStatus::Passed, "{}", seen.all);
    for line in [
        "needs-env=1.2.3",
        "needs-result=success",
        "needs-flaky=failure/success",
    ] {
        assert!(
            has(&seen.consume, line),
            "consume: no `{line}` in\n{}",
            seen.all
        );
    }
    assert_eq!(status("not-this-version"), JobStatus::Skipped);
    assert!(!seen.all.contains("wrong=ran"), "{}", seen.all);
    // `if: always() && needs.broken.result == 'failure'`.
    assert_eq!(status("broken"), JobStatus::Failed);
    assert!(has(&seen.broken, "failure-step=ran"), "{}", seen.all);
    assert_eq!(status("report"), JobStatus::Passed, "{}", seen.all);
    assert!(has(&seen.report, "report=failure"), "{}", seen.all);

    // The step files are gone with the jobs.
    assert!(
        !workspace.join(".nestci/steps").exists(),
        "step files left in {}",
        workspace.display()
    );
}

#[test]
fn step_files_outputs_and_needs_in_dind_mode() {
    let sandbox = Sandbox::new(WORKFLOW);
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(1), "`broken` fails: {}", run.describe());
    let job = |name: &str| run.lines_of(name).join("\n");
    let seen = Seen {
        produce: job("produce"),
        consume: job("consume"),
        report: job("report"),
        broken: job("broken"),
        all: run.describe(),
    };
    // The summary table: `JOB  ✓ passed ...`.
    let status = |name: &str| {
        let row = run
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name) && !l.contains(['│', '┆']))
            .unwrap_or_default();
        match row.split_whitespace().nth(2) {
            Some("passed") => JobStatus::Passed,
            Some("failed") => JobStatus::Failed,
            Some("skipped") => JobStatus::Skipped,
            other => panic!("no status for {name} ({other:?}) in\n{}", run.describe()),
        }
    };
    check(&seen, &sandbox.workspace(), status);
    sandbox.assert_nothing_left();
}

#[tokio::test(flavor = "multi_thread")]
async fn step_files_outputs_and_needs_in_dood_mode() {
    let id = run_id("gh-step-files");
    let _guard = Guard { run_id: id.clone() };
    let r = run(Spec::new(WORKFLOW, &id)).await;
    let seen = Seen {
        produce: r.log("produce"),
        consume: r.log("consume"),
        report: r.log("report"),
        broken: r.log("broken"),
        all: r.output.clone(),
    };
    check(&seen, r.workspace(), |name| r.status(name));
    let left = leftovers(&engine().await, &id).await;
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_malformed_output_file_fails_the_step_in_dind_mode() {
    let sandbox = Sandbox::new(MALFORMED);
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    let lines = run.lines_of("bad-output").join("\n");
    assert!(lines.contains("wrote=it"), "{}", run.describe());
    assert!(
        lines.contains("$GITHUB_OUTPUT, line 1: `not a pair` is neither `NAME=value`"),
        "{}",
        run.describe()
    );
    assert!(lines.contains("after=failure"), "{}", run.describe());
    sandbox.assert_nothing_left();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_output_file_fails_the_step_in_dood_mode() {
    let id = run_id("gh-bad-output");
    let _guard = Guard { run_id: id.clone() };
    let r = run(Spec::new(MALFORMED, &id)).await;
    assert_eq!(r.status("bad-output"), JobStatus::Failed, "{}", r.output);
    assert!(
        r.message("bad-output").contains("$GITHUB_OUTPUT, line 1"),
        "{}",
        r.output
    );
    assert!(
        r.log("bad-output").contains("after=failure"),
        "{}",
        r.output
    );
    assert!(!r.workspace().join(".nestci/steps").exists());
}
