//! dind with images other than `host`: a rootfs tarball (imported once
//! into the content-addressed store) and a rootfs directory, both as the
//! lower layer of a per-job overlay whose files container root owns. The
//! busybox fixture comes from scripts/test-env.sh.

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

fn store_entries(data: &Path) -> usize {
    std::fs::read_dir(data.join("nestci/images/sha256"))
        .map(|rd| rd.count())
        .unwrap_or(0)
}

#[test]
fn a_rootfs_tarball_runs_with_a_private_writable_layer() {
    let sandbox = Sandbox::new(
        r#"
name: tarball
image: ./busybox-rootfs.tar
jobs:
  first:
    steps:
      - run: |
          echo "sh=$(readlink /bin/sh)"
          echo "owner=$(stat -c %u /bin/busybox)"
          echo "uid_map=$(head -n1 /proc/self/uid_map | tr -s ' ' | sed 's/^ //')"
          echo changed > /etc/job-file
          echo made-here > /workspace/from-busybox
      - run: echo "second_step_sees=$(cat /etc/job-file)"
  second:
    needs: [first]
    steps:
      - run: echo "leftover=$(cat /etc/job-file 2>/dev/null || echo none)"
"#,
    );
    std::fs::copy(fixture(), sandbox.workspace().join("busybox-rootfs.tar")).expect("copy fixture");
    let data = sandbox.data();
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(
        run.value("first", "sh").as_deref(),
        Some("busybox"),
        "{}",
        run.describe()
    );
    assert_eq!(
        run.value("first", "owner").as_deref(),
        Some("0"),
        "image files are container root's"
    );
    let map = run.value("first", "uid_map").expect("uid map");
    assert!(
        !map.starts_with("0 0 "),
        "container root is not host root: {map}"
    );
    assert_eq!(
        run.value("first", "second_step_sees").as_deref(),
        Some("changed")
    );
    assert_eq!(
        run.value("second", "leftover").as_deref(),
        Some("none"),
        "each job has its own layer"
    );
    assert_eq!(store_entries(&data), 1, "imported once for both jobs");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(sandbox.workspace().join("from-busybox")).expect("workspace file");
    assert_eq!(meta.uid(), nix::unistd::Uid::effective().as_raw());
    sandbox.assert_nothing_left();
}

#[test]
fn an_image_symlink_cannot_redirect_writes_to_the_host() {
    let sandbox = Sandbox::new(
        r#"
name: hostile
image: ./rootfs
jobs:
  hostile:
    steps:
      - run: echo "etc=$(ls /etc 2>&1 | head -n1)"
"#,
    );
    // An image whose /etc is an absolute symlink to a directory of the
    // host: nestci writes /etc/hosts and friends, and must do so inside
    // the image (where the link leads nowhere), never on the host.
    let outside = sandbox.dir.path().join("outside");
    std::fs::create_dir(&outside).expect("mkdir outside");
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
    std::fs::remove_dir_all(rootfs.join("etc")).expect("rm etc");
    std::os::unix::fs::symlink(&outside, rootfs.join("etc")).expect("symlink");
    let run = sandbox.run(&[]);
    let written: Vec<_> = std::fs::read_dir(&outside)
        .expect("read outside")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert!(
        written.is_empty(),
        "files written through the image's symlink: {written:?}\n{}",
        run.describe()
    );
    assert_eq!(run.code, Some(0), "{}", run.describe());
    sandbox.assert_nothing_left();
}

#[test]
fn a_docker_save_archive_from_the_daemon_runs_with_its_config() {
    // Made by scripts/test-env.sh: GET /images/nestci-test/busybox:latest/get.
    let archive =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixtures/busybox-docker-save.tar");
    assert!(
        archive.is_file(),
        "{} missing: run scripts/test-env.sh",
        archive.display()
    );
    let sandbox = Sandbox::new(
        r#"
name: saved
image: ./busybox-save.tar
jobs:
  saved:
    steps:
      - run: |
          echo "path=$PATH"
          echo "sh=$(readlink /bin/sh)"
          echo "owner=$(stat -c %u /bin/busybox)"
          echo written > /etc/job-file && echo "etc=$(cat /etc/job-file)"
"#,
    );
    std::fs::copy(&archive, sandbox.workspace().join("busybox-save.tar")).expect("copy archive");
    let data = sandbox.data();
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    // The image's config says ENV PATH=/bin (see scripts/test-env.sh).
    assert_eq!(
        run.value("saved", "path").as_deref(),
        Some("/bin"),
        "{}",
        run.describe()
    );
    assert_eq!(run.value("saved", "sh").as_deref(), Some("busybox"));
    assert_eq!(run.value("saved", "owner").as_deref(), Some("0"));
    assert_eq!(run.value("saved", "etc").as_deref(), Some("written"));
    assert_eq!(store_entries(&data), 1);
    sandbox.assert_nothing_left();
}
