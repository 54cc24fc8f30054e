//! The "DinD" promise: nestci's dind mode inside a container made by the
//! host's Docker Engine, without `--privileged`. The minimum on this kind
//! of host is two security options (see docker/README.md):
//!
//! * `seccomp=unconfined`: Docker's default profile refuses `clone` with
//!   namespace flags to a container without CAP_SYS_ADMIN;
//! * `systempaths=unconfined`: Docker masks parts of /proc, and the kernel
//!   lets a user namespace mount a fresh procfs only while a fully visible
//!   one exists in its mount namespace.
//!
//! The container runs the runner image of docker/runner/Dockerfile, built by
//! scripts/runner-image.sh from this test's nestci binary on the Debian
//! image that scripts/test-env.sh imports (nestci-test/debian:bookworm).
//! The test speaks the Engine API through curl and removes the container
//! and the image it built, whatever happens.

mod dind_common;

use std::path::Path;
use std::process::Command;

const API: &str = "http://localhost/v1.41";

fn socket() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
        .unwrap_or_else(|| "/var/run/docker.sock".into())
}

/// One Engine API call: (HTTP status, body).
fn api(method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "--silent",
        "--show-error",
        "--unix-socket",
        &socket(),
        "-X",
        method,
    ])
    .args(["-w", "\n%{http_code}"]);
    if let Some(body) = body {
        cmd.args([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
        ]);
    }
    let out = cmd.arg(format!("{API}{path}")).output().expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "000"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Removes the container whatever happens.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = api("DELETE", &format!("/containers/{}?force=1", self.0), None);
    }
}

/// Removes the image whatever happens.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = api("DELETE", &format!("/images/{}?force=1", self.0), None);
    }
}

/// Build the runner image from docker/runner/Dockerfile with this test's
/// nestci binary, under a tag of this test process's own.
fn build_runner_image() -> Image {
    let tag = format!("nestci-test/runner:test-{}", std::process::id());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/runner-image.sh");
    let out = Command::new(&script)
        .args(["--binary", env!("CARGO_BIN_EXE_nestci")])
        .args(["--base", "nestci-test/debian:bookworm"])
        .args(["--tag", &tag])
        .output()
        .expect("run scripts/runner-image.sh");
    let image = Image(tag);
    assert!(
        out.status.success(),
        "building the runner image failed (run scripts/test-env.sh first):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    image
}

/// Run p.yml in a container of the runner image; `seccomp_unconfined` is
/// `--security-opt seccomp=unconfined`, `system_paths_unconfined` is
/// `--security-opt systempaths=unconfined`, which the API spells as empty
/// `MaskedPaths` and `ReadonlyPaths`.
fn run_nested(
    image: &Image,
    sandbox: &dind_common::Sandbox,
    seccomp_unconfined: bool,
    system_paths_unconfined: bool,
) -> (i64, String) {
    let ws = sandbox.workspace();
    let security_opt: Vec<&str> = if seccomp_unconfined {
        vec!["seccomp=unconfined"]
    } else {
        Vec::new()
    };
    let mut body = serde_json::json!({
        "Image": image.0,
        // The image's entrypoint is nestci and its workdir /workspace.
        "Cmd": ["run", "p.yml", "--mode", "dind", "--color", "never"],
        "Labels": {"org.nestci.test": "dind_nested"},
        "HostConfig": {
            "Binds": [format!("{}:/workspace", ws.display())],
            "SecurityOpt": security_opt,
            "Privileged": false,
        }
    });
    if system_paths_unconfined {
        body["HostConfig"]["MaskedPaths"] = serde_json::json!([]);
        body["HostConfig"]["ReadonlyPaths"] = serde_json::json!([]);
    }
    let (code, created) = api("POST", "/containers/create", Some(&body.to_string()));
    assert_eq!(code, 201, "create: {created}");
    let id = serde_json::from_str::<serde_json::Value>(&created).expect("json")["Id"]
        .as_str()
        .expect("Id")
        .to_string();
    let container = Container(id);
    let (code, started) = api("POST", &format!("/containers/{}/start", container.0), None);
    assert_eq!(code, 204, "start: {started}");
    let (code, waited) = api("POST", &format!("/containers/{}/wait", container.0), None);
    assert_eq!(code, 200, "wait: {waited}");
    let status = serde_json::from_str::<serde_json::Value>(&waited).expect("json")["StatusCode"]
        .as_i64()
        .expect("StatusCode");
    let (_, logs) = api(
        "GET",
        &format!("/containers/{}/logs?stdout=1&stderr=1", container.0),
        None,
    );
    (status, logs)
}

#[test]
fn dind_runs_inside_an_unprivileged_docker_container() {
    let sandbox = dind_common::Sandbox::new("name: unused\njobs: {}\n");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixtures/busybox-rootfs.tar");
    assert!(fixture.is_file(), "run scripts/test-env.sh first");
    std::fs::copy(&fixture, sandbox.workspace().join("busybox-rootfs.tar")).expect("copy fixture");
    std::fs::write(
        sandbox.workspace().join("p.yml"),
        r#"
name: nested
jobs:
  inner:
    image: ./busybox-rootfs.tar
    steps:
      - run: |
          echo "inner_map=$(head -n1 /proc/self/uid_map | tr -s ' ' | sed 's/^ //')"
          echo "inner_seccomp=$(grep '^Seccomp:' /proc/self/status | cut -f2)"
  on-host:
    # The `host` image: the runner container's own Debian userland.
    steps:
      - run: |
          echo "host_bash=$(bash -c 'echo $BASH_VERSINFO')"
          echo "host_uid=$(id -u) host_map=$(head -n1 /proc/self/uid_map | tr -s ' ' | sed 's/^ //')"
"#,
    )
    .expect("write pipeline");

    let image = build_runner_image();
    let (status, logs) = run_nested(&image, &sandbox, true, true);
    assert_eq!(status, 0, "nestci inside Docker failed:\n{logs}");
    assert!(logs.contains("inner_map=0 100000 65536"), "{logs}");
    assert!(logs.contains("host_bash=5"), "{logs}");
    assert!(
        logs.contains("host_uid=0 host_map=0 100000 65536"),
        "{logs}"
    );
    assert!(
        logs.contains("inner_seccomp=2"),
        "the inner step is filtered too:\n{logs}"
    );

    // And each option is needed: without seccomp=unconfined the
    // namespaces are refused, without systempaths=unconfined the fresh
    // /proc is.
    let (status, logs) = run_nested(&image, &sandbox, false, true);
    assert_ne!(status, 0, "{logs}");
    assert!(
        logs.contains("cannot create the job's namespaces"),
        "{logs}"
    );
    let (status, logs) = run_nested(&image, &sandbox, true, false);
    assert_ne!(status, 0, "{logs}");
    assert!(logs.contains("mounting proc on /proc"), "{logs}");
}
