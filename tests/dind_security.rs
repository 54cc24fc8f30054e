//! The job's `security:` keys in dind mode, each asserted from inside a
//! real step: capabilities (`cap_add`, `cap_drop`, `privileged`), seccomp,
//! masked system paths, `no_new_privs`, a read-only root, `user`,
//! volumes, devices, host namespaces, the engine socket, rlimits; and the
//! keys dind refuses, refused with their location.

mod dind_common;

use std::os::unix::fs::PermissionsExt;

use dind_common::Sandbox;
use nestci::backend::dind::caps;

/// Mounts laid over paths under /proc (Docker's masked and read-only
/// paths), counted from the step's own mountinfo.
const PROC_MOUNTS: &str =
    r#"echo "proc_mounts=$(awk '$5 ~ /^\/proc\// {n++} END {print n+0}' /proc/self/mountinfo)""#;

fn status(key: &str) -> String {
    format!(r#"echo "{key}=$(grep '^{key}:' /proc/self/status | cut -f2)""#)
}

fn indent(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| format!("          {l}\n"))
        .collect::<String>()
}

#[test]
fn capabilities_follow_cap_add_cap_drop_and_privileged() {
    let probe = indent(&[
        status("CapEff"),
        status("CapBnd"),
        status("Seccomp"),
        PROC_MOUNTS.to_string(),
        r#"echo "mount=$(mkdir -p /tmp/m && mount -t tmpfs none /tmp/m 2>/dev/null && echo mounted || echo refused)""#.to_string(),
        r#"echo "devs=$(ls /dev | tr '\n' ' ')""#.to_string(),
    ]);
    let sandbox = Sandbox::new(&format!(
        r#"
name: caps
image: host
jobs:
  tweak:
    security:
      cap_add: [SYS_ADMIN]
      cap_drop: [CAP_CHOWN]
    steps:
      - run: |
{probe}
  only:
    security:
      cap_drop: [ALL]
      cap_add: [net_bind_service]
    steps:
      - run: |
{probe}
  privileged:
    security:
      privileged: true
    steps:
      - run: |
{probe}
"#
    ));
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let v = |job: &str, key: &str| {
        run.value(job, key)
            .unwrap_or_else(|| panic!("no {job} {key}= in the output:\n{}", run.describe()))
    };
    let hex = |mask: u64| format!("{mask:016x}");
    let (sys_admin, chown, bind) = (1u64 << 21, 1u64 << 0, 1u64 << 10);

    let tweaked = (caps::default_mask() | sys_admin) & !chown;
    assert_eq!(v("tweak", "CapEff"), hex(tweaked));
    assert_eq!(v("tweak", "CapBnd"), hex(tweaked));
    // SYS_ADMIN of the job's user namespace: the seccomp filter still
    // denies mount, as Docker's profile does without `seccomp: unconfined`.
    assert_eq!(v("tweak", "Seccomp"), "2");
    assert_eq!(v("tweak", "mount"), "refused");

    assert_eq!(v("only", "CapEff"), hex(bind));
    assert_eq!(v("only", "CapBnd"), hex(bind));

    assert_eq!(v("privileged", "CapEff"), hex(caps::all_mask()));
    assert_eq!(v("privileged", "Seccomp"), "0", "no seccomp filter");
    assert_eq!(v("privileged", "proc_mounts"), "0", "nothing masked");
    assert_eq!(
        v("privileged", "mount"),
        "mounted",
        "mount in its own namespace"
    );
    assert_ne!(v("tweak", "proc_mounts"), "0", "masked by default");
    // Host devices are not passed: the same /dev as any job.
    assert_eq!(v("privileged", "devs"), v("tweak", "devs"));
    assert!(
        run.stdout
            .contains("in dind `privileged` never means host root"),
        "{}",
        run.describe()
    );
    sandbox.assert_nothing_left();
}

