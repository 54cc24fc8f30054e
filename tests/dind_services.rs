//! dind services and image steps: a service runs from its own image in a
//! mount namespace of its own, sharing the job's network namespace (a step
//! reaches it by alias and on localhost); a step with an image of its own
//! runs in that image's root with the job's workspace. Nothing is left
//! behind, service processes included. The busybox fixture comes from
//! scripts/test-env.sh.

mod dind_common;

use std::path::{Path, PathBuf};

use dind_common::Sandbox;

fn fixture() -> PathBuf {
    let tar = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixtures/busybox-rootfs.tar");
    assert!(
        tar.is_file(),
        "{} missing: run scripts/test-env.sh",
        tar.display()
    );
    tar
}

/// A sandbox whose workspace holds the busybox rootfs tarball (its image
/// store is its own, see [`Sandbox::data`]).
fn sandbox(pipeline: &str) -> Sandbox {
    let sandbox = Sandbox::new(pipeline);
    std::fs::copy(fixture(), sandbox.workspace().join("busybox.tar")).expect("copy fixture");
    sandbox
}

/// Write a `docker save` archive to `dest`: the busybox rootfs as the
/// first layer, a second layer that adds `/www/file` and whites out
/// `/bin/vi`, and a config with `config` as its `config` object.
fn docker_archive(dest: &Path, config: serde_json::Value) {
    fn add(builder: &mut tar::Builder<std::fs::File>, path: &str, data: &[u8]) {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, path, data)
            .expect("append");
    }
    let mut top = tar::Builder::new(Vec::new());
    for (path, data, dir) in [
        ("www/", &b""[..], true),
        ("www/file", &b"served-by-httpd\n"[..], false),
        ("bin/.wh.vi", &b""[..], false),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(if dir {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        header.set_size(data.len() as u64);
        header.set_mode(if dir { 0o755 } else { 0o644 });
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        top.append_data(&mut header, path, data).expect("append");
    }
    let top = top.into_inner().expect("layer");
    let config = serde_json::json!({ "config": config, "rootfs": { "type": "layers" } });
    let manifest = serde_json::json!([{
        "Config": "config.json",
        "RepoTags": ["nestci-test/service:latest"],
        "Layers": ["base/layer.tar", "top/layer.tar"],
    }]);
    let mut builder = tar::Builder::new(std::fs::File::create(dest).expect("create archive"));
    add(
        &mut builder,
        "manifest.json",
        manifest.to_string().as_bytes(),
    );
    add(&mut builder, "config.json", config.to_string().as_bytes());
    add(
        &mut builder,
        "base/layer.tar",
        &std::fs::read(fixture()).expect("read fixture"),
    );
    add(&mut builder, "top/layer.tar", &top);
    builder.finish().expect("finish archive");
}

/// Processes whose command line contains `marker`, anywhere on the host.
fn processes_with(marker: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .flatten()
        .filter_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline
                .contains(marker)
                .then(|| format!("{}: {cmdline}", e.file_name().to_string_lossy()))
        })
        .collect()
}

#[test]
fn a_service_is_reachable_by_alias_and_on_localhost() {
    let sandbox = sandbox(
        r#"
name: services
image: ./busybox.tar
jobs:
  fetch:
    services:
      - image: ./web.tar
        alias: web
    steps:
      - run: |
          echo "by_alias=$(wget -q -O - http://web:8080/file)"
          echo "by_localhost=$(wget -q -O - http://localhost:8080/file)"
          echo "hosts=$(grep '^127.0.0.1' /etc/hosts | tr '\t' ' ')"
          echo "own_files=$(ls /www 2>&1 | head -n1)"
"#,
    );
    // The service's command, port and environment come from its image's
    // config; it is ready once port 8080 answers, so the step needs no
    // retries. The marker names its processes for the leftover check.
    docker_archive(
        &sandbox.workspace().join("web.tar"),
        serde_json::json!({
            "Env": ["PATH=/bin", "GREETING=web-started"],
            "Entrypoint": ["sh", "-c"],
            // Not exec'd: this shell, with the marker in its command line,
            // stays as httpd's parent.
            "Cmd": ["echo $GREETING in $(pwd); test ! -e /bin/vi && httpd -f -v -p 8080 -h /www; : www-nestci-svc"],
            "WorkingDir": "/www",
            "ExposedPorts": { "8080/tcp": {} },
        }),
    );
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(
        run.value("fetch", "by_alias").as_deref(),
        Some("served-by-httpd"),
        "{}",
        run.describe()
    );
    assert_eq!(
        run.value("fetch", "by_localhost").as_deref(),
        Some("served-by-httpd")
    );
    assert_eq!(
        run.value("fetch", "hosts").as_deref(),
        Some("127.0.0.1 localhost fetch web")
    );
    // The service's files are in its own root, not the job's.
    let own = run.value("fetch", "own_files").unwrap_or_default();
    assert!(own.contains("No such file"), "{own}\n{}", run.describe());
    // Its output reaches the job's log, prefixed with its alias.
    let lines = run.lines_of("fetch");
    assert!(
        lines.iter().any(|l| l == "[web] web-started in /www"),
        "{}",
        run.describe()
    );
    sandbox.assert_nothing_left();
    let left = processes_with("www-nestci-svc");
    assert!(left.is_empty(), "service processes left: {left:?}");
}

