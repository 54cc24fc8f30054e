//! Shared by the `tests/dood_*.rs` suites: a real Docker Engine (a missing
//! daemon is a failure, not a skip), pipelines built from YAML text, runs
//! through the real scheduler with captured output, and a [`Guard`] that
//! removes every object labelled with the test's run id when the test
//! ends — passed, failed or panicked.
//!
//! Nothing here sleeps to synchronise: a test that must act "while a step
//! runs" waits for a marker in the step's output ([`Capture::cancel_on`]).

#![allow(dead_code)]

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use nestci::backend::dood::{DoodBackend, DoodOptions, Endpoint, Engine, PullPolicy, client, gc};
use nestci::dialect;
use nestci::model::Env;
use nestci::plan::{self, PlanOptions};
use nestci::run::{JobReport, JobStatus, Printer, RunOptions, RunReport, execute};

/// Imported by `scripts/test-env.sh`: busybox, PATH=/bin.
pub const BUSYBOX: &str = "nestci-test/busybox:latest";

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A run id unique to this test process and call.
pub fn run_id(tag: &str) -> String {
    format!(
        "test-{tag}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// The engine the tests run against. Panics (fails the test) when there
/// is none: CI must have one (`scripts/test-env.sh` checks).
pub async fn engine() -> Engine {
    match Engine::discover().await {
        Ok(e) => e,
        Err(e) => panic!("the dood tests need a Docker Engine (run scripts/test-env.sh): {e}"),
    }
}

pub async fn backend(options: DoodOptions) -> DoodBackend {
    match DoodBackend::connect(options).await {
        Ok(b) => b,
        Err(e) => panic!("the dood tests need a Docker Engine (run scripts/test-env.sh): {e}"),
    }
}

/// Default options for tests: busybox stands in for `host`; never pull
/// (no registry here).
pub fn options() -> DoodOptions {
    DoodOptions {
        pull: PullPolicy::Never,
        host_image: Some(BUSYBOX.into()),
        ..DoodOptions::default()
    }
}

/// Removes every object labelled `nestci.run=<run_id>` when dropped.
pub struct Guard {
    pub run_id: String,
}

impl Drop for Guard {
    fn drop(&mut self) {
        sweep_run(&self.run_id, None);
    }
}

/// A [`Guard`] for an engine other than the default one (Podman).
pub struct GuardAt {
    pub run_id: String,
    pub endpoint: Endpoint,
}

impl Drop for GuardAt {
    fn drop(&mut self) {
        sweep_run(&self.run_id, Some(self.endpoint.clone()));
    }
}

/// Remove every object of `run_id`, from a thread of our own (Drop may run
/// inside a runtime).
fn sweep_run(run_id: &str, endpoint: Option<Endpoint>) {
    let run = run_id.to_string();
    let swept = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let engine = match endpoint {
                Some(e) => Engine::connect(e).await,
                None => Engine::discover().await,
            }
            .map_err(|e| e.to_string())?;
            gc::sweep(&engine, &[format!("nestci.run={run}")], true)
                .await
                .map_err(|e| e.to_string())
        })
        .map(|s| s.removed.len())
    })
    .join();
    if let Ok(Ok(n)) = swept
        && n > 0
    {
        eprintln!("guard: removed {n} leftover object(s) of {run_id}");
    }
}

/// Podman's Docker-compatible service, as `scripts/test-env.sh` starts it.
pub fn podman() -> Endpoint {
    Endpoint::Unix(PathBuf::from("/run/podman/podman.sock"))
}

pub async fn engine_at(endpoint: Endpoint) -> Engine {
    match Engine::connect(endpoint).await {
        Ok(e) => e,
        Err(e) => panic!("the Podman tests need Podman's service (run scripts/test-env.sh): {e}"),
    }
}

/// Objects still labelled with `run_id`.
pub async fn leftovers(engine: &Engine, run_id: &str) -> Vec<gc::Leftover> {
    match gc::collect(engine, &[format!("nestci.run={run_id}")]).await {
        Ok(l) => l,
        Err(e) => panic!("listing labelled objects: {e}"),
    }
}

/// A `Write` the test can read back; optionally cancels a token when a
/// marker appears in the output.
#[derive(Clone, Default)]
pub struct Capture {
    buf: Arc<Mutex<Vec<u8>>>,
    trigger: Arc<Mutex<Option<(String, usize, CancellationToken)>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Write for Capture {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut buf = lock(&self.buf);
        buf.extend_from_slice(data);
        if let Some((marker, times, token)) = lock(&self.trigger).as_ref()
            && String::from_utf8_lossy(&buf)
                .matches(marker.as_str())
                .count()
                >= *times
        {
            token.cancel();
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Capture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&lock(&self.buf)).into_owned()
    }

    /// Cancel `token` as soon as `marker` has been printed `times` times.
    pub fn cancel_on(&self, marker: &str, times: usize, token: CancellationToken) {
        *lock(&self.trigger) = Some((marker.to_string(), times, token));
    }
}

/// A finished run.
pub struct Run {
    pub report: RunReport,
    pub output: String,
    pub log_dir: PathBuf,
    pub workspace: tempfile::TempDir,
}

impl Run {
    pub fn job(&self, name: &str) -> &JobReport {
        self.report
            .jobs
            .iter()
            .find(|j| j.name == name)
            .unwrap_or_else(|| panic!("no report for {name}: {:#?}\n{}", self.report, self.output))
    }