#[test]
fn confinement_keys_switch_off_what_they_name() {
    let probe = indent(&[
        status("Seccomp"),
        status("NoNewPrivs"),
        PROC_MOUNTS.to_string(),
        r#"echo "unshare=$(unshare -U true 2>/dev/null && echo allowed || echo refused)""#
            .to_string(),
        r#"echo "nofile=$(ulimit -n)""#.to_string(),
    ]);
    let sandbox = Sandbox::new(&format!(
        r#"
name: confine
image: host
jobs:
  default:
    steps:
      - run: |
{probe}
  loose:
    security:
      seccomp: unconfined
      systempaths: unconfined
      no_new_privs: false
    steps:
      - run: |
{probe}
"#
    ));
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let v = |job: &str, key: &str| {
        run.value(job, key)
            .unwrap_or_else(|| panic!("no {job} {key}= in the output:\n{}", run.describe()))
    };
    assert_eq!(v("default", "Seccomp"), "2");
    assert_eq!(v("default", "NoNewPrivs"), "1");
    assert_ne!(v("default", "proc_mounts"), "0");
    assert_eq!(v("default", "unshare"), "refused");

    assert_eq!(v("loose", "Seccomp"), "0", "seccomp: unconfined");
    // Unless this test runs under no_new_privs itself (nested in a dind
    // job): a process cannot give it up.
    let inherited = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.split_whitespace().eq(["NoNewPrivs:", "1"]))
    });
    assert_eq!(
        v("loose", "NoNewPrivs"),
        if inherited { "1" } else { "0" },
        "no_new_privs: false"
    );
    assert_eq!(v("loose", "proc_mounts"), "0", "systempaths: unconfined");
    assert_eq!(v("loose", "unshare"), "allowed");

    // Docker's open-file limit (the kernel's nr_open), as far as the
    // runner may raise it: without CAP_SYS_RESOURCE only to its own hard
    // limit, which the job's note names only when that is below 16384.
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .expect("nr_open")
        .trim()
        .parse()
        .expect("number");
    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .expect("getrlimit");
    let may_raise = ::caps::has_cap(
        None,
        ::caps::CapSet::Effective,
        ::caps::Capability::CAP_SYS_RESOURCE,
    )
    .unwrap_or(false);
    let expected = if may_raise {
        nr_open
    } else {
        nr_open.min(hard)
    };
    assert_eq!(v("default", "nofile"), expected.to_string());
    assert_eq!(
        run.stdout.contains("could not raise RLIMIT_NOFILE"),
        expected < nr_open && expected < 16384,
        "{}",
        run.describe()
    );
    sandbox.assert_nothing_left();
}

#[test]
fn read_only_user_volumes_devices_and_host_network() {
    let sandbox = Sandbox::new("");
    // Host directories the job's root (an unmapped uid: "others") can read,
    // and one it may also write.
    let data = sandbox.dir.path().join("volume-src");
    let shared = sandbox.dir.path().join("shared");
    for dir in [&data, &shared] {
        std::fs::create_dir(dir).expect("mkdir");
    }
    std::fs::write(data.join("file"), "from the host\n").expect("write");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    // A device only host root may open (mode 0600); nested in a dind job
    // there is none to ask for.
    let unusable = std::path::Path::new("/dev/loop-control").exists();
    std::fs::write(
        sandbox.dir.path().join("pipeline.yml"),
        format!(
            r#"
name: binds
image: host
jobs:
  fs:
    security:
      read_only: true
      network: host
      volumes:
        - {data}:/data:ro
        - {shared}:/var/shared
        - {data}/file:/run/from-host
      devices:
        - /dev/null:/dev/extra-null
{unusable}    steps:
      - run: |
          echo "root=$(touch /probe 2>/dev/null && echo written || echo refused)"
          echo "tmp=$(touch /tmp/probe && echo written)"
          echo "ws=$(touch /workspace/probe && echo written)"
          echo "data=$(cat /data/file)"
          echo "data_write=$(touch /data/new 2>/dev/null && echo written || echo refused)"
          echo "shared_write=$(echo hi > /var/shared/new && echo written)"
          echo "file=$(cat /run/from-host)"
          echo "extra_null=$(echo x > /dev/extra-null && echo written)"
          echo "loop_control=$(test -e /dev/loop-control && echo present || echo absent)"
          echo "ifaces=$(ls /sys/class/net | tr '\n' ' ')"
  user:
    security:
      user: "1000:1000"
    steps:
      - run: |
          echo "uid=$(id -u) gid=$(id -g)"
          {capeff}
"#,
            data = data.display(),
            shared = shared.display(),
            capeff = status("CapEff"),
            unusable = if unusable {
                "        - /dev/loop-control\n"
            } else {
                ""
            },
        ),
    )
    .expect("write pipeline");
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let v = |job: &str, key: &str| {
        run.value(job, key)
            .unwrap_or_else(|| panic!("no {job} {key}= in the output:\n{}", run.describe()))
    };
    assert_eq!(
        v("fs", "root"),
        "refused",
        "read_only: the root is read-only"
    );
    assert_eq!(v("fs", "tmp"), "written", "/tmp stays writable");
    assert_eq!(v("fs", "ws"), "written", "/workspace stays writable");
    assert_eq!(v("fs", "data"), "from the host");
    assert_eq!(v("fs", "data_write"), "refused", ":ro is honoured");
    assert_eq!(v("fs", "shared_write"), "written");
    assert_eq!(
        std::fs::read_to_string(shared.join("new")).expect("written through the volume"),
        "hi\n"
    );
    assert_eq!(v("fs", "file"), "from the host", "a file volume");
    assert_eq!(v("fs", "extra_null"), "written", "a usable device is bound");
    assert_eq!(v("fs", "loop_control"), "absent");
    assert_eq!(
        run.stdout.contains("device `/dev/loop-control`") && run.stdout.contains("is not passed"),
        unusable,
        "{}",
        run.describe()
    );
    // network: host shows the interfaces this test sees, not a namespace
    // of its own (whose only interface would be lo).
    let mut ours: Vec<String> = std::fs::read_dir("/sys/class/net")
        .expect("/sys/class/net")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    ours.sort();
    assert_eq!(
        v("fs", "ifaces").split_whitespace().collect::<Vec<_>>(),
        ours
    );
    assert!(ours.len() > 1 || dind_common::nested(), "{ours:?}");

    assert_eq!(v("user", "uid"), "1000 gid=1000");
    assert_eq!(v("user", "CapEff"), format!("{:016x}", 0), "non-root: none");
    sandbox.assert_nothing_left();
}

