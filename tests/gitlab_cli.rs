//! `nestci validate`, `list` and `run --dry-run` on GitLab CI files.

mod common;

use common::{nestci, text};

#[test]
fn validate_list_and_dry_run_a_gitlab_file() {
    let f = "tests/gitlab/parallel.gitlab-ci.yml";
    let v = nestci(&["validate", f]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stderr));
    assert!(
        text(&v.stdout).contains("(gitlab), 7 jobs"),
        "{}",
        text(&v.stdout)
    );

    let l = nestci(&["list", f]);
    assert_eq!(l.status.code(), Some(0), "{}", text(&l.stderr));
    let out = text(&l.stdout);
    assert!(out.contains("build: [aws, app1]"), "{out}");
    assert!(out.contains("test 2/3"), "{out}");

    let d = nestci(&["run", f, "--dry-run", "--job", "report"]);
    assert_eq!(d.status.code(), Some(0), "{}", text(&d.stderr));
    let out = text(&d.stdout);
    assert!(
        out.contains("build: [aws, app1]"),
        "needs pull in the variant: {out}"
    );
    assert!(!out.contains("build: [gcp, data]"), "not needed: {out}");
}

#[test]
fn rules_follow_env_on_the_command_line() {
    let f = "tests/gitlab/rules.gitlab-ci.yml";
    let on_main = nestci(&["run", f, "--dry-run", "--env", "CI_COMMIT_BRANCH=main"]);
    assert_eq!(on_main.status.code(), Some(0), "{}", text(&on_main.stderr));
    let out = text(&on_main.stdout);
    // The waves, then the jobs left out with their reason.
    let (waves, left_out) = out.split_once("not in this run:").unwrap_or((&out, ""));
    assert!(waves.contains("  test"), "{out}");
    assert!(!waves.contains("nightly"), "{out}");
    assert!(
        left_out.contains(
            "nightly  its condition `if: ($CI_PIPELINE_SOURCE == \"schedule\")` is false"
        ),
        "{out}"
    );

    let scheduled = nestci(&[
        "run",
        f,
        "--dry-run",
        "--env",
        "CI_COMMIT_BRANCH=feature",
        "--event",
        "schedule",
    ]);
    assert_eq!(
        scheduled.status.code(),
        Some(0),
        "{}",
        text(&scheduled.stderr)
    );
    let out = text(&scheduled.stdout);
    let (waves, left_out) = out.split_once("not in this run:").unwrap_or((&out, ""));
    assert!(waves.contains("nightly"), "{out}");
    assert!(!waves.contains("  test"), "{out}");
    assert!(left_out.contains("  test"), "{out}");
}

#[test]
fn unfetched_includes_warn_and_can_be_mapped() {
    let f = "tests/gitlab/include.gitlab-ci.yml";
    let plain = nestci(&["list", f]);
    assert_eq!(plain.status.code(), Some(0), "{}", text(&plain.stderr));
    let err = text(&plain.stderr);
    assert!(
        err.contains("include.gitlab-ci.yml:5:5"),
        "template is located: {err}"
    );
    assert!(err.contains("--include-dir"), "{err}");
    assert!(
        !text(&plain.stdout).contains("sast"),
        "{}",
        text(&plain.stdout)
    );

    let mapped = nestci(&["list", f, "--include-dir", "tests/gitlab/mapped"]);
    assert_eq!(mapped.status.code(), Some(0), "{}", text(&mapped.stderr));
    assert!(
        text(&mapped.stdout).contains("sast-extra"),
        "{}",
        text(&mapped.stdout)
    );
}

#[test]
fn broken_gitlab_file_exits_2_with_location() {
    let out = nestci(&["validate", "tests/gitlab-broken/unknown-key.gitlab-ci.yml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("unknown-key.gitlab-ci.yml:3:3"), "{err}");
    assert!(err.contains("did you mean `script`?"), "{err}");
}
