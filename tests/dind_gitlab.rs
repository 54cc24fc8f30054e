//! GitLab pipelines end to end in dind mode with the host image: artifact
//! passing over stages and `allow_failure: exit_codes`. (The same
//! pipelines run on the Docker Engine in `tests/dood_jobs.rs`.)

mod dind_common;

use dind_common::Sandbox;

/// See `GITLAB_ARTIFACTS` in `tests/dood_jobs.rs`: `clobber` deletes what
/// `build` left in the shared workspace, so a job has the file only when
/// its artifacts are handed to it.
const ARTIFACTS: &str = include_str!("pipelines/gitlab-artifacts.gitlab-ci.yml");

/// The summary row of `job` (not one of its output or note lines).
fn row<'a>(stdout: &'a str, job: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(job) && !l.contains(['│', '┆']))
        .unwrap_or("")
}

#[test]
fn jobs_receive_the_artifacts_of_earlier_stages() {
    let sandbox = Sandbox::new(ARTIFACTS);
    let run = sandbox.run(&["--jobs", "1"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    for job in ["build", "clobber", "without", "need-without", "with"] {
        assert!(
            row(&run.stdout, job).contains("passed"),
            "{job}: {}",
            run.describe()
        );
    }
    let restored = std::fs::read_to_string(sandbox.workspace().join("out/a.txt"));
    assert_eq!(restored.unwrap_or_default(), "built\n");
    sandbox.assert_nothing_left();
}

#[test]
fn exit_codes_allow_only_the_listed_failures() {
    let sandbox = Sandbox::new(
        "
allowed:
  script: [exit 137]
  allow_failure: {exit_codes: [137, 255]}
refused:
  script: [exit 3]
  allow_failure: {exit_codes: 137}
",
    );
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    let allowed = row(&run.stdout, "allowed");
    assert!(
        allowed.contains("failed (allowed)") && allowed.contains("exit code 137"),
        "{}",
        run.describe()
    );
    let refused = row(&run.stdout, "refused");
    assert!(
        refused.contains("✗ failed") && refused.contains("accepts only exit codes 137"),
        "{}",
        run.describe()
    );
    sandbox.assert_nothing_left();
}