#[test]
fn a_service_that_cannot_start_is_named_with_its_last_output() {
    let sandbox = sandbox(
        r#"
name: broken-service
image: ./busybox.tar
jobs:
  j:
    services:
      - image: ./busybox.tar
        alias: db
        command: [no-such-program-nestci]
    steps:
      - run: echo never-runs
"#,
    );
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(
        run.stdout.contains("service `db` did not start")
            && run.stdout.contains("no-such-program-nestci"),
        "{}",
        run.describe()
    );
    assert!(!run.stdout.contains("never-runs"), "{}", run.describe());
    sandbox.assert_nothing_left();
}

#[test]
fn a_step_with_its_own_image_shares_the_workspace_and_the_network() {
    let sandbox = sandbox(
        r#"
name: image-step
image: host
jobs:
  mixed:
    services:
      - image: ./web.tar
        alias: web
    steps:
      - run: echo from-host > /workspace/a
      - image: ./busybox.tar
        run: |
          echo "sees=$(cat /workspace/a)"
          echo "sh=$(readlink /bin/sh)"
          echo "hostname=$(hostname)"
          echo "fetched=$(wget -q -O - http://web:8080/file)"
          echo from-image > /workspace/b
      - run: echo "back=$(cat /workspace/b)"
"#,
    );
    docker_archive(
        &sandbox.workspace().join("web.tar"),
        serde_json::json!({
            "Cmd": ["httpd", "-f", "-p", "8080", "-h", "/www"],
            "ExposedPorts": { "8080/tcp": {} },
        }),
    );
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(run.value("mixed", "sees").as_deref(), Some("from-host"));
    assert_eq!(run.value("mixed", "sh").as_deref(), Some("busybox"));
    assert_eq!(run.value("mixed", "hostname").as_deref(), Some("mixed"));
    assert_eq!(
        run.value("mixed", "fetched").as_deref(),
        Some("served-by-httpd"),
        "{}",
        run.describe()
    );
    assert_eq!(run.value("mixed", "back").as_deref(), Some("from-image"));
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(sandbox.workspace().join("b")).expect("workspace file");
    assert_eq!(meta.uid(), nix::unistd::Uid::effective().as_raw());
    sandbox.assert_nothing_left();
}

#[test]
fn the_copy_fallback_runs_the_image_and_says_so_once() {
    let sandbox = sandbox(
        r#"
name: copied
image: ./busybox.tar
jobs:
  copy:
    steps:
      - run: |
          echo "sh=$(readlink /bin/sh)"
          echo "owner=$(stat -c %u /bin/busybox)"
          echo changed > /etc/job-file
      - run: echo "kept=$(cat /etc/job-file)"
"#,
    );
    let run = dind_common::Run::from(
        sandbox
            .command(&[])
            .env("NESTCI_DIND_COPY_ROOTFS", "1")
            .output()
            .expect("run nestci"),
    );
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(run.value("copy", "sh").as_deref(), Some("busybox"));
    assert_eq!(run.value("copy", "owner").as_deref(), Some("0"));
    assert_eq!(run.value("copy", "kept").as_deref(), Some("changed"));
    let notes = run.stdout.matches("copied the image").count()
        + run.stderr.matches("copied the image").count();
    assert_eq!(notes, 1, "{}", run.describe());
    sandbox.assert_nothing_left();
}

