//! Output through the dood backend directly (no scheduler): 100,000 lines
//! per stream arrive complete and in order, and a step's exit code is the
//! process's.

#[path = "dood_support/mod.rs"]
mod support;

use std::path::Path;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use nestci::backend::{Backend, JobContext, StepExit, Stream};
use nestci::dialect;
use nestci::model::{Env, Job};

use support::{BUSYBOX, Guard, backend, engine, leftovers, options, run_id};

fn job(yaml: &str) -> Job {
    match dialect::load_str(Path::new("t.yml"), yaml) {
        Ok(l) => l.pipeline.jobs[0].clone(),
        Err(e) => panic!("{:#?}", e.diagnostics),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_thousand_lines_per_stream_arrive_complete_and_in_order() {
    const N: usize = 100_000;
    let id = run_id("lines");
    let _guard = Guard { run_id: id.clone() };
    // stdout and stderr written at the same time, so frames interleave.
    let job = job(&format!(
        "
image: {BUSYBOX}
jobs:
  flood:
    steps:
      - run: |
          seq 1 {N} | sed 's/^/out /' &
          seq 1 {N} | sed 's/^/err /' >&2
          wait
"
    ));
    let workspace = tempfile::tempdir().expect("tempdir");
    let ctx = JobContext {
        run_id: id.clone(),
        workspace: workspace.path().to_path_buf(),
        overrides: Env::new(),
    };
    let backend = backend(options()).await;
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel(64);
    let handle = backend
        .prepare(&job, &ctx, &tx, &cancel)
        .await
        .expect("prepare");
    let step = &job.steps[0];
    let collect = tokio::spawn(async move {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        while let Some(line) = rx.recv().await {
            let text = String::from_utf8_lossy(&line.bytes).into_owned();
            match line.stream {
                Stream::Stdout => out.push(text),
                Stream::Stderr => err.push(text),
            }
        }
        (out, err)
    });
    let exit = handle.run_step(step, &job.env, &tx, &cancel).await;
    drop(tx);
    let cleaned = handle.cleanup().await;
    let (out, err) = collect.await.expect("collector");
    assert_eq!(exit.expect("run_step"), StepExit::Code(0));
    cleaned.expect("cleanup");
    assert_eq!(out.len(), N, "stdout lines");
    assert_eq!(err.len(), N, "stderr lines");
    for (i, (o, e)) in out.iter().zip(&err).enumerate() {
        assert_eq!(o, &format!("out {}", i + 1));
        assert_eq!(e, &format!("err {}", i + 1));
    }
    assert_eq!(leftovers(&engine().await, &id).await, vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_and_a_last_line_without_newline() {
    let id = run_id("codes");
    let _guard = Guard { run_id: id.clone() };
    let job = job(&format!(
        "
image: {BUSYBOX}
jobs:
  j:
    steps:
      - run: printf 'no newline'; exit 42
"
    ));
    let workspace = tempfile::tempdir().expect("tempdir");
    let ctx = JobContext {
        run_id: id.clone(),
        workspace: workspace.path().to_path_buf(),
        overrides: Env::new(),
    };
    let backend = backend(options()).await;
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel(64);
    let handle = backend
        .prepare(&job, &ctx, &tx, &cancel)
        .await
        .expect("prepare");
    let exit = handle.run_step(&job.steps[0], &job.env, &tx, &cancel).await;
    drop(tx);
    handle.cleanup().await.expect("cleanup");
    let mut lines = Vec::new();
    while let Some(l) = rx.recv().await {
        lines.push(String::from_utf8_lossy(&l.bytes).into_owned());
    }
    assert_eq!(exit.expect("run_step"), StepExit::Code(42));
    assert_eq!(lines, vec!["no newline".to_string()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn restored_artifacts_appear_in_the_job_workspace() {
    let id = run_id("restore");
    let _guard = Guard { run_id: id.clone() };
    let job = job(&format!(
        "
image: {BUSYBOX}
jobs:
  j:
    steps:
      - run: cat handed/over.txt
"
    ));
    let from = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(from.path().join("handed")).expect("mkdir");
    std::fs::write(from.path().join("handed/over.txt"), "restored!\n").expect("write");
    let workspace = tempfile::tempdir().expect("tempdir");
    let ctx = JobContext {
        run_id: id.clone(),
        workspace: workspace.path().to_path_buf(),
        overrides: Env::new(),
    };
    let backend = backend(options()).await;
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel(64);
    let handle = backend
        .prepare(&job, &ctx, &tx, &cancel)
        .await
        .expect("prepare");
    let restored = handle.restore_artifacts(from.path()).await;
    let exit = handle.run_step(&job.steps[0], &job.env, &tx, &cancel).await;
    drop(tx);
    handle.cleanup().await.expect("cleanup");
    restored.expect("restore");
    let mut lines = Vec::new();
    while let Some(l) = rx.recv().await {
        lines.push(String::from_utf8_lossy(&l.bytes).into_owned());
    }
    assert_eq!(exit.expect("run_step"), StepExit::Code(0));
    assert_eq!(lines, vec!["restored!".to_string()]);
    assert_eq!(
        std::fs::read_to_string(workspace.path().join("handed/over.txt"))
            .ok()
            .as_deref(),
        Some("restored!\n")
    );
}
