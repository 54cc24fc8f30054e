//! The `nestci` binary in dood mode: a pipeline from pipelines/, the
//! message for an unreachable daemon, and `nestci gc` on a crashed run's
//! leftovers.

#[path = "dood_support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use hyper::Method;
use nestci::backend::dood::Engine;
use nestci::backend::dood::client::Body;

use support::{BUSYBOX, Guard, engine, leftovers, run_id};

fn nestci() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nestci"))
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_hello_example_runs_in_dood_mode_with_an_image_for_host() {
    let ws = tempfile::tempdir().expect("tempdir");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/hello.yml");
    let out = nestci()
        .args([
            "run", "--mode", "dood", "--pull", "never", "--image", BUSYBOX,
        ])
        .arg(&example)
        .arg("--workspace")
        .arg(ws.path())
        .output()
        .expect("run nestci");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let greeting =
        std::fs::read_to_string(ws.path().join("target/nestci-examples/hello/greeting.txt"))
            .unwrap_or_default();
    assert!(greeting.starts_with("hello from nestci"), "{greeting}");
}

#[test]
fn the_fan_out_example_runs_in_dood_mode() {
    // Needs the project's sources in the workspace: copy src/ over.
    let ws = tempfile::tempdir().expect("tempdir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&root.join("src"), &ws.path().join("src"));
    let out = nestci()
        .args([
            "run", "--mode", "dood", "--pull", "never", "--image", BUSYBOX,
        ])
        .arg(root.join("pipelines/fan-out.yml"))
        .arg("--workspace")
        .arg(ws.path())
        .output()
        .expect("run nestci");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report =
        std::fs::read_to_string(ws.path().join("target/nestci-examples/fan-out/report.txt"))
            .unwrap_or_default();
    assert!(report.contains("source files:"), "{report}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if path.is_dir() {
            copy_dir(&path, &dest);
        } else {
            std::fs::copy(&path, &dest).expect("copy");
        }
    }
}

#[test]
fn an_absent_socket_is_named_in_one_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("docker.sock");
    let out = nestci()
        .args(["run", "--mode", "dood", "--image", BUSYBOX])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/hello.yml"))
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .output()
        .expect("run nestci");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains(&sock.display().to_string()), "{t}");
    assert!(t.contains("no socket there"), "{t}");
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn a_bad_docker_host_says_what_is_supported() {
    let out = nestci()
        .args(["run", "--mode", "dood"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/hello.yml"))
        .env("DOCKER_HOST", "ssh://me@far")
        .output()
        .expect("run nestci");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains("ssh://me@far") && t.contains("tcp://host:port"),
        "{t}"
    );
}

/// Create a labelled network and container as a crashed run would have
/// left them: owner pid 0, which is never alive.
async fn fake_leftovers(engine: &Engine, run: &str, owner: &str) {
    let mut labels = HashMap::new();
    labels.insert("nestci.run".to_string(), run.to_string());
    labels.insert("nestci.job".to_string(), "crashed".to_string());
    labels.insert("nestci.owner".to_string(), owner.to_string());
    let net = serde_json::json!({
        "Name": format!("nestci-{run}"),
        "Driver": "bridge",
        "Labels": labels,
    });
    let _: serde_json::Value = engine
        .json(Method::POST, "/networks/create", Body::json(&net))
        .await
        .expect("create network");
    let container = serde_json::json!({
        "Image": BUSYBOX,
        "Cmd": ["sleep", "600"],
        "Labels": labels,
    });
    let created: serde_json::Value = engine
        .json(Method::POST, "/containers/create", Body::json(&container))
        .await
        .expect("create container");
    let id = created["Id"].as_str().expect("id").to_string();
    engine
        .call(Method::POST, &format!("/containers/{id}/start"), Body::None)
        .await
        .expect("start");
}

fn this_host() -> String {
    let owner = nestci::backend::dood::owner();
    owner
        .rsplit_once('/')
        .map(|(h, _)| h.to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn gc_removes_a_crashed_runs_leftovers_and_says_so() {
    let dead = run_id("gc-dead");
    let live = run_id("gc-live");
    let _g1 = Guard {
        run_id: dead.clone(),
    };
    let _g2 = Guard {
        run_id: live.clone(),
    };
    let engine = engine().await;
    fake_leftovers(&engine, &dead, &format!("{}/0", this_host())).await;
    // Owned by this very test process: a run still going.
    fake_leftovers(&engine, &live, &nestci::backend::dood::owner()).await;
    assert_eq!(leftovers(&engine, &dead).await.len(), 2);

    for run in [&dead, &live] {
        let out = nestci()
            .args(["gc", "--run", run])
            .output()
            .expect("run nestci gc");
        let t = text(&out);
        assert_eq!(out.status.code(), Some(0), "{t}");
        if run == &dead {
            assert!(t.contains("removed container"), "{t}");
            assert!(t.contains("removed network"), "{t}");
            assert!(t.contains(dead.as_str()), "{t}");
        } else {
            assert!(t.contains("kept 2 object(s)"), "{t}");
        }
    }
    assert_eq!(leftovers(&engine, &dead).await, vec![]);
    assert_eq!(leftovers(&engine, &live).await.len(), 2);

    let out = nestci()
        .args(["gc", "--all", "--run", &live])
        .output()
        .expect("run nestci gc --all");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(leftovers(&engine, &live).await, vec![]);
}

#[test]
fn doctor_names_the_engine_it_found() {
    for (host, name) in [
        (None, "Docker Engine"),
        (Some("unix:///run/podman/podman.sock"), "Podman"),
    ] {
        let mut cmd = nestci();
        cmd.arg("doctor");
        if let Some(h) = host {
            cmd.env("DOCKER_HOST", h);
        }
        let out = cmd.output().expect("run nestci doctor");
        let t = text(&out);
        let line = t
            .lines()
            .find(|l| l.starts_with("Docker daemon"))
            .unwrap_or_else(|| panic!("no Docker daemon line: {t}"));
        assert!(line.contains(name) && line.contains("(API 1."), "{line}");
    }
}
