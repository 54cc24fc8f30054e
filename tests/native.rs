//! The native dialect on valid input: what the model holds after parsing.

use std::path::Path;
use std::time::Duration;

use nestci::dialect::{self, Loaded};
use nestci::model::{NetworkMode, StepWhen, When};

fn load(text: &str) -> Loaded {
    match dialect::load_str(Path::new("p.yml"), text) {
        Ok(l) => l,
        Err(e) => panic!("{:#?}", e.diagnostics),
    }
}

#[test]
fn matrix_expands_into_named_jobs_and_needs_fan_in() {
    let l = load(
        "\
jobs:
  test:
    matrix:
      OS: [linux, bsd]
      RUST: ['1.80', '1.85']
    steps: [cargo test]
  report:
    needs: [test]
    steps: [echo done]
",
    );
    let names: Vec<&str> = l.pipeline.jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "test [OS=linux, RUST=1.80]",
            "test [OS=linux, RUST=1.85]",
            "test [OS=bsd, RUST=1.80]",
            "test [OS=bsd, RUST=1.85]",
            "report"
        ]
    );
    let t = &l.pipeline.jobs[1];
    assert_eq!(t.template, "test");
    assert_eq!(t.env.get("RUST"), Some("1.85"));
    assert_eq!(t.env.get("OS"), Some("linux"));
    let report = l.pipeline.job("report").unwrap();
    let needs: Vec<&str> = report
        .needs
        .as_ref()
        .unwrap()
        .iter()
        .map(|n| n.job.as_str())
        .collect();
    assert_eq!(needs.len(), 4);
    assert!(needs.iter().all(|n| n.starts_with("test [")));
}

#[test]
fn env_precedence_pipeline_job_step() {
    let l = load(
        "\
env: {A: pipeline, B: pipeline, C: pipeline}
jobs:
  j:
    env: {B: job, C: job}
    steps:
      - run: env
        env: {C: step}
",
    );
    let job = &l.pipeline.jobs[0];
    let step = &job.steps[0];
    let mut cli = nestci::model::Env::new();
    cli.set("D", "cli", None);
    let effective = job.env.with(&step.env).with(&cli);
    assert_eq!(effective.get("A"), Some("pipeline"));
    assert_eq!(effective.get("B"), Some("job"));
    assert_eq!(effective.get("C"), Some("step"));
    assert_eq!(effective.get("D"), Some("cli"));
    // The job's variable remembers where it was set.
    assert_eq!(job.env.var("B").unwrap().loc.as_ref().unwrap().line(), 4);
}

