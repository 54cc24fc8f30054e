//! The dind runtime run by an unprivileged user, as on a developer's
//! laptop: no root anywhere, the id maps written by `newuidmap` and
//! `newgidmap` (Debian's uidmap) from the user's `/etc/subuid` and
//! `/etc/subgid` ranges, and cgroup limits the user may not set reported as
//! not applied. `scripts/test-env.sh` creates the user `nestci-test` with
//! the range 300000:65536 and installs uidmap.

mod dind_common;

use std::path::Path;

use dind_common::{Run, Sandbox, user_ids};

const USER: &str = "nestci-test";
const HOME: &str = "/var/lib/nestci-test/home";

/// The user's subordinate range in `file` (`/etc/subuid`): (start, count).
fn range(file: &str) -> (u64, u64) {
    let text = std::fs::read_to_string(file).expect("read the subordinate id file");
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{USER}:")))
        .unwrap_or_else(|| panic!("no {USER} in {file}: run scripts/test-env.sh first"));
    let mut parts = line
        .split(':')
        .skip(1)
        .map(|n| n.parse::<u64>().expect("number"));
    (parts.next().expect("start"), parts.next().expect("count"))
}

/// `/proc/self/uid_map` as printed by a step: its lines as number triples.
fn map_lines(run: &Run, key: &str) -> Vec<Vec<u64>> {
    run.lines_of("probe")
        .iter()
        .filter_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|l| {
            l.split_whitespace()
                .map(|n| n.parse().expect("number"))
                .collect()
        })
        .collect()
}

#[test]
fn a_user_runs_dind_with_newuidmap_and_their_subordinate_range() {
    let (uid, gid) = user_ids(USER);
    let sandbox = Sandbox::new(
        r#"
name: rootless
image: host
jobs:
  probe:
    resources: {memory: 64M}
    steps:
      - run: |
          sed 's/^/uid_map:/' /proc/self/uid_map
          sed 's/^/gid_map:/' /proc/self/gid_map
          echo "id=$(id -u):$(id -g)"
          echo "nnp=$(grep NoNewPrivs /proc/self/status | cut -f2)"
          echo made > /workspace/made-by-the-job
          chown 1:1 /workspace/made-by-the-job && echo chowned=yes || echo chowned=no
"#,
    );
    let out = sandbox
        .command_as(USER, Path::new(HOME), &[])
        .output()
        .expect("run nestci as the user");
    let run = Run::from(out);
    assert_eq!(run.code, Some(0), "{}", run.describe());

    // Container root is the user; the rest of the ids come from the
    // user's range, which only newuidmap/newgidmap may write.
    let (sub_uid, sub_count) = range("/etc/subuid");
    let (sub_gid, sub_gcount) = range("/etc/subgid");
    assert_eq!(
        map_lines(&run, "uid_map"),
        vec![
            vec![0, u64::from(uid), 1],
            vec![1, sub_uid, sub_count.min(65536)]
        ],
        "{}",
        run.describe()
    );
    assert_eq!(
        map_lines(&run, "gid_map"),
        vec![
            vec![0, u64::from(gid), 1],
            vec![1, sub_gid, sub_gcount.min(65536)]
        ],
        "{}",
        run.describe()
    );
    assert_eq!(run.value("probe", "id").as_deref(), Some("0:0"));
    assert_eq!(run.value("probe", "nnp").as_deref(), Some("1"));

    // What the job writes in the workspace belongs to the user on the
    // host, and a file given to container uid 1 to the range's first id.
    use std::os::unix::fs::MetadataExt;
    let made = std::fs::metadata(sandbox.workspace().join("made-by-the-job")).expect("the file");
    assert_eq!(run.value("probe", "chowned").as_deref(), Some("yes"));
    assert_eq!(
        (u64::from(made.uid()), u64::from(made.gid())),
        (sub_uid, sub_gid),
        "container uid 1 is the first id of the user's range"
    );

    // A user may not create cgroups here: said, not silently dropped.
    assert!(
        run.stdout.contains("memory limit not applied"),
        "{}",
        run.describe()
    );
    sandbox.assert_nothing_left();
}
