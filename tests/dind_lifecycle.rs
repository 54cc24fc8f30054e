//! dind containers end cleanly: after success, failure, a timeout and
//! Ctrl-C no process, mount, cgroup or state directory is left.

mod dind_common;

use dind_common::{Running, Sandbox};
use nix::sys::signal::Signal;

#[test]
fn success_and_failure_leave_nothing() {
    let sandbox = Sandbox::new(
        r#"
name: ends
image: host
jobs:
  ok:
    resources: {memory: 128M, pids: 64, cpus: 0.5}
    steps:
      - run: echo fine
  bad:
    resources: {pids: 64}
    steps:
      - run: echo failing; exit 3
"#,
    );
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(
        run.lines_of("ok").iter().any(|l| l == "fine"),
        "{}",
        run.describe()
    );
    assert!(
        run.stdout.contains("failed with exit code 3"),
        "{}",
        run.describe()
    );
    sandbox.assert_nothing_left();
}

#[test]
fn a_job_timeout_kills_the_container_and_leaves_nothing() {
    let sandbox = Sandbox::new(
        r#"
name: slow
image: host
jobs:
  slow:
    timeout: 1s
    steps:
      - run: |
          sleep 1000 &
          echo started
          sleep 1000
"#,
    );
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(
        run.lines_of("slow").iter().any(|l| l == "started"),
        "{}",
        run.describe()
    );
    assert!(
        run.stdout.contains("timed out after 1s"),
        "{}",
        run.describe()
    );
    sandbox.assert_nothing_left();
}

#[test]
fn a_step_timeout_stops_only_that_step() {
    let sandbox = Sandbox::new(
        r#"
name: step-timeout
image: host
jobs:
  steps:
    steps:
      - run: echo started; sleep 1000
        timeout: 1s
        continue_on_error: true
      - run: echo "sleeps=$(cat /proc/[0-9]*/comm | grep -c '^sleep$')"
"#,
    );
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.stdout.contains("timed out after 1s"),
        "{}",
        run.describe()
    );
    // The next step runs in the same container, and the sleep is gone.
    let sleeps = run.value("steps", "sleeps").expect("second step ran");
    assert_eq!(sleeps, "0", "{}", run.describe());
    sandbox.assert_nothing_left();
}

#[test]
fn ctrl_c_leaves_nothing() {
    let sandbox = Sandbox::new(
        r#"
name: interrupted
image: host
jobs:
  long:
    resources: {pids: 64, memory: 64M}
    steps:
      - run: |
          sleep 1000 &
          echo running
          sleep 1000
"#,
    );
    let mut running = Running::start(&sandbox);
    running.wait_for("running");
    assert!(
        !dind_common::container_processes().is_empty(),
        "the container runs"
    );
    assert!(
        !dind_common::job_cgroups().is_empty(),
        "the job has its cgroups"
    );
    running.signal(Signal::SIGINT);
    let (code, rest) = running.finish();
    assert_eq!(code, Some(130), "{rest}");
    assert!(rest.contains("cancelled"), "{rest}");
    sandbox.assert_nothing_left();
}
