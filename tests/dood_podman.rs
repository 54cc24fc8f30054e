//! The dood backend against Podman's Docker-compatible service
//! (`podman system service` on /run/podman/podman.sock, started by
//! `scripts/test-env.sh`). A missing service is a failure, not a skip.

#[path = "dood_support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;

use nestci::backend::dood::{Flavor, client};
use nestci::run::JobStatus;

use support::{BUSYBOX, GuardAt, Spec, engine_at, leftovers, podman, run, run_id};

fn on_podman(spec: &mut Spec<'_>) {
    spec.options.endpoint = Some(podman());
}

#[tokio::test(flavor = "multi_thread")]
async fn podman_is_recognised_and_speaks_api_1_41_or_newer() {
    let engine = engine_at(podman()).await;
    assert_eq!(engine.info().flavor, Flavor::Podman, "{}", engine.info());
    let api = client::parse_api(&engine.info().api_version);
    assert!(api >= Some(client::API_VERSION), "{}", engine.info());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_with_a_service_a_step_image_and_artifacts_runs_on_podman() {
    let id = run_id("podman-job");
    let _guard = GuardAt {
        run_id: id.clone(),
        endpoint: podman(),
    };
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  build:
    services:
      - image: {BUSYBOX}
        alias: web
        command: [sh, -c, 'mkdir -p /www && echo served-by-podman > /www/index.html && exec httpd -f -p 8080 -h /www']
    steps:
      - run: |
          i=0
          until wget -q -O page.txt http://web:8080/index.html; do
            i=$((i + 1)); [ $i -lt 100 ] || exit 1; sleep 0.1
          done
      - image: {BUSYBOX}
        run: echo \"step container read $(cat page.txt), fetched $(wget -q -O - http://web:8080/index.html)\"
    artifacts:
      paths: [page.txt]
  after:
    needs: [build]
    steps:
      - run: exit 5
"
    );
    let mut spec = Spec::new(&yaml, &id);
    on_podman(&mut spec);
    let r = run(spec).await;
    assert_eq!(r.status("build"), JobStatus::Passed, "{}", r.output);
    assert!(
        r.output
            .contains("step container read served-by-podman, fetched served-by-podman"),
        "{}",
        r.output
    );
    let saved = r
        .workspace()
        .join(".nestci/artifacts")
        .join(&id)
        .join("build/page.txt");
    assert_eq!(
        std::fs::read_to_string(saved).ok().as_deref(),
        Some("served-by-podman\n")
    );
    assert_eq!(r.status("after"), JobStatus::Failed);
    assert!(
        r.message("after").contains("exit code 5"),
        "{}",
        r.message("after")
    );
    assert_eq!(leftovers(&engine_at(podman()).await, &id).await, vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_on_podman_leaves_zero_labelled_objects() {
    let id = run_id("podman-cancel");
    let _guard = GuardAt {
        run_id: id.clone(),
        endpoint: podman(),
    };
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  a:
    steps:
      - run: echo STEP-IS-$(echo RUNNING); sleep 600
  b:
    steps:
      - image: {BUSYBOX}
        run: echo STEP-IS-$(echo RUNNING); sleep 600
"
    );
    let mut spec = Spec::new(&yaml, &id);
    on_podman(&mut spec);
    spec.capture
        .cancel_on("STEP-IS-RUNNING", 2, spec.cancel.clone());
    let r = run(spec).await;
    assert!(r.report.cancelled);
    assert_eq!(r.status("a"), JobStatus::Cancelled, "{}", r.output);
    assert_eq!(r.status("b"), JobStatus::Cancelled, "{}", r.output);
    assert_eq!(leftovers(&engine_at(podman()).await, &id).await, vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_step_timeout_on_podman_keeps_the_job_container_usable() {
    let id = run_id("podman-timeout");
    let _guard = GuardAt {
        run_id: id.clone(),
        endpoint: podman(),
    };
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  slow:
    steps:
      - timeout: 1s
        run: sleep 600
      - when: always
        run: echo still here
"
    );
    let mut spec = Spec::new(&yaml, &id);
    on_podman(&mut spec);
    let r = run(spec).await;
    assert_eq!(r.status("slow"), JobStatus::TimedOut, "{}", r.output);
    assert!(r.output.contains("still here"), "{}", r.output);
    assert_eq!(leftovers(&engine_at(podman()).await, &id).await, vec![]);
}

/// The run id the CLI chose, from its log directory.
fn cli_run_id(workspace: &Path) -> String {
    std::fs::read_dir(workspace.join(".nestci/logs"))
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .unwrap_or_else(|| panic!("no run directory under {}", workspace.display()))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pipelines_examples_run_on_podman_through_the_cli() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for example in ["hello.yml", "fan-out.yml"] {
        let ws = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(ws.path().join("src")).expect("mkdir");
        std::fs::write(ws.path().join("src/lib.rs"), "fn main() {}\n").expect("write");
        let out = Command::new(env!("CARGO_BIN_EXE_nestci"))
            .args([
                "run", "--mode", "dood", "--pull", "never", "--image", BUSYBOX,
            ])
            .arg(root.join("pipelines").join(example))
            .arg("--workspace")
            .arg(ws.path())
            .env("DOCKER_HOST", "unix:///run/podman/podman.sock")
            .output()
            .expect("run nestci");
        let id = cli_run_id(ws.path());
        let _guard = GuardAt {
            run_id: id.clone(),
            endpoint: podman(),
        };
        assert_eq!(
            out.status.code(),
            Some(0),
            "{example}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(leftovers(&engine_at(podman()).await, &id).await, vec![]);
    }
}

/// Podman runs healthchecks from systemd timers, which this host (like
/// most CI containers) lacks: left alone, a service's health stays
/// `starting` for ever. nestci runs the check itself through Podman's
/// own API, so the service still turns healthy, and only then does the
/// step (one wget, no retry) run.
#[tokio::test(flavor = "multi_thread")]
async fn a_service_with_a_healthcheck_is_waited_for_until_healthy_on_podman() {
    let image = support::healthy_web_image(podman()).await;
    let id = run_id("podman-healthy");
    let _guard = GuardAt {
        run_id: id.clone(),
        endpoint: podman(),
    };
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  j:
    services:
      - image: {}
        alias: slow-web
        command: [sh, -c, 'mkdir -p /www && echo healthy-on-podman > /www/index.html && sleep 1 && exec httpd -f -p 8080 -h /www']
    steps:
      - run: wget -q -O - http://slow-web:8080/index.html
",
        image.name
    );
    let mut spec = Spec::new(&yaml, &id);
    on_podman(&mut spec);
    let r = run(spec).await;
    assert_eq!(r.status("j"), JobStatus::Passed, "{}", r.output);
    assert!(r.output.contains("healthy-on-podman"), "{}", r.output);
    assert_eq!(leftovers(&engine_at(podman()).await, &id).await, vec![]);
}