#[test]
fn the_engine_socket_is_bound_with_a_warning() {
    if nestci::backend::dind::security::engine_socket().is_none() {
        // Nested in a dind job there is no daemon; on the host there must be.
        assert!(
            dind_common::nested(),
            "no Docker daemon socket: run scripts/test-env.sh"
        );
        eprintln!("skipped: no Docker daemon in this dind job");
        return;
    }
    let sandbox = Sandbox::new(
        r#"
name: sock
image: host
jobs:
  sock:
    security:
      mount_docker_socket: true
    steps:
      - run: echo "socket=$(test -S /var/run/docker.sock && echo present || echo absent)"
"#,
    );
    // NCI002 denies the key by default: an exception says why here.
    let policy = sandbox.dir.path().join("policy.yml");
    std::fs::write(
        &policy,
        "exceptions:\n  - rule: NCI002\n    job: sock\n    reason: the test of the key itself\n",
    )
    .expect("write policy");
    let run = sandbox.run(&["--policy", &policy.to_string_lossy()]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(run.value("sock", "socket").as_deref(), Some("present"));
    assert!(
        run.stdout.contains("WARNING") && run.stdout.contains("the host's Docker daemon"),
        "{}",
        run.describe()
    );
    sandbox.assert_nothing_left();
}

#[test]
fn keys_dind_cannot_honour_fail_the_job_with_their_place() {
    for (security, expected) in [
        ("userns: host", "--mode dood"),
        ("pid: host", "--mode dood"),
    ] {
        let sandbox = Sandbox::new(&format!(
            r#"
name: refused
image: host
jobs:
  refused:
    security:
      {security}
    steps:
      - run: echo never
"#
        ));
        let run = sandbox.run(&[]);
        assert_ne!(run.code, Some(0), "{}", run.describe());
        assert!(
            run.stdout.contains(expected) && run.stdout.contains("pipeline.yml:7:"),
            "{security}: {}",
            run.describe()
        );
        assert!(!run.stdout.lines().any(|l| l.ends_with("│ never")));
        sandbox.assert_nothing_left();
    }
}

#[test]
fn a_volume_the_jobs_root_cannot_read_is_refused_clearly() {
    if dind_common::nested() {
        // The inner jobs' root is the outer job's root, who can read
        // everything of the outer job's: there is no such path to test.
        eprintln!("skipped: nested in a dind job");
        return;
    }
    let sandbox = Sandbox::new("");
    let secret = sandbox.dir.path().join("secret");
    std::fs::create_dir(&secret).expect("mkdir");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::fs::write(
        sandbox.dir.path().join("pipeline.yml"),
        format!(
            r#"
name: unreadable
image: host
jobs:
  unreadable:
    security:
      volumes: ["{}:/secret"]
    steps:
      - run: echo never
"#,
            secret.display()
        ),
    )
    .expect("write pipeline");
    let run = sandbox.run(&[]);
    assert_ne!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.stdout.contains("cannot read") && run.stdout.contains("pipeline.yml:7:"),
        "{}",
        run.describe()
    );
    sandbox.assert_nothing_left();
}

/// nestci inside a dind job: with `seccomp: unconfined` and `systempaths:
/// unconfined` (the same two options it needs inside a Docker container)
/// a job can run a dind pipeline of its own. The inner jobs map the ids
/// the outer job's namespace has: their root is the outer job's root.
#[test]
fn nestci_runs_nested_in_a_dind_job() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_nestci"));
    let dir = bin.parent().expect("the binary's directory");
    let sandbox = Sandbox::new(&format!(
        r#"
name: outer
image: host
jobs:
  outer:
    security:
      seccomp: unconfined
      systempaths: unconfined
    steps:
      - run: |
          mkdir -p /tmp/inner
          printf 'name: inner\nimage: host\njobs:\n  inner:\n    steps:\n      - run: echo "inner_map=$(head -n1 /proc/self/uid_map | tr -s " " | sed "s/^ //")"\n' > /tmp/inner/p.yml
          {bin} run /tmp/inner/p.yml --mode dind --workspace /tmp/inner
"#,
        bin = bin.display()
    ));
    let run = sandbox.run(&["--host-path", &dir.to_string_lossy()]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    // The inner job's output, relayed by the outer one: `inner │ inner_map=…`.
    let map = run
        .stdout
        .lines()
        .filter_map(|l| l.split("inner_map=").nth(1))
        .find(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no inner output:\n{}", run.describe()));
    assert_eq!(
        map.trim(),
        "0 0 65536",
        "the inner jobs' ids are the outer job's, root included"
    );
    sandbox.assert_nothing_left();
}
