//! dind resource limits, enforced by the job's cgroups (v1 or v2,
//! whichever this host offers per controller).

mod dind_common;

use dind_common::Sandbox;

#[test]
fn a_fork_storm_stops_at_the_pids_limit() {
    let sandbox = Sandbox::new(
        r#"
name: storm
image: host
jobs:
  storm:
    resources: {pids: 32}
    steps:
      - run: |
          i=0
          while [ $i -lt 1000 ]; do sleep 1000 & i=$((i+1)); done
          echo "started all 1000"
        continue_on_error: true
      - run: echo "sleeps=$(cat /proc/[0-9]*/comm | grep -c '^sleep$')"
"#,
    );
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let lines = run.lines_of("storm");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Cannot fork") || l.contains("fork")),
        "fork fails at the limit: {}",
        run.describe()
    );
    assert!(
        !lines.iter().any(|l| l == "started all 1000"),
        "{}",
        run.describe()
    );
    // The container and the runner survive, and the storm is gone.
    let sleeps = run.value("storm", "sleeps").expect("the next step ran");
    assert_eq!(sleeps, "0", "{}", run.describe());
    sandbox.assert_nothing_left();
}

#[test]
fn a_memory_hog_is_killed_and_reported() {
    let sandbox = Sandbox::new(
        r#"
name: hog
image: host
jobs:
  hog:
    resources: {memory: 64M}
    steps:
      - run: tail /dev/zero
      - run: echo after the hog
        when: always
"#,
    );
    let run = sandbox.run(&[]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(
        run.stdout.contains("killed: memory limit (64 MiB)"),
        "{}",
        run.describe()
    );
    assert!(
        run.lines_of("hog").iter().any(|l| l == "after the hog"),
        "the container survives the OOM kill: {}",
        run.describe()
    );
    sandbox.assert_nothing_left();
}
