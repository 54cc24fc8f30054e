//! Shared by the `dind_*` tests: run pipelines through the real `nestci`
//! binary in dind mode, in a scratch workspace, and check what is left on
//! the host afterwards.
//!
//! All dind tests (of every test binary, and of concurrent test runs on
//! the machine) take one file lock, so that "no nestci container process
//! exists" is a statement about the test that holds it.

#![allow(dead_code)] // each test binary uses a different part

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use nix::fcntl::{Flock, FlockArg};
use tempfile::TempDir;

/// Serialises dind tests across processes; released on drop.
pub struct Exclusive(#[allow(dead_code)] Flock<File>);

pub fn exclusive() -> Exclusive {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/tmp/nestci-dind-tests.lock")
        .expect("open the dind test lock");
    Exclusive(Flock::lock(file, FlockArg::LockExclusive).expect("take the dind test lock"))
}

/// A scratch workspace with a pipeline in it and its own state directory
/// (`NESTCI_STATE_DIR`, where nestci keeps the jobs' rootfs mount points).
pub struct Sandbox {
    pub dir: TempDir,
    _lock: Exclusive,
    /// nestci mounts that were there before the test: run nested in a
    /// dind job, the outer job's own (its root is a `nestci-root` tmpfs).
    mounts_before: Vec<String>,
}

/// Lines of our mountinfo that look like nestci's.
fn nestci_mounts(also: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .filter(|l| l.contains("nestci") || l.contains(also))
        .map(str::to_string)
        .collect()
}

impl Sandbox {
    pub fn new(pipeline: &str) -> Sandbox {
        let lock = exclusive();
        let dir = tempfile::tempdir().expect("tempdir");
        // The container's root is an unmapped uid: it must be able to
        // traverse down to its state directory (under tmp/).
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o711),
        )
        .expect("chmod sandbox");
        std::fs::write(dir.path().join("pipeline.yml"), pipeline).expect("write pipeline");
        std::fs::create_dir(dir.path().join("tmp")).expect("mkdir tmp");
        std::fs::create_dir(dir.path().join("ws")).expect("mkdir ws");
        let mounts_before = nestci_mounts(&dir.path().to_string_lossy());
        Sandbox {
            dir,
            _lock: lock,
            mounts_before,
        }
    }

    pub fn workspace(&self) -> PathBuf {
        self.dir.path().join("ws")
    }

    pub fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    /// The sandbox's own image store (`XDG_DATA_HOME` of its runs), so an
    /// imported image is gone with the sandbox and no test sees another's.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn command(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nestci"));
        cmd.arg("run")
            .arg(self.dir.path().join("pipeline.yml"))
            .args(["--mode", "dind", "--workspace"])
            .arg(self.workspace())
            .args(extra)
            .env("NO_COLOR", "1")
            .env("NESTCI_STATE_DIR", self.tmp())
            .env("XDG_DATA_HOME", self.data());
        cmd
    }

    /// [`Sandbox::command`] as the unprivileged `user` (through util-linux
    /// `setpriv`), who is given the workspace and the state directory.
    pub fn command_as(&self, user: &str, home: &Path, extra: &[&str]) -> Command {
        let (uid, gid) = user_ids(user);
        for dir in [self.workspace(), self.tmp()] {
            nix::unistd::chown(&dir, Some(uid.into()), Some(gid.into()))
                .expect("chown to the user");
        }
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg("--init-groups")
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_nestci"))
            .arg("run")
            .arg(self.dir.path().join("pipeline.yml"))
            .args(["--mode", "dind", "--workspace"])
            .arg(self.workspace())
            .args(extra)
            .env("HOME", home)
            .env("NO_COLOR", "1")
            .env("NESTCI_STATE_DIR", self.tmp());
        cmd
    }

    /// Run the pipeline to the end.
    pub fn run(&self, extra: &[&str]) -> Run {
        let out = self.command(extra).output().expect("run nestci");
        Run::from(out)
    }

    /// Nothing of any job is left: no state directory, no container
    /// process, no nestci mount on the host, no job cgroup.
    pub fn assert_nothing_left(&self) {
        let tmp: Vec<_> = std::fs::read_dir(self.tmp())
            .expect("read tmp")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert!(tmp.is_empty(), "state directories left: {tmp:?}");
        let procs = container_processes();
        assert!(procs.is_empty(), "container processes left: {procs:?}");
        let ours: Vec<String> = nestci_mounts(&self.dir.path().to_string_lossy())
            .into_iter()
            .filter(|l| !self.mounts_before.contains(l))
            .collect();
        assert!(ours.is_empty(), "mounts left on the host: {ours:?}");
        let cgroups = job_cgroups();
        assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    }
}

