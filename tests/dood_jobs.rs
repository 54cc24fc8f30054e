//! Jobs end to end on the real Docker Engine: pipelines in, reports,
//! output and the daemon's state out. Every test labels its objects with
//! its own run id, checks through the API that none is left, and removes
//! any that are anyway (the [`Guard`]) even when it fails.

#[path = "dood_support/mod.rs"]
mod support;

use std::collections::HashMap;

use support::{BUSYBOX, Guard, Spec, engine, leftovers, run, run_id};

use nestci::backend::dood::{DoodOptions, PullPolicy};
use nestci::model::Env;
use nestci::run::JobStatus;

#[tokio::test(flavor = "multi_thread")]
async fn hello_pipeline_passes_and_leaves_nothing() {
    let id = run_id("hello");
    let _guard = Guard { run_id: id.clone() };
    let yaml = format!(
        "
name: hello
image: {BUSYBOX}
jobs:
  hello:
    env:
      GREETING: hello from nestci
    steps:
      - run: echo \"$GREETING in $(pwd)\"
"
    );
    let r = run(Spec::new(&yaml, &id)).await;
    assert_eq!(r.status("hello"), JobStatus::Passed, "{}", r.output);
    assert!(
        r.output.contains("hello from nestci in /workspace"),
        "{}",
        r.output
    );
    assert_eq!(r.report.exit_code(), 0);
    assert!(r.log("hello").contains("hello from nestci in /workspace"));
    assert_eq!(leftovers(&engine().await, &id).await, vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn steps_share_the_job_filesystem_and_the_workspace() {
    let id = run_id("share");
    let _guard = Guard { run_id: id.clone() };
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  share:
    steps:
      - name: write outside the workspace
        run: echo kept > /tmp/state
      - name: read it back and write to the workspace
        run: cat /tmp/state > from-job.txt
"
    );
    let r = run(Spec::new(&yaml, &id)).await;
    assert_eq!(r.status("share"), JobStatus::Passed, "{}", r.output);
    let written = std::fs::read_to_string(r.workspace().join("from-job.txt"));
    assert_eq!(written.ok().as_deref(), Some("kept\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn env_precedence_pipeline_job_step_command_line() {
    let id = run_id("env");
    let _guard = Guard { run_id: id.clone() };
    let yaml = format!(
        "
image: {BUSYBOX}
env: {{A: pipeline, B: pipeline, C: pipeline, D: pipeline}}
jobs:
  env:
    env: {{B: job, C: job, D: job}}
    steps:
      - env: {{C: step, D: step}}
        run: echo \"A=$A B=$B C=$C D=$D\"
"
    );
    let mut spec = Spec::new(&yaml, &id);
    let mut overrides = Env::new();
    overrides.set("D", "cli", None);
    spec.overrides = overrides;
    let r = run(spec).await;
    assert_eq!(r.status("env"), JobStatus::Passed, "{}", r.output);
    assert!(
        r.output.contains("A=pipeline B=job C=step D=cli"),
        "{}",
        r.output
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_step_fails_the_job_and_the_run_with_its_exit_code() {
    let id = run_id("fail");
    let _guard = Guard { run_id: id.clone() };
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  broken:
    steps:
      - run: echo before; exit 3
      - name: never runs
        run: echo SHOULD-NOT-RUN
      - name: cleanup step
        when: on_failure
        run: echo reacting to the failure
  after:
    needs: [broken]
    steps: [echo never]
"
    );
    let r = run(Spec::new(&yaml, &id)).await;
    assert_eq!(r.status("broken"), JobStatus::Failed, "{}", r.output);
    assert!(
        r.message("broken").contains("exit code 3"),
        "{}",
        r.message("broken")
    );
    assert_eq!(r.status("after"), JobStatus::Skipped);
    assert!(!r.output.contains("SHOULD-NOT-RUN"), "{}", r.output);
    assert!(r.output.contains("reacting to the failure"), "{}", r.output);
    assert_eq!(r.report.exit_code(), 1);
    assert_eq!(leftovers(&engine().await, &id).await, vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_step_with_its_own_image_shares_only_the_workspace() {
    let id = run_id("stepimg");
    let _guard = Guard { run_id: id.clone() };
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  mixed:
    steps:
      - name: in the job container
        run: echo job > /tmp/only-in-job; echo from-job > shared.txt
      - name: in a container of its own
        image: {BUSYBOX}
        run: |
          test ! -e /tmp/only-in-job
          echo \"own container sees $(cat shared.txt)\"
          echo from-step >> shared.txt
      - name: back in the job container
        run: test -e /tmp/only-in-job && cat shared.txt
"
    );
    let r = run(Spec::new(&yaml, &id)).await;
    assert_eq!(r.status("mixed"), JobStatus::Passed, "{}", r.output);
    assert!(
        r.output.contains("own container sees from-job"),
        "{}",
        r.output
    );
    let shared = std::fs::read_to_string(r.workspace().join("shared.txt"));
    assert_eq!(shared.ok().as_deref(), Some("from-job\nfrom-step\n"));
    assert_eq!(leftovers(&engine().await, &id).await, vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_step_image_reports_its_exit_code() {
    let id = run_id("stepimgfail");
    let _guard = Guard { run_id: id.clone() };
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  j:
    steps:
      - image: {BUSYBOX}
        run: exit 7
"
    );
    let r = run(Spec::new(&yaml, &id)).await;
    assert_eq!(r.status("j"), JobStatus::Failed, "{}", r.output);
    assert!(r.message("j").contains("exit code 7"), "{}", r.message("j"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_is_reachable_by_its_alias() {
    let id = run_id("service");
    let _guard = Guard { run_id: id.clone() };
    // Readiness is "running"; httpd may need a moment more to listen, so
    // the step retries the connection a bounded number of times.
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  web:
    services:
      - image: {BUSYBOX}
        alias: web
        command: [sh, -c, 'mkdir -p /www && echo served-by-httpd > /www/index.html && exec httpd -f -p 8080 -h /www']
    steps:
      - run: |
          i=0
          until wget -q -O - http://web:8080/index.html; do
            i=$((i + 1)); [ $i -lt 100 ] || exit 1; sleep 0.1
          done
      # A step in a container of its own reaches the service too.
      - image: {BUSYBOX}
        run: echo \"image step got $(wget -q -O - http://web:8080/index.html)\"
"
    );
    let r = run(Spec::new(&yaml, &id)).await;
    assert_eq!(r.status("web"), JobStatus::Passed, "{}", r.output);
    assert!(r.output.contains("served-by-httpd"), "{}", r.output);
    assert!(
        r.output.contains("image step got served-by-httpd"),
        "{}",
        r.output
    );
    assert_eq!(leftovers(&engine().await, &id).await, vec![]);
}

/// httpd starts listening a second after its container runs; the step
/// fetches once, without retrying, so it passes only because nestci
/// waited for the port.
#[tokio::test(flavor = "multi_thread")]
async fn a_service_port_is_waited_for_before_the_first_step() {
    let id = run_id("svcport");
    let _guard = Guard { run_id: id.clone() };
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  web:
    services:
      - image: {BUSYBOX}
        alias: late-web
        ports: [8080]
        command: [sh, -c, 'mkdir -p /www && echo served-late > /www/index.html && sleep 1 && exec httpd -f -p 8080 -h /www']
    steps:
      - run: wget -q -O - http://late-web:8080/index.html
"
    );
    let r = run(Spec::new(&yaml, &id)).await;
    assert_eq!(r.status("web"), JobStatus::Passed, "{}", r.output);
    assert!(r.output.contains("served-late"), "{}", r.output);
    assert_eq!(leftovers(&engine().await, &id).await, vec![]);
}

/// A port that never opens fails the job once the service timeout has
/// passed, naming the service, the port and what the service logged.
#[tokio::test(flavor = "multi_thread")]
async fn a_service_port_that_never_opens_fails_the_job_with_its_log() {
    let id = run_id("svcnoport");
    let _guard = Guard { run_id: id.clone() };
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  j:
    services:
      - image: {BUSYBOX}
        alias: mute
        ports: [5432]
        command: [sh, -c, 'echo database-refuses-to-listen; exec sleep 600']
    steps: [echo never]
"
    );
    let mut spec = Spec::new(&yaml, &id);
    spec.options.service_timeout = std::time::Duration::from_secs(2);
    let r = run(spec).await;
    assert_eq!(r.status("j"), JobStatus::Failed, "{}", r.output);
    let m = r.message("j");
    assert!(m.contains("service `mute`"), "{m}");
    assert!(m.contains("port 5432"), "{m}");
    assert!(m.contains("database-refuses-to-listen"), "{m}");
    assert!(!r.output.contains("never"), "{}", r.output);
    assert_eq!(leftovers(&engine().await, &id).await, vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_cannot_start_fails_the_job_with_a_reason() {
    let id = run_id("svcdies");
    let _guard = Guard { run_id: id.clone() };
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  j:
    services:
      - image: {BUSYBOX}
        alias: db
        command: [no-such-program]
    steps: [echo never]
"
    );
    let r = run(Spec::new(&yaml, &id)).await;
    assert_eq!(r.status("j"), JobStatus::Failed, "{}", r.output);
    let m = r.message("j");
    // nestci names the service; the daemon says what went wrong.
    assert!(
        m.contains("service `db`") && m.contains("no-such-program"),
        "{m}"
    );
    assert!(!r.output.contains("never"), "{}", r.output);
    assert_eq!(leftovers(&engine().await, &id).await, vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_step_timeout_kills_the_step_and_later_steps_still_run() {
    let id = run_id("steptimeout");
    let _guard = Guard { run_id: id.clone() };
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  slow:
    steps:
      - name: sleeps too long
        timeout: 1s
        run: sleep 600
      - name: always runs
        when: always
        run: echo the job container survived
"
    );
    let r = run(Spec::new(&yaml, &id)).await;
    assert_eq!(r.status("slow"), JobStatus::TimedOut, "{}", r.output);
    assert!(
        r.message("slow").contains("timed out after 1s"),
        "{}",
        r.message("slow")
    );
    assert!(
        r.output.contains("the job container survived"),
        "{}",
        r.output
    );
    assert_eq!(leftovers(&engine().await, &id).await, vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_timeout_stops_a_step_in_its_own_container() {
    let id = run_id("jobtimeout");
    let _guard = Guard { run_id: id.clone() };
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  slow:
    timeout: 1s
    steps:
      - image: {BUSYBOX}
        run: sleep 600
"
    );
    let r = run(Spec::new(&yaml, &id)).await;
    assert_eq!(r.status("slow"), JobStatus::TimedOut, "{}", r.output);
    assert!(
        r.message("slow").contains("timed out after 1s"),
        "{}",
        r.message("slow")
    );
    assert_eq!(leftovers(&engine().await, &id).await, vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_during_a_step_leaves_zero_labelled_objects() {
    let id = run_id("cancel");
    let _guard = Guard { run_id: id.clone() };
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  a:
    services:
      - image: {BUSYBOX}
        alias: idle
        command: [sleep, '600']
    steps:
      - run: echo STEP-IS-$(echo RUNNING); sleep 600
  b:
    steps:
      - image: {BUSYBOX}
        run: echo STEP-IS-$(echo RUNNING); sleep 600
"
    );
    let spec = Spec::new(&yaml, &id);
    // Cancel once both jobs' steps have printed the marker. The scripts
    // spell it `STEP-IS-$(echo RUNNING)` so that the step-name lines
    // nestci prints before running them do not count.
    let cancel = spec.cancel.clone();
    spec.capture.cancel_on("STEP-IS-RUNNING", 2, cancel.clone());
    let engine = engine().await;
    let r = run(spec).await;
    assert!(r.report.cancelled);
    for job in ["a", "b"] {
        assert!(
            matches!(r.status(job), JobStatus::Cancelled),
            "{job}: {:?}\n{}",
            r.status(job),
            r.output
        );
    }
    assert_eq!(r.report.exit_code(), nestci::run::EXIT_CANCELLED);
    assert_eq!(leftovers(&engine, &id).await, vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_jobs_run_at_the_same_time() {
    let id = run_id("parallel");
    let _guard = Guard { run_id: id.clone() };
    // A barrier in the shared workspace: each job arrives, then waits
    // (bounded) until all four have arrived — possible only if all four
    // run at once.
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  j:
    matrix:
      N: ['1', '2', '3', '4']
    steps:
      - run: |
          touch arrived-$N
          i=0
          while [ $(ls arrived-* | wc -l) -lt 4 ]; do
            i=$((i + 1)); [ $i -lt 600 ] || exit 1; sleep 0.05
          done
          echo \"job $N met the others\"
"
    );
    let mut spec = Spec::new(&yaml, &id);
    spec.jobs = 4;
    let r = run(spec).await;
    assert_eq!(r.report.jobs.len(), 4);
    for j in &r.report.jobs {
        assert_eq!(j.status, JobStatus::Passed, "{}: {}", j.name, r.output);
    }
    for n in 1..=4 {
        assert!(
            r.output.contains(&format!("job {n} met the others")),
            "{}",
            r.output
        );
    }
    assert_eq!(leftovers(&engine().await, &id).await, vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_policy_never_names_the_missing_image() {
    let id = run_id("never");
    let _guard = Guard { run_id: id.clone() };
    let yaml = "
image: nestci-test/not-there:1
jobs:
  j:
    steps: [echo never]
";
    let mut spec = Spec::new(yaml, &id);
    spec.options = DoodOptions {
        pull: PullPolicy::Never,
        ..support::options()
    };
    let r = run(spec).await;
    assert_eq!(r.status("j"), JobStatus::Failed);
    let m = r.message("j");
    assert!(
        m.contains("nestci-test/not-there:1")
            && m.contains("not found locally and the pull policy is `never`"),
        "{m}"
    );
    assert_eq!(leftovers(&engine().await, &id).await, vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_pull_carries_the_daemons_message() {
    let id = run_id("pullfail");
    let _guard = Guard { run_id: id.clone() };
    let yaml = "
image: nestci-test/not-there:1
jobs:
  j:
    steps: [echo never]
";
    let mut spec = Spec::new(yaml, &id);
    spec.options = DoodOptions {
        pull: PullPolicy::IfNotPresent,
        ..support::options()
    };
    let r = run(spec).await;
    assert_eq!(r.status("j"), JobStatus::Failed);
    let m = r.message("j");
    // No registry is reachable here: the daemon says why, and we pass it on.
    assert!(m.contains("pull failed") && m.contains("not-there"), "{m}");
}

#[tokio::test(flavor = "multi_thread")]
async fn image_host_says_what_to_do_in_dood_mode() {
    let id = run_id("host");
    let _guard = Guard { run_id: id.clone() };
    let yaml = "
image: host
jobs:
  j:
    steps: [echo never]
";
    let mut spec = Spec::new(yaml, &id);
    spec.options.host_image = None;
    let r = run(spec).await;
    assert_eq!(r.status("j"), JobStatus::Failed);
    let m = r.message("j");
    assert!(
        m.contains("only in dind mode") && m.contains("--image"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn security_settings_reach_the_container() {
    let id = run_id("security");
    let _guard = Guard { run_id: id.clone() };
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  locked:
    security:
      cap_drop: [ALL]
      read_only: true
      user: '1234'
      network: none
    resources: {{memory: 64M, pids: 32}}
    steps:
      - run: |
          echo \"uid=$(id -u)\"
          grep CapEff /proc/self/status
          if touch /not-writable 2>/dev/null; then echo ROOTFS-WRITABLE; fi
          ls /sys/class/net
"
    );
    let r = run(Spec::new(&yaml, &id)).await;
    assert_eq!(r.status("locked"), JobStatus::Passed, "{}", r.output);
    assert!(r.output.contains("uid=1234"), "{}", r.output);
    assert!(
        r.output.contains("CapEff:\t0000000000000000"),
        "{}",
        r.output
    );
    assert!(!r.output.contains("ROOTFS-WRITABLE"), "{}", r.output);
    let ifaces: HashMap<&str, ()> = r
        .output
        .lines()
        .filter_map(|l| l.split('│').nth(1).map(str::trim))
        .filter(|l| *l == "lo" || l.starts_with("eth"))
        .map(|l| (l, ()))
        .collect();
    assert!(
        ifaces.contains_key("lo") && !ifaces.contains_key("eth0"),
        "{}",
        r.output
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cache_is_reused_by_a_later_run() {
    let key = format!("test-cache-{}", std::process::id());
    let volume = nestci::backend::dood::cache_volume(&key, "cache");
    let engine = engine().await;
    // Remove the cache volume however the test ends.
    struct RemoveVolume(String);
    impl Drop for RemoveVolume {
        fn drop(&mut self) {
            let name = self.0.clone();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let engine = nestci::backend::dood::Engine::discover().await.ok()?;
                    engine
                        .call(
                            hyper::Method::DELETE,
                            &format!("/volumes/{name}?force=true"),
                            nestci::backend::dood::client::Body::None,
                        )
                        .await
                        .ok()
                })
            })
            .join();
        }
    }
    let _volume = RemoveVolume(volume.clone());
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  build:
    cache:
      key: {key}
      paths: [cache]
    steps:
      - run: |
          if [ -e cache/stamp ]; then echo \"HIT $(cat cache/stamp)\"; else echo MISS; fi
          echo \"$RUN\" > cache/stamp
"
    );
    let mut outputs = Vec::new();
    for n in ["first", "second"] {
        let id = run_id("cache");
        let _guard = Guard { run_id: id.clone() };
        let mut spec = Spec::new(&yaml, &id);
        let mut env = Env::new();
        env.set("RUN", n, None);
        spec.overrides = env;
        let r = run(spec).await;
        assert_eq!(r.status("build"), JobStatus::Passed, "{}", r.output);
        outputs.push(r.output);
        assert_eq!(leftovers(&engine, &id).await, vec![]);
    }
    assert!(outputs[0].contains("MISS"), "{}", outputs[0]);
    assert!(outputs[1].contains("HIT first"), "{}", outputs[1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn artifacts_are_copied_out_and_handed_to_the_jobs_that_need_them() {
    let id = run_id("artifacts");
    let _guard = Guard { run_id: id.clone() };
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  produce:
    steps:
      - run: |
          mkdir -p out/tree/deep
          echo one > out/a.txt
          echo two > out/tree/deep/b.txt
    artifacts:
      paths: [out/a.txt, out/tree, not-there.txt]
  consume:
    needs: [produce]
    steps:
      - run: cat out/a.txt out/tree/deep/b.txt
"
    );
    let r = run(Spec::new(&yaml, &id)).await;
    assert_eq!(r.status("produce"), JobStatus::Passed, "{}", r.output);
    assert_eq!(r.status("consume"), JobStatus::Passed, "{}", r.output);
    let saved = r
        .workspace()
        .join(".nestci/artifacts")
        .join(&id)
        .join("produce");
    let read = |p: &str| std::fs::read_to_string(saved.join(p)).unwrap_or_default();
    assert_eq!(read("out/a.txt"), "one\n");
    assert_eq!(read("out/tree/deep/b.txt"), "two\n");
    assert!(
        r.output.contains("2 artifact path(s) saved"),
        "{}",
        r.output
    );
    assert!(
        r.output.contains("artifact `not-there.txt`: no such file"),
        "{}",
        r.output
    );
    assert_eq!(leftovers(&engine().await, &id).await, vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn seccomp_and_systempaths_unconfined_reach_the_container() {
    let id = run_id("unconfined");
    let _guard = Guard { run_id: id.clone() };
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  confined:
    steps:
      - run: |
          echo \"masked=$(grep -cE ' /proc/(sys|keys) ' /proc/self/mountinfo)\"
          grep Seccomp: /proc/self/status
  unconfined:
    security:
      seccomp: unconfined
      systempaths: unconfined
    steps:
      - run: |
          echo \"masked=$(grep -cE ' /proc/(sys|keys) ' /proc/self/mountinfo)\"
          grep Seccomp: /proc/self/status
"
    );
    let r = run(Spec::new(&yaml, &id)).await;
    assert_eq!(r.status("confined"), JobStatus::Passed, "{}", r.output);
    assert_eq!(r.status("unconfined"), JobStatus::Passed, "{}", r.output);
    let confined = r.log("confined");
    let unconfined = r.log("unconfined");
    assert!(
        confined.contains("masked=2") && confined.contains("Seccomp:\t2"),
        "{confined}"
    );
    assert!(
        unconfined.contains("masked=0") && unconfined.contains("Seccomp:\t0"),
        "{unconfined}"
    );
}

/// Pushed to the local registry by `scripts/test-env.sh`.
const REGISTRY_IMAGE: &str = "127.0.0.1:5000/nestci-test/busybox:latest";

#[tokio::test(flavor = "multi_thread")]
async fn pull_policies_against_a_local_registry() {
    let engine = engine().await;
    // Start from "absent locally" (untag only: the layers stay shared).
    match engine
        .call(
            hyper::Method::DELETE,
            &format!(
                "/images/{}?noprune=true",
                nestci::backend::dood::client::encode(REGISTRY_IMAGE)
            ),
            nestci::backend::dood::client::Body::None,
        )
        .await
    {
        Ok(()) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => panic!("untagging {REGISTRY_IMAGE}: {e}"),
    }
    let yaml = format!(
        "
image: {REGISTRY_IMAGE}
jobs:
  j:
    steps: [echo ran]
"
    );
    let mut pulled = Vec::new();
    for policy in [
        PullPolicy::Never,
        PullPolicy::IfNotPresent,
        PullPolicy::IfNotPresent,
        PullPolicy::Always,
    ] {
        let id = run_id("pull");
        let _guard = Guard { run_id: id.clone() };
        let mut spec = Spec::new(&yaml, &id);
        spec.options.pull = policy;
        let r = run(spec).await;
        let expected = if policy == PullPolicy::Never {
            JobStatus::Failed
        } else {
            JobStatus::Passed
        };
        assert_eq!(r.status("j"), expected, "{policy:?}: {}", r.output);
        pulled.push(r.output.contains(&format!("pulling {REGISTRY_IMAGE}")));
        if policy == PullPolicy::Always {
            // Progress from the daemon's stream, shown once per change.
            assert!(r.output.contains("Status:"), "{}", r.output);
        }
    }
    // never: nothing pulled (and failed); if-not-present: pulled once,
    // then found; always: pulled although present.
    assert_eq!(pulled, vec![false, true, false, true]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_with_a_healthcheck_is_waited_for_until_healthy() {
    let engine = engine().await;
    let image = support::healthy_web_image(engine.endpoint().clone()).await;
    let run_id = run_id("healthy");
    let _guard = Guard {
        run_id: run_id.clone(),
    };
    // httpd starts a second after the container: "running" comes long
    // before "healthy", so a single wget passes only if nestci waited.
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  j:
    services:
      - image: {}
        alias: slow-web
        command: [sh, -c, 'mkdir -p /www && echo healthy > /www/index.html && sleep 1 && exec httpd -f -p 8080 -h /www']
    steps:
      - run: wget -q -O - http://slow-web:8080/index.html
",
        image.name
    );
    let r = run(Spec::new(&yaml, &run_id)).await;
    assert_eq!(r.status("j"), JobStatus::Passed, "{}", r.output);
    assert!(r.output.contains("healthy"), "{}", r.output);
    assert_eq!(leftovers(&engine, &run_id).await, vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_while_preparing_leaves_zero_labelled_objects() {
    let id = run_id("cancel-prepare");
    let _guard = Guard { run_id: id.clone() };
    // Cancel as soon as the first service is up: the rest of `prepare`
    // (a second service, the job container) is cut short wherever it is.
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  j:
    services:
      - image: {BUSYBOX}
        alias: one
        command: [sleep, '600']
      - image: {BUSYBOX}
        alias: two
        command: [sleep, '600']
    steps: [echo SHOULD-NOT-RUN]
"
    );
    let spec = Spec::new(&yaml, &id);
    spec.capture
        .cancel_on("service one", 1, spec.cancel.clone());
    let r = run(spec).await;
    assert!(r.report.cancelled);
    assert_eq!(r.status("j"), JobStatus::Cancelled, "{}", r.output);
    assert!(!r.output.contains("│ SHOULD-NOT-RUN"), "{}", r.output);
    assert_eq!(leftovers(&engine().await, &id).await, vec![]);
}

/// GitLab's artifact passing over three stages. The workspace is shared,
/// so `clobber` deletes what `build` left there; a job then has the file
/// only when its artifacts are handed to it: every job of earlier stages
/// by default, none with `dependencies: []`, none from a need with
/// `artifacts: false`. `--jobs 1` runs the last stage in file order, so the
/// job that receives the file runs after the two that must not see it.
const GITLAB_ARTIFACTS: &str = include_str!("pipelines/gitlab-artifacts.gitlab-ci.yml");

#[tokio::test(flavor = "multi_thread")]
async fn gitlab_jobs_receive_the_artifacts_of_earlier_stages() {
    let id = run_id("gl-artifacts");
    let _guard = Guard { run_id: id.clone() };
    let yaml = format!("image: {BUSYBOX}\n{GITLAB_ARTIFACTS}");
    let mut spec = Spec::new(&yaml, &id);
    spec.jobs = 1;
    let r = run(spec).await;
    for job in ["build", "clobber", "without", "need-without", "with"] {
        assert_eq!(r.status(job), JobStatus::Passed, "{job}: {}", r.output);
    }
    assert_eq!(
        std::fs::read_to_string(r.workspace().join("out/a.txt")).unwrap_or_default(),
        "built\n",
        "restored into the shared workspace by `with`"
    );
    assert_eq!(leftovers(&engine().await, &id).await, vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn gitlab_exit_codes_allow_only_the_listed_failures() {
    let id = run_id("gl-exit-codes");
    let _guard = Guard { run_id: id.clone() };
    let yaml = format!(
        "
image: {BUSYBOX}
allowed:
  script: [exit 137]
  allow_failure: {{exit_codes: [137, 255]}}
refused:
  script: [exit 3]
  allow_failure: {{exit_codes: 137}}
"
    );
    let r = run(Spec::new(&yaml, &id)).await;
    assert_eq!(
        r.status("allowed"),
        JobStatus::FailedAllowed,
        "{}",
        r.output
    );
    assert!(
        r.message("allowed").contains("exit code 137"),
        "{}",
        r.message("allowed")
    );
    assert_eq!(r.status("refused"), JobStatus::Failed, "{}", r.output);
    assert_eq!(r.report.exit_code(), 1);
    assert_eq!(leftovers(&engine().await, &id).await, vec![]);
}
