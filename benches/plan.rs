//! Parsing and planning a generated 1,000-job pipeline.
//!
//! `cargo bench --bench plan` prints the time of each phase. SPEC asks for
//! milliseconds; the target is well under 50 ms for parse + plan.

use std::path::Path;

use nestci::dialect;
use nestci::plan::{self, PlanOptions};

fn main() {
    divan::main();
}

/// 1,000 jobs in 10 stages: each job after the first stage needs two jobs
/// of the stage before it, has an env block, three steps and a resource
/// block, so the parser and the planner see a realistic mix.
fn pipeline(jobs: usize) -> String {
    use std::fmt::Write;
    let per_stage = jobs / 10;
    let mut s = String::from("name: generated\nimage: host\nenv:\n  GLOBAL: '1'\nstages: [");
    let stages: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
    s.push_str(&stages.join(", "));
    s.push_str("]\njobs:\n");
    for i in 0..jobs {
        let stage = i / per_stage;
        let _ = writeln!(s, "  job-{i}:");
        let _ = writeln!(s, "    stage: s{stage}");
        if stage > 0 {
            let a = (stage - 1) * per_stage + i % per_stage;
            let b = (stage - 1) * per_stage + (i * 7) % per_stage;
            let _ = writeln!(s, "    needs: [job-{a}, job-{b}]");
        }
        let _ = writeln!(s, "    env: {{INDEX: '{i}', STAGE: s{stage}}}");
        let _ = writeln!(s, "    resources: {{memory: 256M, pids: 128}}");
        let _ = writeln!(s, "    timeout: 10m");
        let _ = writeln!(s, "    steps:");
        let _ = writeln!(s, "      - echo building {i}");
        let _ = writeln!(s, "      - run: make test-{i}\n        timeout: 90s");
        let _ = writeln!(s, "      - name: report\n        run: echo done");
    }
    s
}

#[divan::bench]
fn parse_1000_jobs(bencher: divan::Bencher) {
    let text = pipeline(1000);
    bencher
        .bench(|| dialect::load_str(Path::new("gen.yml"), divan::black_box(&text)).expect("valid"));
}

#[divan::bench]
fn plan_1000_jobs(bencher: divan::Bencher) {
    let loaded = dialect::load_str(Path::new("gen.yml"), &pipeline(1000)).expect("valid");
    bencher.bench(|| plan::build(&loaded.pipeline, &PlanOptions::default()).expect("plans"));
}

#[divan::bench]
fn parse_and_plan_1000_jobs(bencher: divan::Bencher) {
    let text = pipeline(1000);
    bencher.bench(|| {
        let loaded = dialect::load_str(Path::new("gen.yml"), &text).expect("valid");
        plan::build(&loaded.pipeline, &PlanOptions::default()).expect("plans")
    });
}

#[divan::bench]
fn yaml_only_1000_jobs(bencher: divan::Bencher) {
    let text = pipeline(1000);
    bencher.bench(|| nestci::yaml::parse(divan::black_box(&text)).expect("valid"));
}

/// The same shape as a GitLab file: 1,000 jobs extending a hidden template,
/// with variables, `rules` and `needs`.
fn gitlab_pipeline(jobs: usize) -> String {
    use std::fmt::Write;
    let per_stage = jobs / 10;
    let mut s = String::from("variables:\n  GLOBAL: '1'\n  DERIVED: $GLOBAL-x\nstages: [");
    let stages: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
    s.push_str(&stages.join(", "));
    s.push_str("]\n.base:\n  image: alpine\n  before_script: [echo setup]\n  timeout: 10m\n");
    s.push_str("  rules:\n    - if: $SKIP\n      when: never\n    - if: $CI_COMMIT_BRANCH\n");
    for i in 0..jobs {
        let stage = i / per_stage;
        let _ = writeln!(s, "job-{i}:\n  extends: .base\n  stage: s{stage}");
        if stage > 0 {
            let a = (stage - 1) * per_stage + i % per_stage;
            let _ = writeln!(s, "  needs: [job-{a}]");
        }
        let _ = writeln!(s, "  variables: {{INDEX: '{i}'}}");
        let _ = writeln!(s, "  script:\n    - make test-{i}\n    - echo done");
    }
    s
}

#[divan::bench]
fn parse_and_plan_1000_gitlab_jobs(bencher: divan::Bencher) {
    let text = gitlab_pipeline(1000);
    bencher.bench(|| {
        let loaded = dialect::load_str(Path::new(".gitlab-ci.yml"), &text).expect("valid");
        plan::build(&loaded.pipeline, &PlanOptions::default()).expect("plans")
    });
}