/// Whether this test runs nested in a dind job: its user namespace is not
/// the host's (whose map is the identity over every id). Some facts differ
/// there: the jobs' root is the outer job's root, no Docker socket, the
/// outer step's `no_new_privs` is inherited.
pub fn nested() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
}

/// The uid and gid of `user` (from `id`, which reads NSS as useradd wrote).
pub fn user_ids(user: &str) -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, user])
            .output()
            .expect("run id");
        assert!(
            out.status.success(),
            "no user {user}: run scripts/test-env.sh first"
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a numeric id")
    };
    (id("-u"), id("-g"))
}

/// A finished `nestci run`.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    /// The output lines of job `job`, without the `job │ ` prefix.
    pub fn lines_of(&self, job: &str) -> Vec<String> {
        self.stdout
            .lines()
            .filter_map(|l| {
                let (name, rest) = l.split_once(['│', '┆'])?;
                (name.trim() == job).then(|| rest.trim_start().to_string())
            })
            .collect()
    }

    /// The value printed as `key=value` by job `job`.
    pub fn value(&self, job: &str, key: &str) -> Option<String> {
        let prefix = format!("{key}=");
        self.lines_of(job)
            .iter()
            .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
    }

    pub fn describe(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A `nestci run` in the background, killed on drop if still running.
pub struct Running {
    pub child: Child,
    pub stdout: BufReader<std::process::ChildStdout>,
}

impl Running {
    pub fn start(sandbox: &Sandbox) -> Running {
        let mut child = sandbox
            .command(&[])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nestci");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Running { child, stdout }
    }

    /// Read output until a line contains `marker`; returns everything read.
    pub fn wait_for(&mut self, marker: &str) -> String {
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).expect("read output");
            assert!(n > 0, "nestci ended before printing {marker:?}:\n{seen}");
            seen.push_str(&line);
            if line.contains(marker) {
                return seen;
            }
        }
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig)
            .expect("signal nestci");
    }

    /// Wait for the end; returns the exit code and the rest of the output.
    pub fn finish(mut self) -> (Option<i32>, String) {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut self.stdout, &mut rest);
        let status = self.child.wait().expect("wait nestci");
        (status.code(), rest)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Processes of a dind container (shim or init) anywhere on the host,
/// but for this process's own ancestors: run nested in a dind job, the
/// outer job's init is one, and no leftover of ours.
pub fn container_processes() -> Vec<String> {
    let ancestors = ancestors();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if ancestors.iter().any(|a| a == pid) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if comm.trim() == "nestci-init" || cmdline.contains("__dind-shim") {
            found.push(format!("{pid}: {} {}", comm.trim(), cmdline.trim()));
        }
    }
    found
}

/// The pids above this process, up to pid 1 of its pid namespace.
fn ancestors() -> Vec<String> {
    let mut found = Vec::new();
    let mut pid = "self".to_string();
    while let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) state ppid ...`: the ppid is the second field after
        // the last ')'.
        let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .map(str::to_string)
        else {
            break;
        };
        if ppid == "0" {
            break;
        }
        found.push(ppid.clone());
        pid = ppid;
    }
    found
}

/// Job cgroups (`nestci-*`) under this process's own cgroup of every
/// hierarchy, v1 and v2.
pub fn job_cgroups() -> Vec<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut found = Vec::new();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(list), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let mounts: Vec<PathBuf> = if list.is_empty() {
            vec![
                PathBuf::from("/sys/fs/cgroup"),
                PathBuf::from("/sys/fs/cgroup/unified"),
            ]
        } else {
            list.split(',')
                .map(|c| Path::new("/sys/fs/cgroup").join(c.trim_start_matches("name=")))
                .collect()
        };
        for mount in mounts {
            let dir = mount.join(path.trim_start_matches('/'));
            if let Ok(rd) = std::fs::read_dir(&dir) {
                for e in rd.flatten() {
                    if e.file_name().to_string_lossy().starts_with("nestci-") {
                        found.push(e.path());
                    }
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}
