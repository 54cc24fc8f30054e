//! dind isolation, asserted from inside a real step: namespaces, id maps,
//! the host image's view of the filesystem, capabilities, no_new_privs,
//! seccomp and the read-only kernel interfaces.

mod dind_common;

use dind_common::Sandbox;

const PROBE: &str = r#"
name: isolation
image: host
jobs:
  probe:
    steps:
      - name: probe
        run: |
          echo "uid_map=$(head -n1 /proc/self/uid_map | tr -s ' ' | sed 's/^ //')"
          echo "hostname=$(hostname)"
          echo "pid1=$(cat /proc/1/comm)"
          echo "pids=$(ls /proc | grep -cE '^[0-9]+$')"
          echo "capeff=$(grep CapEff /proc/self/status | cut -f2)"
          echo "capbnd=$(grep CapBnd /proc/self/status | cut -f2)"
          echo "seccomp=$(grep '^Seccomp:' /proc/self/status | cut -f2)"
          echo "nnp=$(grep NoNewPrivs /proc/self/status | cut -f2)"
          echo "root_entries=$(ls -A /root | wc -l)"
          echo "home_entries=$(ls -A /home | wc -l)"
          echo "host_tree=$(test -e /work -o -e /root/.cargo -o -e /var/lib && echo visible || echo hidden)"
          echo "shadow_bytes=$(wc -c < /etc/shadow)"
          echo "usr_writable=$(touch /usr/nestci-probe 2>/dev/null && echo yes || echo no)"
          echo "sysrq=$( (echo h > /proc/sysrq-trigger) 2>/dev/null && echo written || echo refused)"
          echo "proc_sys=$( (echo x > /proc/sys/kernel/hostname) 2>/dev/null && echo written || echo refused)"
          echo "mount_tmpfs=$(mount -t tmpfs none /tmp 2>/dev/null && echo mounted || echo refused)"
          echo "mount_proc=$(mount -t proc proc /mnt 2>/dev/null && echo mounted || echo refused)"
          echo "unshare=$(unshare -U true 2>/dev/null && echo allowed || echo refused)"
          echo "cwd=$(pwd)"
          echo "lo=$(cat /sys/class/net/lo/operstate)"
          echo "ifaces=$(ls /sys/class/net | tr '\n' ' ')"
          echo "fds=$(ls /proc/self/fd | tr '\n' ' ')"
"#;

#[test]
fn a_step_sees_only_its_container() {
    let sandbox = Sandbox::new(PROBE);
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let v = |key: &str| {
        run.value("probe", key)
            .unwrap_or_else(|| panic!("no {key}= in the output:\n{}", run.describe()))
    };

    // Container root is an unprivileged uid on the host.
    let map: Vec<u64> = v("uid_map")
        .split_whitespace()
        .map(|n| n.parse().expect("number"))
        .collect();
    assert_eq!(map.len(), 3, "{map:?}");
    assert_eq!(map[0], 0, "the map starts at container uid 0");
    // On the host the range starts at a high uid. Nested in another dind
    // job (whose namespace has only 65536 ids) the jobs' root is that
    // job's root, as a user's jobs have the user as root: unprivileged on
    // the host all the same.
    if !dind_common::nested() {
        assert!(map[1] >= 1000, "container root maps to host uid {}", map[1]);
        assert_ne!(map[1], u64::from(nix::unistd::Uid::effective().as_raw()));
    }

    assert_eq!(v("hostname"), "probe");
    assert_eq!(v("pid1"), "nestci-init", "pid 1 is our init");
    let pids: usize = v("pids").parse().expect("count");
    assert!(
        pids <= 6,
        "only the container's processes are visible, saw {pids}"
    );

    let expected = format!("{:016x}", nestci::backend::dind::caps::default_mask());
    assert_eq!(v("capeff"), expected, "Docker's 14 capabilities");
    assert_eq!(v("capbnd"), expected);
    assert_eq!(v("seccomp"), "2", "a seccomp filter is installed");
    assert_eq!(v("nnp"), "1");

    assert_eq!(v("root_entries"), "0", "/root is the container's, empty");
    assert_eq!(v("home_entries"), "0");
    assert_eq!(v("host_tree"), "hidden", "the host's / is not reachable");
    assert_eq!(v("shadow_bytes"), "0", "/etc/shadow is masked");
    assert_eq!(v("usr_writable"), "no", "/usr is read-only");
    assert_eq!(v("sysrq"), "refused");
    assert_eq!(v("proc_sys"), "refused", "/proc/sys is read-only");
    assert_eq!(v("mount_tmpfs"), "refused");
    assert_eq!(v("mount_proc"), "refused");
    assert_eq!(v("unshare"), "refused");
    assert_eq!(v("cwd"), "/workspace");
    assert_eq!(v("lo"), "unknown", "loopback is up (lo reports `unknown`)");
    assert_eq!(v("ifaces").trim(), "lo", "a network namespace of its own");
    // stdio, plus the directory fd `ls` opened for itself: nothing of the
    // runtime (control socket, signalfd, host directories) leaks in.
    assert_eq!(v("fds").trim(), "0 1 2 3", "only stdio reaches a step");
    sandbox.assert_nothing_left();
}