    pub fn status(&self, name: &str) -> JobStatus {
        self.job(name).status
    }

    pub fn message(&self, name: &str) -> String {
        self.job(name).message.clone().unwrap_or_default()
    }

    pub fn log(&self, job: &str) -> String {
        let path = self.log_dir.join(format!("{job}.log"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    pub fn workspace(&self) -> &Path {
        self.workspace.path()
    }
}

/// How to run a pipeline in a test.
pub struct Spec<'a> {
    pub yaml: &'a str,
    pub run_id: &'a str,
    pub options: DoodOptions,
    pub overrides: Env,
    pub jobs: usize,
    pub capture: Capture,
    pub cancel: CancellationToken,
}

impl<'a> Spec<'a> {
    pub fn new(yaml: &'a str, run_id: &'a str) -> Spec<'a> {
        Spec {
            yaml,
            run_id,
            options: options(),
            overrides: Env::new(),
            jobs: 4,
            capture: Capture::default(),
            cancel: CancellationToken::new(),
        }
    }
}

/// Parse, plan and run a pipeline on the real engine, in a fresh
/// workspace. A generous guard turns a hang into a failure.
pub async fn run(spec: Spec<'_>) -> Run {
    let loaded = match dialect::load_str(Path::new("test.yml"), spec.yaml) {
        Ok(l) => l,
        Err(e) => panic!("{:#?}", e.diagnostics),
    };
    let plan = match plan::build(
        &loaded.pipeline,
        &PlanOptions {
            select: vec![],
            env: spec.overrides.clone(),
        },
    ) {
        Ok(p) => p,
        Err(d) => panic!("{d:#?}"),
    };
    let workspace = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => panic!("tempdir: {e}"),
    };
    let log_dir = workspace.path().join(".nestci/logs").join(spec.run_id);
    let opts = RunOptions {
        jobs: spec.jobs,
        run_id: spec.run_id.to_string(),
        workspace: workspace.path().to_path_buf(),
        overrides: spec.overrides,
        log_dir: log_dir.clone(),
    };
    let printer = Arc::new(
        Printer::new(Box::new(spec.capture.clone()), false)
            .with_jobs(plan.jobs.iter().map(|j| j.job.name.as_str())),
    );
    let backend = Arc::new(backend(spec.options).await);
    let report = match tokio::time::timeout(
        Duration::from_secs(300),
        execute(&plan, backend, opts, printer, spec.cancel),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => panic!("the run did not finish:\n{}", spec.capture.text()),
    };
    Run {
        report,
        output: spec.capture.text(),
        log_dir,
        workspace,
    }
}

/// An image built for one test, removed (from its engine) when dropped.
pub struct TestImage {
    pub name: String,
    endpoint: Endpoint,
}

impl Drop for TestImage {
    fn drop(&mut self) {
        let name = self.name.clone();
        let endpoint = self.endpoint.clone();
        // Drop may run inside the test's runtime: remove from a thread of
        // its own, with a runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let engine = Engine::connect(endpoint).await.ok()?;
                engine
                    .call(
                        hyper::Method::DELETE,
                        &format!("/images/{}?force=true", client::encode(&name)),
                        client::Body::None,
                    )
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// Build `FROM busybox` plus `instructions` (a Dockerfile's remaining
/// lines) as `name` through `POST /build`, which both engines serve the
/// same way. (Podman's `/commit` knows no `HEALTHCHECK` change, so the
/// build API is the one road to an image with a healthcheck on both.)
pub async fn build_image(endpoint: Endpoint, name: &str, instructions: &str) -> TestImage {
    let image = TestImage {
        name: name.to_string(),
        endpoint: endpoint.clone(),
    };
    let engine = engine_at(endpoint).await;
    let dockerfile = format!("FROM {BUSYBOX}\n{instructions}\n");
    let mut context = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    context
        .append_data(&mut header, "Dockerfile", dockerfile.as_bytes())
        .expect("tar the Dockerfile");
    let context = context.into_inner().expect("tar the Dockerfile");
    let mut body = engine
        .stream(
            hyper::Method::POST,
            &format!("/build?t={}&rm=1&forcerm=1", client::encode(name)),
            client::Body::Raw(context.into(), "application/x-tar"),
        )
        .await
        .unwrap_or_else(|e| panic!("building {name}: {e}"));
    // The build reports its errors inside a 200 answer, as JSON lines.
    let mut progress = Vec::new();
    while let Some(frame) = http_body_util::BodyExt::frame(&mut body).await {
        let frame = frame.unwrap_or_else(|e| panic!("building {name}: {e}"));
        if let Some(data) = frame.data_ref() {
            progress.extend_from_slice(data);
        }
    }
    let progress = String::from_utf8_lossy(&progress);
    assert!(
        !progress.contains("\"error\""),
        "building {name} failed: {progress}"
    );
    image
}

/// A busybox image whose HEALTHCHECK passes only once something answers
/// `GET http://127.0.0.1:8080/index.html` inside the container.
pub async fn healthy_web_image(endpoint: Endpoint) -> TestImage {
    let tag = match &endpoint {
        Endpoint::Unix(p) if p.starts_with("/run/podman") => "podman",
        _ => "docker",
    };
    build_image(
        endpoint,
        &format!("nestci-test/healthy:{tag}-{}", std::process::id()),
        "HEALTHCHECK --interval=100ms --timeout=1s --retries=100 \
         CMD wget -q -O /dev/null http://127.0.0.1:8080/index.html",
    )
    .await
}
