//! The scheduler against a fake backend.
//!
//! The fake runs no processes: each step's `run` text is a tiny script
//! (see [`Fake::run_step`]) and every call is recorded, so tests can check
//! the order of prepare/run/cleanup and how many jobs ran at once. Tests
//! synchronise with channels, `Notify` and barriers, never with sleeps;
//! the only clocks involved are the step/job timeouts under test, and
//! nothing asserts how long anything took.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Barrier, Notify};
use tokio_util::sync::CancellationToken;

use nestci::backend::{
    Backend, BackendError, JobContext, JobHandle, OutputLine, OutputSender, StepExit, Stream,
};
use nestci::model::{Dialect, Env, Job, Loc, Located, Need, Pipeline, Step, StepWhen, When};
use nestci::plan::{self, Plan, PlanOptions};
use nestci::run::{JobReport, JobStatus, Printer, RunOptions, RunReport, execute, summary};

// ---------------------------------------------------------------------------
// The fake backend

/// One recorded backend call.
#[derive(Debug, Clone, PartialEq)]
enum Call {
    Prepare(String),
    Step(String, String),
    /// `restore_artifacts` into a job, from the artifacts of a job.
    Restore(String, String),
    Cleanup(String),
}

#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<Call>>,
    /// Jobs between prepare and cleanup, and the most there ever were.
    active: AtomicUsize,
    high_water: AtomicUsize,
    /// Prepares per job: "which attempt is this".
    attempts: Mutex<HashMap<String, u32>>,
    /// For the `barrier` script.
    barrier: Option<Barrier>,
    /// Notified when a `sleep-until-cancelled` step is blocked.
    blocked: Notify,
    /// The env each step saw, by step name.
    envs: Mutex<HashMap<String, Env>>,
}

impl Fake {
    fn with_barrier(n: usize) -> Fake {
        Fake {
            barrier: Some(Barrier::new(n)),
            ..Fake::default()
        }
    }

    fn record(&self, call: Call) {
        lock(&self.calls).push(call);
    }

    fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    fn position(&self, call: &Call) -> usize {
        self.calls()
            .iter()
            .position(|c| c == call)
            .unwrap_or_else(|| panic!("{call:?} never happened: {:#?}", self.calls()))
    }

