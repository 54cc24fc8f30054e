//! The GitHub Actions dialect: the job graph a workflow becomes.

use std::path::Path;

use nestci::dialect::{self, LoadOptions, Loaded};
use nestci::model::{StepWhen, When};

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
    assert!(nightly.allow_failure, "continue-on-error from the matrix");
    assert!(!job("test (ubuntu-24.04, 1.85, false)").allow_failure);
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