#[test]
fn a_service_that_exits_before_its_port_opens_fails_with_its_last_words() {
    let sandbox = sandbox(
        r#"
name: dying-service
image: ./busybox.tar
jobs:
  j:
    services:
      - image: ./dying.tar
        alias: db
    steps:
      - run: echo never-runs
"#,
    );
    docker_archive(
        &sandbox.workspace().join("dying.tar"),
        serde_json::json!({
            "Cmd": ["sh", "-c", "echo first-words; echo dying-words >&2; exit 3"],
            "ExposedPorts": { "9999/tcp": {} },
        }),
    );
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(
        run.stdout
            .contains("service `db` did not start: it exited with code 3 before it was ready")
            && run.stdout.contains("first-words | dying-words"),
        "{}",
        run.describe()
    );
    assert!(!run.stdout.contains("never-runs"), "{}", run.describe());
    sandbox.assert_nothing_left();
}

#[test]
fn ctrl_c_ends_the_services_and_leaves_nothing() {
    let sandbox = Sandbox::new(
        r#"
name: interrupted-services
image: host
jobs:
  long:
    services:
      - image: ./rootfs
        alias: idle
        command: [sh, -c, 'sleep 1000; : idle-nestci-svc']
    steps:
      - run: |
          echo "service_sleeps=$(cat /proc/[0-9]*/comm | grep -c '^sleep$')"
          echo running
          sleep 1000
"#,
    );
    // A rootfs directory: no import, so no image store to keep apart.
    let rootfs = sandbox.workspace().join("rootfs");
    std::fs::create_dir(&rootfs).expect("mkdir rootfs");
    let status = std::process::Command::new("tar")
        .arg("-xf")
        .arg(fixture())
        .arg("-C")
        .arg(&rootfs)
        .status()
        .expect("tar");
    assert!(status.success());
    let mut running = dind_common::Running::start(&sandbox);
    let seen = running.wait_for("running");
    // The step shares the job's pid namespace with the service.
    assert!(seen.contains("service_sleeps=1"), "{seen}");
    assert!(
        !processes_with("idle-nestci-svc").is_empty(),
        "the service runs"
    );
    running.signal(nix::sys::signal::Signal::SIGINT);
    let (code, rest) = running.finish();
    assert_eq!(code, Some(130), "{rest}");
    sandbox.assert_nothing_left();
    let left = processes_with("idle-nestci-svc");
    assert!(left.is_empty(), "service processes left: {left:?}");
}

#[test]
fn an_image_user_runs_its_steps_without_capabilities() {
    let sandbox = sandbox(
        r#"
name: image-user
image: ./as-nobody.tar
jobs:
  user:
    steps:
      - run: |
          echo "ids=$(id -u):$(id -g)"
          echo "caps=$(grep CapEff /proc/self/status | tr -d '\t')"
          echo "greeting=$GREETING"
"#,
    );
    docker_archive(
        &sandbox.workspace().join("as-nobody.tar"),
        serde_json::json!({
            "Env": ["PATH=/bin", "GREETING=hello-from-config"],
            "User": "nobody",
        }),
    );
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(
        run.value("user", "ids").as_deref(),
        Some("65534:65534"),
        "{}",
        run.describe()
    );
    assert_eq!(
        run.value("user", "caps").as_deref(),
        Some("CapEff:0000000000000000")
    );
    assert_eq!(
        run.value("user", "greeting").as_deref(),
        Some("hello-from-config")
    );
    sandbox.assert_nothing_left();
}

/// `ports:` in the pipeline is what a service is waited for when its image
/// exposes none (a rootfs tarball has no config): the service opens its
/// port only after a pause of its own, and the step's single `wget`, with
/// no retry, succeeds only because the job waited for the port.
#[test]
fn a_service_is_waited_for_on_the_ports_the_pipeline_gives() {
    let sandbox = sandbox(
        r#"
name: ports
image: ./busybox.tar
jobs:
  fetch:
    services:
      - image: ./busybox.tar
        alias: slow
        ports: [8081]
        command: ["sh", "-c", "mkdir -p /www && echo late-but-ready > /www/file && sleep 1 && exec httpd -f -p 8081 -h /www"]
    steps:
      - run: echo "got=$(wget -q -O - http://slow:8081/file)"
"#,
    );
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(
        run.value("fetch", "got").as_deref(),
        Some("late-but-ready"),
        "{}",
        run.describe()
    );
    sandbox.assert_nothing_left();
}