    fn count(&self, call: &Call) -> usize {
        self.calls().iter().filter(|c| *c == call).count()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// The backend handed to the scheduler: shares the recorder with the test.
struct FakeBackend(Arc<Fake>);

#[async_trait]
impl Backend for FakeBackend {
    fn name(&self) -> &'static str {
        "fake"
    }

    async fn prepare(
        &self,
        job: &Job,
        _ctx: &JobContext,
        out: &OutputSender,
        _cancel: &CancellationToken,
    ) -> Result<Box<dyn JobHandle>, BackendError> {
        self.0.record(Call::Prepare(job.name.clone()));
        if job.image.as_ref().is_some_and(|i| i.value == "missing") {
            return Err(BackendError::Image {
                image: "missing".into(),
                message: "not found".into(),
            });
        }
        let attempt = {
            let mut attempts = lock(&self.0.attempts);
            let n = attempts.entry(job.name.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let _ = out
            .send(OutputLine {
                stream: Stream::Stdout,
                bytes: b"preparing".to_vec(),
            })
            .await;
        let now = self.0.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.high_water.fetch_max(now, Ordering::SeqCst);
        Ok(Box::new(FakeJob {
            fake: Arc::clone(&self.0),
            job: job.name.clone(),
            attempt,
        }))
    }
}

struct FakeJob {
    fake: Arc<Fake>,
    job: String,
    attempt: u32,
}

async fn say(out: &OutputSender, stream: Stream, text: &str) {
    let _ = out
        .send(OutputLine {
            stream,
            bytes: text.as_bytes().to_vec(),
        })
        .await;
}

#[async_trait]
impl JobHandle for FakeJob {
    /// Scripts:
    /// - `echo TEXT` / `err TEXT`: one line on stdout / stderr;
    /// - `lines N`: `line 1` … `line N` on stdout;
    /// - `fail N`: exit code N; `signal N`: killed by signal N;
    /// - `fail-first-attempt`: exit 1 on the job's first attempt, else 0;
    /// - `sleep-until-cancelled`: tell the test, then wait for the token;
    /// - `barrier`: wait until `n` steps wait together;
    /// - `yield`: let other tasks run a while, then pass;
    /// - `env`: print `A=.. B=.. C=..` from the step's env;
    /// - anything else: pass.
    async fn run_step(
        &self,
        step: &Step,
        env: &Env,
        out: &OutputSender,
        cancel: &CancellationToken,
    ) -> Result<StepExit, BackendError> {
        self.fake
            .record(Call::Step(self.job.clone(), step.name.clone()));
        lock(&self.fake.envs).insert(step.name.clone(), env.clone());
        let (cmd, arg) = step.run.split_once(' ').unwrap_or((step.run.as_str(), ""));
        let exit = match cmd {
            "echo" => {
                say(out, Stream::Stdout, arg).await;
                StepExit::Code(0)
            }
            "err" => {
                say(out, Stream::Stderr, arg).await;
                StepExit::Code(0)
            }
            "lines" => {
                let n: u32 = arg.parse().unwrap_or(0);
                for k in 1..=n {
                    say(out, Stream::Stdout, &format!("line {k}")).await;
                }
                StepExit::Code(0)
            }
            "fail" => StepExit::Code(arg.parse().unwrap_or(1)),
            "signal" => StepExit::Signal(arg.parse().unwrap_or(9)),
            "fail-first-attempt" => StepExit::Code(if self.attempt == 1 { 1 } else { 0 }),
            "sleep-until-cancelled" => {
                self.fake.blocked.notify_one();
                cancel.cancelled().await;
                StepExit::Cancelled
            }
            "barrier" => {
                if let Some(b) = &self.fake.barrier {
                    b.wait().await;
                }
                StepExit::Code(0)
            }
            "yield" => {
                for _ in 0..20 {
                    tokio::task::yield_now().await;
                }
                StepExit::Code(0)
            }
            "env" => {
                let get = |k| env.get(k).unwrap_or("-").to_string();
                let line = format!("A={} B={} C={}", get("A"), get("B"), get("C"));
                say(out, Stream::Stdout, &line).await;
                StepExit::Code(0)
            }
            _ => StepExit::Code(0),
        };
        Ok(exit)
    }

    /// Keeps nothing but the directory, so that later jobs find it.
    async fn collect_artifacts(
        &self,
        paths: &[String],
        dest: &std::path::Path,
        _out: &OutputSender,
    ) -> Result<usize, BackendError> {
        std::fs::create_dir_all(dest)
            .map_err(|e| BackendError::Runtime(format!("creating {}: {e}", dest.display())))?;
        Ok(paths.len())
    }

    async fn restore_artifacts(&self, from: &std::path::Path) -> Result<(), BackendError> {
        let producer = from
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.fake.record(Call::Restore(self.job.clone(), producer));
        Ok(())
    }

    async fn cleanup(self: Box<Self>) -> Result<(), BackendError> {
        self.fake.active.fetch_sub(1, Ordering::SeqCst);
        self.fake.record(Call::Cleanup(self.job.clone()));
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Building pipelines

fn loc() -> Loc {
    Loc::synthetic("test.yml")
}

fn step(run: &str) -> Step {
    Step::new(run, run, loc())
}

fn job(name: &str, needs: &[&str], steps: &[&str]) -> Job {
    let needs = needs
        .iter()
        .map(|n| Need {
            job: n.to_string(),
            optional: false,
            loc: loc(),
        })
        .collect();
    Job {
        needs: Some(needs),
        steps: steps.iter().map(|s| step(s)).collect(),
        ..Job::new(name, loc())
    }
}

fn planned(jobs: Vec<Job>) -> Plan {
    let p = Pipeline {
        name: "test".into(),
        dialect: Dialect::Native,
        file: Arc::new(PathBuf::from("test.yml")),
        stages: Vec::new(),
        jobs,
        untrusted_input: None,
    };
    match plan::build(&p, &PlanOptions::default()) {
        Ok(plan) => plan,
        Err(e) => panic!("plan failed: {e:#?}"),
    }
}

// ---------------------------------------------------------------------------
// Running

/// A `Write` the test can read back.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&lock(&self.0)).into_owned()
    }
}

struct Run {
    report: RunReport,
    output: String,
    log_dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Run {
    fn job(&self, name: &str) -> &JobReport {
        self.report
            .jobs
            .iter()
            .find(|j| j.name == name)
            .unwrap_or_else(|| panic!("no report for {name}: {:#?}", self.report))
    }

    fn status(&self, name: &str) -> JobStatus {
        self.job(name).status
    }

    fn message(&self, name: &str) -> &str {
        self.job(name).message.as_deref().unwrap_or("")
    }
}

fn options(jobs: usize, overrides: Env) -> (RunOptions, tempfile::TempDir) {
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => panic!("tempdir: {e}"),
    };
    let opts = RunOptions {
        jobs,
        run_id: "test-run".into(),
        workspace: tmp.path().to_path_buf(),
        overrides,
        log_dir: tmp.path().join(".nestci/logs/test-run"),
    };
    (opts, tmp)
}

/// Run `plan` on `fake` with `cancel`; a generous guard turns a deadlock
/// into a failure instead of a hung test.
async fn run_with(
    plan: &Plan,
    fake: &Arc<Fake>,
    jobs: usize,
    overrides: Env,
    cancel: CancellationToken,
) -> Run {
    let (opts, tmp) = options(jobs, overrides);
    let log_dir = opts.log_dir.clone();
    let capture = Capture::default();
    let printer = Arc::new(
        Printer::new(Box::new(capture.clone()), false)
            .with_jobs(plan.jobs.iter().map(|j| j.job.name.as_str())),
    );
    let backend = Arc::new(FakeBackend(Arc::clone(fake)));
    let run = execute(plan, backend, opts, printer, cancel);
    let report = match tokio::time::timeout(Duration::from_secs(30), run).await {
        Ok(r) => r,
        Err(_) => panic!(
            "execute did not finish: {}\n{:#?}",
            capture.text(),
            fake.calls()
        ),
    };
    Run {
        report,
        output: capture.text(),
        log_dir,
        _tmp: tmp,
    }
}

async fn run(plan: &Plan, fake: &Arc<Fake>, jobs: usize) -> Run {
    run_with(plan, fake, jobs, Env::new(), CancellationToken::new()).await
}

// ---------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dependencies_start_after_their_needs_finish() {
    let plan = planned(vec![
        job("a", &[], &["echo a"]),
        job("b", &["a"], &["yield"]),
        job("c", &["a"], &["yield"]),
        job("d", &["b", "c"], &["echo d"]),
        job("e", &[], &["yield"]),
    ]);
    let fake = Arc::new(Fake::default());
    let run = run(&plan, &fake, 4).await;
    assert_eq!(run.report.exit_code(), 0, "{}", run.output);
    for pj in &plan.jobs {
        assert_eq!(run.status(&pj.job.name), JobStatus::Passed);
        let started = fake.position(&Call::Prepare(pj.job.name.clone()));
        for &d in &pj.deps {
            let dep = &plan.jobs[d].job.name;
            let finished = fake.position(&Call::Cleanup(dep.clone()));
            assert!(
                finished < started,
                "{} started before {dep} finished",
                pj.job.name
            );
        }
    }
    // Reports come in plan order, whatever order jobs finished in.
    let names: Vec<&str> = run.report.jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_slot_runs_one_job_at_a_time() {
    let plan = planned(
        (0..6)
            .map(|i| job(&format!("j{i}"), &[], &["yield", "yield"]))
            .collect(),
    );
    let fake = Arc::new(Fake::default());
    let run = run(&plan, &fake, 1).await;
    assert_eq!(run.report.exit_code(), 0);
    assert_eq!(fake.high_water.load(Ordering::SeqCst), 1);
    // With one slot, jobs run in file order.
    let prepares: Vec<Call> = fake
        .calls()
        .into_iter()
        .filter(|c| matches!(c, Call::Prepare(_)))
        .collect();
    let expected: Vec<Call> = (0..6).map(|i| Call::Prepare(format!("j{i}"))).collect();
    assert_eq!(prepares, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_slots_run_four_jobs_at_once_and_no_more() {
    // Each step waits until four steps wait together: this only finishes
    // if four jobs really run at once. Eight jobs: two rounds of four.
    let plan = planned(
        (0..8)
            .map(|i| job(&format!("j{i}"), &[], &["barrier"]))
            .collect(),
    );
    let fake = Arc::new(Fake::with_barrier(4));
    let run = run(&plan, &fake, 4).await;
    assert_eq!(run.report.exit_code(), 0, "{}", run.output);
    assert_eq!(fake.high_water.load(Ordering::SeqCst), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_need_skips_its_dependants() {
    let plan = planned(vec![
        job("build", &[], &["echo compiling", "fail 3", "echo never"]),
        job("test", &["build"], &["echo testing"]),
        job("deploy", &["test"], &["echo deploying"]),
        job("lint", &[], &["echo ok"]),
    ]);
    let fake = Arc::new(Fake::default());
    let run = run(&plan, &fake, 2).await;
    assert_eq!(run.status("build"), JobStatus::Failed);
    assert_eq!(
        run.message("build"),
        "step `fail 3` failed with exit code 3"
    );
    assert_eq!(
        fake.count(&Call::Step("build".into(), "echo never".into())),
        0
    );
    assert_eq!(fake.count(&Call::Cleanup("build".into())), 1);
    assert_eq!(run.status("test"), JobStatus::Skipped);
    assert_eq!(run.message("test"), "needs `build`, which failed");
    assert_eq!(run.status("deploy"), JobStatus::Skipped);
    assert_eq!(run.message("deploy"), "needs `test`, which was skipped");
    assert_eq!(fake.count(&Call::Prepare("test".into())), 0);
    assert_eq!(run.status("lint"), JobStatus::Passed);
    assert_eq!(run.report.exit_code(), 1);
    assert!(
        run.output
            .contains("⊘ test skipped: needs `build`, which failed"),
        "{}",
        run.output
    );
    let table = summary::render(&run.report);
    assert!(
        table.contains("1 passed, 1 failed, 2 skipped — exit code 1"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_failure_counts_as_passed() {
    let mut lint = job("lint", &[], &["fail 1"]);
    lint.allow_failure = nestci::model::AllowFailure::Yes;
    let plan = planned(vec![lint, job("after", &["lint"], &["echo ran"])]);
    let fake = Arc::new(Fake::default());
    let run = run(&plan, &fake, 2).await;
    assert_eq!(run.status("lint"), JobStatus::FailedAllowed);
    assert_eq!(run.status("after"), JobStatus::Passed);
    assert_eq!(run.report.exit_code(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_allow_only_the_listed_failures() {
    use nestci::model::AllowFailure;
    let codes = AllowFailure::ExitCodes(vec![137, 255]);
    let mut listed = job("listed", &[], &["fail 137"]);
    listed.allow_failure = codes.clone();
    let mut other = job("other", &[], &["fail 1"]);
    other.allow_failure = codes.clone();
    let mut killed = job("killed", &[], &["signal 9"]);
    killed.allow_failure = codes.clone();
    let plan = planned(vec![
        listed,
        other,
        killed,
        job("after", &["listed"], &["echo ran"]),
    ]);
    let fake = Arc::new(Fake::default());
    let run = run(&plan, &fake, 2).await;
    assert_eq!(run.status("listed"), JobStatus::FailedAllowed);
    assert_eq!(
        run.status("after"),
        JobStatus::Passed,
        "an allowed failure counts as passed"
    );
    assert_eq!(run.status("other"), JobStatus::Failed);
    assert_eq!(
        run.message("other"),
        "step `fail 1` failed with exit code 1; `allow_failure` accepts only exit codes 137, 255"
    );
    // A signal is no exit code: not allowed.
    assert_eq!(run.status("killed"), JobStatus::Failed);
    assert_eq!(run.report.exit_code(), 1);
    let table = summary::render(&run.report);
    let row = table
        .lines()
        .find(|l| l.starts_with("listed"))
        .unwrap_or_default();
    assert!(
        row.contains("failed (allowed)") && row.contains("exit code 137"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_come_from_the_jobs_the_model_names() {
    use nestci::model::ArtifactsFrom;
    let with_artifacts = |name: &str| Job {
        artifacts: vec![Located::new("out".to_string(), loc())],
        ..job(name, &[], &["echo made"])
    };
    let listed = Job {
        artifacts_from: ArtifactsFrom::Jobs(vec!["b".into(), "a".into()]),
        ..job("listed", &["a", "b"], &["echo"])
    };
    let by_needs = job("by-needs", &["a"], &["echo"]);
    let none = Job {
        artifacts_from: ArtifactsFrom::Jobs(Vec::new()),
        ..job("none", &["a", "b"], &["echo"])
    };
    let plan = planned(vec![
        with_artifacts("a"),
        with_artifacts("b"),
        listed,
        by_needs,
        none,
    ]);
    let fake = Arc::new(Fake::default());
    let run = run(&plan, &fake, 1).await;
    assert_eq!(run.report.exit_code(), 0, "{}", run.output);
    let restores = |job: &str| -> Vec<String> {
        fake.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Restore(to, from) if to == job => Some(from),
                _ => None,
            })
            .collect()
    };
    assert_eq!(restores("listed"), ["b", "a"], "in the model's order");
    assert_eq!(restores("by-needs"), ["a"]);
    assert_eq!(restores("none"), Vec::<String>::new());
    // Restored after prepare, before the first step.
    let restore = fake.position(&Call::Restore("by-needs".into(), "a".into()));
    assert!(fake.position(&Call::Prepare("by-needs".into())) < restore);
    assert!(restore < fake.position(&Call::Step("by-needs".into(), "echo".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_on_error_does_not_fail_the_job() {
    let mut j = job("j", &[], &["fail 2", "echo still running"]);
    j.steps[0].continue_on_error = true;
    let plan = planned(vec![j]);
    let fake = Arc::new(Fake::default());
    let run = run(&plan, &fake, 1).await;
    assert_eq!(run.status("j"), JobStatus::Passed);
    assert_eq!(
        fake.count(&Call::Step("j".into(), "echo still running".into())),
        1
    );
    assert!(
        run.output.contains("(continuing: `continue_on_error`)"),
        "{}",
        run.output
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_conditions_follow_earlier_failures() {
    let mut j = job(
        "j",
        &[],
        &[
            "echo one",
            "fail 1",
            "echo skipped",
            "echo rescue",
            "echo finally",
        ],
    );
    j.steps[3].when = StepWhen::OnFailure;
    j.steps[4].when = StepWhen::Always;
    let mut ok = job(
        "ok",
        &[],
        &["echo fine", "echo not needed", "echo finally ok"],
    );
    ok.steps[1].when = StepWhen::OnFailure;
    ok.steps[2].when = StepWhen::Always;
    let plan = planned(vec![j, ok]);
    let fake = Arc::new(Fake::default());
    let run = run(&plan, &fake, 2).await;
    let steps = |job: &str| -> Vec<String> {
        fake.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Step(j, s) if j == job => Some(s),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        steps("j"),
        ["echo one", "fail 1", "echo rescue", "echo finally"]
    );
    assert_eq!(run.status("j"), JobStatus::Failed);
    assert_eq!(steps("ok"), ["echo fine", "echo finally ok"]);
    assert_eq!(run.status("ok"), JobStatus::Passed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_runs_a_failed_job_again() {
    let mut flaky = job("flaky", &[], &["fail-first-attempt"]);
    flaky.retry = 2;
    let plan = planned(vec![flaky]);
    let fake = Arc::new(Fake::default());
    let run = run(&plan, &fake, 1).await;
    assert_eq!(run.status("flaky"), JobStatus::Passed);
    assert_eq!(run.job("flaky").attempts, 2);
    assert_eq!(fake.count(&Call::Prepare("flaky".into())), 2);
    assert_eq!(fake.count(&Call::Cleanup("flaky".into())), 2);
    assert!(
        run.output.contains("retrying (attempt 2 of 3)"),
        "{}",
        run.output
    );
    assert!(run.output.contains("✓ flaky passed in"), "{}", run.output);
    assert!(run.output.contains("after 2 attempts"), "{}", run.output);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_gives_up_after_the_last_attempt() {
    let mut broken = job("broken", &[], &["fail 4"]);
    broken.retry = 1;
    let plan = planned(vec![broken]);
    let fake = Arc::new(Fake::default());
    let run = run(&plan, &fake, 1).await;
    assert_eq!(run.status("broken"), JobStatus::Failed);
    assert_eq!(run.job("broken").attempts, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_timeout_stops_the_step_and_cleans_up() {
    let mut slow = job("slow", &[], &["sleep-until-cancelled", "echo rescue"]);
    slow.steps[0].timeout = Some(Located::new(Duration::from_millis(50), loc()));
    slow.steps[1].when = StepWhen::OnFailure;
    let plan = planned(vec![slow, job("after", &["slow"], &["echo x"])]);
    let fake = Arc::new(Fake::default());
    let run = run(&plan, &fake, 2).await;
    assert_eq!(run.status("slow"), JobStatus::TimedOut);
    assert_eq!(
        run.message("slow"),
        "step `sleep-until-cancelled` timed out after 50ms"
    );
    assert_eq!(fake.count(&Call::Cleanup("slow".into())), 1);
    assert_eq!(
        fake.count(&Call::Step("slow".into(), "echo rescue".into())),
        1
    );
    assert_eq!(run.message("after"), "needs `slow`, which timed out");
    assert_eq!(run.report.exit_code(), 1);
    assert!(
        run.output.contains("timed out after 50ms"),
        "{}",
        run.output
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_timeout_stops_the_job() {
    let mut slow = job(
        "slow",
        &[],
        &["echo first", "sleep-until-cancelled", "echo never"],
    );
    slow.timeout = Some(Located::new(Duration::from_millis(50), loc()));
    slow.steps[2].when = StepWhen::Always;
    let plan = planned(vec![slow]);
    let fake = Arc::new(Fake::default());
    let run = run(&plan, &fake, 1).await;
    assert_eq!(run.status("slow"), JobStatus::TimedOut);
    assert_eq!(run.message("slow"), "timed out after 50ms");
    assert_eq!(
        fake.count(&Call::Step("slow".into(), "echo never".into())),
        0
    );
    assert_eq!(fake.count(&Call::Cleanup("slow".into())), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_running_jobs_and_skips_the_rest() {
    let mut blocking = job(
        "blocking",
        &[],
        &["echo started", "sleep-until-cancelled", "echo after"],
    );
    blocking.steps[2].when = StepWhen::Always;
    let plan = planned(vec![
        blocking,
        job("later", &["blocking"], &["echo never"]),
        job("also-later", &["later"], &["echo never"]),
    ]);
    let fake = Arc::new(Fake::default());
    let cancel = CancellationToken::new();
    let canceller = {
        let fake = Arc::clone(&fake);
        let cancel = cancel.clone();
        async move {
            fake.blocked.notified().await;
            cancel.cancel();
        }
    };
    let (run, ()) = tokio::join!(run_with(&plan, &fake, 2, Env::new(), cancel), canceller);
    assert_eq!(run.status("blocking"), JobStatus::Cancelled);
    assert_eq!(fake.count(&Call::Cleanup("blocking".into())), 1);
    assert_eq!(
        fake.count(&Call::Step("blocking".into(), "echo after".into())),
        0,
        "`always` steps do not run after Ctrl-C"
    );
    assert_eq!(run.status("later"), JobStatus::Skipped);
    assert_eq!(run.message("later"), "the run was cancelled");
    assert_eq!(run.status("also-later"), JobStatus::Skipped);
    assert_eq!(fake.count(&Call::Prepare("later".into())), 0);
    assert!(run.report.cancelled);
    assert_eq!(run.report.exit_code(), 130);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_before_a_slot_frees_skips_waiting_jobs() {
    // One slot, taken by a blocking job: the other job waits for the slot
    // when the run is cancelled, and never starts.
    let plan = planned(vec![
        job("blocking", &[], &["sleep-until-cancelled"]),
        job("queued", &[], &["echo never"]),
    ]);
    let fake = Arc::new(Fake::default());
    let cancel = CancellationToken::new();
    let canceller = {
        let fake = Arc::clone(&fake);
        let cancel = cancel.clone();
        async move {
            fake.blocked.notified().await;
            cancel.cancel();
        }
    };
    let (run, ()) = tokio::join!(run_with(&plan, &fake, 1, Env::new(), cancel), canceller);
    assert_eq!(run.status("blocking"), JobStatus::Cancelled);
    assert_eq!(run.status("queued"), JobStatus::Skipped);
    assert_eq!(fake.count(&Call::Prepare("queued".into())), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_and_on_failure_jobs() {
    let mut notify = job("notify", &["build"], &["echo build broke"]);
    notify.when = When::OnFailure;
    let mut report = job("report", &["build"], &["echo reporting"]);
    report.when = When::Always;
    let mut quiet = job("quiet", &["lint"], &["echo never"]);
    quiet.when = When::OnFailure;
    // `downstream` waits for `test`, skipped because `build` failed: an
    // on_failure job reacts to that failure too.
    let mut downstream = job("downstream", &["test"], &["echo cleanup"]);
    downstream.when = When::OnFailure;
    let plan = planned(vec![
        job("build", &[], &["fail 1"]),
        job("lint", &[], &["echo ok"]),
        notify,
        report,
        quiet,
        job("test", &["build"], &["echo never"]),
        downstream,
    ]);
    let fake = Arc::new(Fake::default());
    let run = run(&plan, &fake, 4).await;
    assert_eq!(run.status("notify"), JobStatus::Passed);
    assert_eq!(run.status("report"), JobStatus::Passed);
    assert_eq!(run.status("quiet"), JobStatus::Skipped);
    assert_eq!(
        run.message("quiet"),
        "`when: on_failure`, and nothing it needs failed"
    );
    assert_eq!(run.status("test"), JobStatus::Skipped);
    assert_eq!(run.status("downstream"), JobStatus::Passed);
    assert_eq!(run.report.exit_code(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_prepare_fails_the_job_without_cleanup() {
    let mut j = job("j", &[], &["echo never"]);
    j.image = Some(Located::new("missing".into(), loc()));
    let plan = planned(vec![j]);
    let fake = Arc::new(Fake::default());
    let run = run(&plan, &fake, 1).await;
    assert_eq!(run.status("j"), JobStatus::Failed);
    assert_eq!(
        run.message("j"),
        "could not prepare the job: image missing: not found"
    );
    assert_eq!(fake.count(&Call::Cleanup("j".into())), 0);
    assert_eq!(fake.count(&Call::Step("j".into(), "echo never".into())), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_steps_say_by_which_signal() {
    let plan = planned(vec![job("oom", &[], &["signal 9"])]);
    let fake = Arc::new(Fake::default());
    let run = run(&plan, &fake, 1).await;
    assert_eq!(run.status("oom"), JobStatus::Failed);
    assert!(
        run.message("oom").contains("signal 9 (SIGKILL"),
        "{}",
        run.message("oom")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_env_layers_job_step_and_overrides() {
    let mut j = job("j", &[], &["env"]);
    j.env.set("A", "job", None);
    j.env.set("B", "job", None);
    j.steps[0].env.set("B", "step", None);
    j.steps[0].env.set("C", "step", None);
    let mut overrides = Env::new();
    overrides.set("C", "cli", None);
    let plan = planned(vec![j]);
    let fake = Arc::new(Fake::default());
    let run = run_with(&plan, &fake, 1, overrides, CancellationToken::new()).await;
    assert!(
        run.output.contains("j │ A=job B=step C=cli"),
        "{}",
        run.output
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn output_is_complete_and_ordered_on_screen_and_in_logs() {
    const N: usize = 2000; // well past the channel's capacity
    let plan = planned(vec![
        job("alpha", &[], &["lines 2000", "err oops"]),
        job("b", &[], &["lines 2000"]),
        job("test [RUST=1.80]", &[], &["echo matrix"]),
    ]);
    let fake = Arc::new(Fake::default());
    let run = run(&plan, &fake, 3).await;
    assert_eq!(run.report.exit_code(), 0);

    // On screen: each job's lines, whole and in order, names padded to
    // the widest name.
    let width = "test [RUST=1.80]".len();
    for name in ["alpha", "b"] {
        let prefix = format!("{name:<width$} │ ");
        let lines: Vec<&str> = run
            .output
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .filter(|l| l.starts_with("line "))
            .collect();
        let expected: Vec<String> = (1..=N).map(|k| format!("line {k}")).collect();
        assert_eq!(lines, expected, "{name}");
    }
    assert!(run.output.contains(&format!("{:<width$} ┆ oops", "alpha")));

    // In the logs: the same lines, in order, after the step header.
    let log = std::fs::read_to_string(run.log_dir.join("alpha.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with("line ")).collect();
    assert_eq!(lines.len(), N);
    assert!(
        lines
            .iter()
            .enumerate()
            .all(|(k, l)| *l == format!("line {}", k + 1))
    );
    let header = log.find("▸ lines 2000").unwrap_or(usize::MAX);
    let first = log.find("line 1\n").unwrap_or(0);
    assert!(header < first, "{log}");
    assert!(log.contains("oops\n"));
    assert!(log.contains("✓ alpha passed"), "{log}");
    // Matrix names become safe file names.
    let matrix =
        std::fs::read_to_string(run.log_dir.join("test_RUST_1.80.log")).unwrap_or_default();
    assert!(matrix.contains("matrix\n"), "{matrix}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_plan_finishes_at_once() {
    let plan = Plan::default();
    let fake = Arc::new(Fake::default());
    let run = run(&plan, &fake, 4).await;
    assert!(run.report.jobs.is_empty());
    assert_eq!(run.report.exit_code(), 0);
}