#[test]
fn workspace_files_belong_to_the_invoking_user() {
    let sandbox = Sandbox::new(
        r#"
name: owner
image: host
jobs:
  write:
    steps:
      - run: mkdir -p out && echo hi > out/file && id -u > out/uid
"#,
    );
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(sandbox.workspace().join("out/file")).expect("the step's file");
    assert_eq!(
        meta.uid(),
        nix::unistd::Uid::effective().as_raw(),
        "owned by the invoking user"
    );
    assert_eq!(meta.gid(), nix::unistd::Gid::effective().as_raw());
    let uid = std::fs::read_to_string(sandbox.workspace().join("out/uid")).expect("uid file");
    assert_eq!(uid.trim(), "0", "written as root of the container");
    sandbox.assert_nothing_left();
}

#[test]
fn steps_share_the_filesystem_and_report_exit_codes() {
    let sandbox = Sandbox::new(
        r#"
name: share
image: host
jobs:
  share:
    steps:
      - run: echo one > /tmp/shared && echo two > /workspace/shared && echo to-stderr >&2
      - run: echo "tmp=$(cat /tmp/shared) ws=$(cat /workspace/shared)"
      - run: exit 7
      - run: echo never
"#,
    );
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    let lines = run.lines_of("share");
    assert!(
        lines.iter().any(|l| l == "tmp=one ws=two"),
        "{}",
        run.describe()
    );
    assert!(
        lines.iter().any(|l| l == "to-stderr"),
        "stderr is streamed: {}",
        run.describe()
    );
    assert!(
        run.stdout.contains("failed with exit code 7"),
        "{}",
        run.describe()
    );
    assert!(
        !lines.iter().any(|l| l == "never"),
        "no step after a failure"
    );
    sandbox.assert_nothing_left();
}

/// `host_paths:` in the file and `--host-path` on the command line show a
/// host directory read-only to a `host` image job; a missing one fails the
/// job with the place it was written.
#[test]
fn host_paths_show_host_directories_read_only() {
    use std::os::unix::fs::PermissionsExt;
    let tools = tempfile::tempdir().expect("tempdir");
    for name in ["file-tool", "cli-tool"] {
        let dir = tools.path().join(name);
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::write(dir.join("version"), format!("{name} 1.0\n")).expect("write");
    }
    // tempdir() makes 0700; the container's root is an unmapped uid.
    std::fs::set_permissions(tools.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let file_tool = tools.path().join("file-tool");
    let cli_tool = tools.path().join("cli-tool");
    let sandbox = Sandbox::new(&format!(
        r#"
name: host-paths
image: host
host_paths: ["{file_tool}"]
jobs:
  probe:
    steps:
      - run: |
          echo "file_tool=$(cat {file_tool}/version)"
          echo "cli_tool=$(cat {cli_tool}/version)"
          echo "writable=$(touch {file_tool}/x 2>/dev/null && echo yes || echo no)"
          echo "siblings=$(ls {parent} | tr '\n' ' ')"
"#,
        file_tool = file_tool.display(),
        cli_tool = cli_tool.display(),
        parent = tools.path().display(),
    ));
    let cli_arg = cli_tool.display().to_string();
    let run = sandbox.run(&["--host-path", &cli_arg]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(
        run.value("probe", "file_tool").as_deref(),
        Some("file-tool 1.0")
    );
    assert_eq!(
        run.value("probe", "cli_tool").as_deref(),
        Some("cli-tool 1.0")
    );
    assert_eq!(run.value("probe", "writable").as_deref(), Some("no"));
    assert!(!file_tool.join("x").exists());
    // Only the two directories, not what lies beside them.
    assert_eq!(
        run.value("probe", "siblings").as_deref().map(str::trim),
        Some("cli-tool file-tool"),
        "{}",
        run.describe()
    );
    // The policy reports the file's one (NCI028, low: shown by `policy check`).
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_nestci"))
        .args(["policy", "check", "--color", "never"])
        .arg(sandbox.dir.path().join("pipeline.yml"))
        .output()
        .expect("run nestci policy check");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        report.contains("[NCI028]") && report.contains("pipeline.yml:4:14"),
        "{report}"
    );
    sandbox.assert_nothing_left();
    // One sandbox at a time: each holds the dind test lock.
    drop(sandbox);

    let missing = tools.path().join("gone");
    let sandbox = Sandbox::new(&format!(
        "name: missing\nimage: host\njobs:\n  probe:\n    host_paths: [\"{}\"]\n    steps:\n      - run: \"true\"\n",
        missing.display()
    ));
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains(&format!("host path `{}` (", missing.display()))
            && all.contains("pipeline.yml:5:18"),
        "{}",
        run.describe()
    );
    sandbox.assert_nothing_left();
}