#[test]
fn every_key_lands_in_the_model() {
    let l = load(
        "\
name: full
image: alpine:3.20
stages: [build, test]
jobs:
  build:
    stage: build
    image: rust:1.85
    timeout: 1h 30m
    retry: 2
    allow_failure: true
    when: manual
    if: '$CI_BRANCH == \"main\"'
    resources: {memory: 512M, pids: 256, cpus: 1.5}
    services:
      - image: postgres:16
        env: {POSTGRES_PASSWORD: x}
      - image: registry.local/team/cache:1
        alias: cache
        command: redis-server --port 6380
        ports: [6380]
    artifacts: {paths: [target/release/app]}
    cache: {key: cargo, paths: [.cargo]}
    security:
      privileged: true
      cap_add: [cap_net_admin]
      network: host
      pid: host
      seccomp: unconfined
      volumes: ['/var/run/docker.sock:/var/run/docker.sock:ro']
      user: '1000:1000'
    steps:
      - name: Build
        run: |
          cargo build
          cargo test
        workdir: sub
        timeout: 90s
        continue_on_error: true
        when: always
      - make
  test:
    stage: test
    steps: [make test]
",
    );
    let p = &l.pipeline;
    assert_eq!(p.name, "full");
    assert_eq!(p.stages, ["build", "test"]);
    let b = p.job("build").unwrap();
    assert_eq!(b.image.as_ref().unwrap().value, "rust:1.85");
    assert_eq!(b.timeout.as_ref().unwrap().value, Duration::from_secs(5400));
    assert_eq!(b.retry, 2);
    assert!(b.allow_failure.is_allowed());
    assert_eq!(b.when, When::Manual);
    assert_eq!(
        b.condition.as_ref().unwrap().value,
        "$CI_BRANCH == \"main\""
    );
    assert_eq!(b.resources.memory.as_ref().unwrap().value, 512 << 20);
    assert_eq!(b.resources.pids.as_ref().unwrap().value, 256);
    assert_eq!(b.resources.cpus.as_ref().unwrap().value, 1.5);
    assert_eq!(b.services[0].alias, "postgres");
    assert_eq!(b.services[1].alias, "cache");
    assert!(b.services[0].ports.is_empty());
    let ports: Vec<u16> = b.services[1].ports.iter().map(|p| p.value).collect();
    assert_eq!(ports, [6380]);
    assert_eq!(
        b.services[1].command.as_deref().unwrap(),
        ["redis-server", "--port", "6380"]
    );
    assert_eq!(b.artifacts[0].value, "target/release/app");
    assert_eq!(b.cache.as_ref().unwrap().key, "cargo");
    let s = &b.security;
    assert!(s.is_privileged());
    assert_eq!(s.cap_add[0].value, "NET_ADMIN");
    assert_eq!(s.network.as_ref().unwrap().value, NetworkMode::Host);
    assert_eq!(s.volumes[0].value.host, "/var/run/docker.sock");
    assert!(s.volumes[0].value.read_only);
    // Locations point at the value as written.
    assert_eq!(s.network.as_ref().unwrap().loc.line(), 26);
    assert_eq!(s.network.as_ref().unwrap().loc.col(), 16);
    let step = &b.steps[0];
    assert_eq!(step.name, "Build");
    assert!(step.run.contains("cargo test"));
    assert_eq!(
        step.timeout.as_ref().unwrap().value,
        Duration::from_secs(90)
    );
    assert!(step.continue_on_error);
    assert_eq!(step.when, StepWhen::Always);
    assert_eq!(b.steps[1].name, "make");
    // The default image applies to jobs without their own.
    assert_eq!(
        p.job("test").unwrap().image.as_ref().unwrap().value,
        "alpine:3.20"
    );
}

#[test]
fn anchors_merge_keys_and_repeated_keys() {
    let l = load(
        "\
.defaults: &defaults
  image: busybox
  retry: 1
x-more: &more {timeout: 5m}
jobs:
  a:
    <<: [*defaults, *more]
    steps: [echo a]
  b:
    <<: *defaults
    <<: *more
    retry: 2
    steps: [echo b]
    steps: [echo b2]
",
    );
    let a = l.pipeline.job("a").unwrap();
    assert_eq!(a.image.as_ref().unwrap().value, "busybox");
    assert_eq!(a.retry, 1);
    assert_eq!(a.timeout.as_ref().unwrap().value, Duration::from_secs(300));
    let b = l.pipeline.job("b").unwrap();
    assert_eq!(b.retry, 2, "an explicit key beats a merged one");
    assert_eq!(b.timeout.as_ref().unwrap().value, Duration::from_secs(300));
    assert_eq!(b.steps[0].run, "echo b2", "the last repeated key wins");
    // ...with a warning naming both lines.
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert!(
        l.warnings[0].message.contains("lines 13 and 14"),
        "{}",
        l.warnings[0].message
    );
    // A merged value points at its definition, where a fix would go.
    assert_eq!(a.image.as_ref().unwrap().loc.line(), 2);
}

#[test]
fn stages_without_declaration_follow_first_use() {
    let l = load(
        "\
jobs:
  t: {stage: test, steps: [x]}
  b: {stage: build, steps: [x]}
",
    );
    assert_eq!(l.pipeline.stages, ["test", "build"]);
}
