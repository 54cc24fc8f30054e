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

/// A sandbox whose workspace holds the busybox rootfs tarball, and whose
/// image store is its own.
fn sandbox(pipeline: &str) -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new(pipeline);
    std::fs::copy(fixture(), sandbox.workspace().join("busybox.tar")).expect("copy fixture");
    let data = sandbox.dir.path().join("data");
    (sandbox, data)
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
    let (sandbox, data) = sandbox(
        r#"
name: services
image: ./busybox.tar
jobs:
  fetch:
    services:
      - image: ./busybox.tar
        alias: web
        command: [sh, -c, 'mkdir -p /www-nestci-svc && echo served-by-httpd > /www-nestci-svc/file && echo web-started && exec httpd -f -v -p 8080 -h /www-nestci-svc']
    steps:
      - run: |
          # The service is up once its command is exec'd; httpd binds its
          # port right after, so give it a bounded number of tries.
          i=0
          until wget -q -O /tmp/by-alias http://web:8080/file; do
            i=$((i + 1)); [ $i -lt 100 ] || exit 1; sleep 0.1
          done
          echo "by_alias=$(cat /tmp/by-alias)"
          echo "by_localhost=$(wget -q -O - http://localhost:8080/file)"
          echo "hosts=$(grep '^127.0.0.1' /etc/hosts | tr '\t' ' ')"
          echo "own_files=$(ls /www-nestci-svc 2>&1 | head -n1)"
"#,
    );
    let run = dind_common::Run::from(
        sandbox
            .command(&[])
            .env("XDG_DATA_HOME", &data)
            .output()
            .expect("run nestci"),
    );
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
        lines.iter().any(|l| l == "[web] web-started"),
        "{}",
        run.describe()
    );
    sandbox.assert_nothing_left();
    let left = processes_with("www-nestci-svc");
    assert!(left.is_empty(), "service processes left: {left:?}");
}

#[test]
fn a_service_that_cannot_start_is_named_with_its_last_output() {
    let (sandbox, data) = sandbox(
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
    let run = dind_common::Run::from(
        sandbox
            .command(&[])
            .env("XDG_DATA_HOME", &data)
            .output()
            .expect("run nestci"),
    );
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(
        run.stdout.contains("service db did not start")
            && run.stdout.contains("no-such-program-nestci"),
        "{}",
        run.describe()
    );
    assert!(!run.stdout.contains("never-runs"), "{}", run.describe());
    sandbox.assert_nothing_left();
}

#[test]
fn a_step_with_its_own_image_shares_the_workspace_and_the_network() {
    let (sandbox, data) = sandbox(
        r#"
name: image-step
image: host
jobs:
  mixed:
    services:
      - image: ./busybox.tar
        alias: web
        command: [sh, -c, 'mkdir -p /www && echo from-service > /www/file && exec httpd -f -p 8081 -h /www']
    steps:
      - run: echo from-host > /workspace/a
      - image: ./busybox.tar
        run: |
          echo "sees=$(cat /workspace/a)"
          echo "sh=$(readlink /bin/sh)"
          echo "hostname=$(hostname)"
          i=0
          until wget -q -O /tmp/f http://web:8081/file; do
            i=$((i + 1)); [ $i -lt 100 ] || exit 1; sleep 0.1
          done
          echo "fetched=$(cat /tmp/f)"
          echo from-image > /workspace/b
      - run: echo "back=$(cat /workspace/b)"
"#,
    );
    let run = dind_common::Run::from(
        sandbox
            .command(&[])
            .env("XDG_DATA_HOME", &data)
            .output()
            .expect("run nestci"),
    );
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(run.value("mixed", "sees").as_deref(), Some("from-host"));
    assert_eq!(run.value("mixed", "sh").as_deref(), Some("busybox"));
    assert_eq!(run.value("mixed", "hostname").as_deref(), Some("mixed"));
    assert_eq!(
        run.value("mixed", "fetched").as_deref(),
        Some("from-service"),
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
    let (sandbox, data) = sandbox(
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
            .env("XDG_DATA_HOME", &data)
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
