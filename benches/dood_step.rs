//! What a step costs in dood mode, against the floor set by the engine.
//!
//! `cargo bench --bench dood_step` (`DOCKER_HOST` chooses the engine;
//! `NESTCI_BENCH_N` the rounds, default 30) prints one table of medians:
//!
//! | row | what is timed |
//! |---|---|
//! | nestci step (exec)        | `run_step` of `true` in a prepared job: exec create + start (hijacked stream) + inspect |
//! | raw exec round trip       | the same three API calls by hand, output discarded |
//! | nestci step (own image)   | `run_step` of `true` with `image:`: create + attach + start + wait + remove |
//! | raw container round trip  | create + start + wait + remove by hand |
//! | `docker run --rm`         | the CLI, for scale (skipped when there is no `docker`) |
//!
//! The four API rows are measured round-robin (one of each per round) so
//! that the machine's load drifts over all of them alike. "paired Δ" is
//! the median, over rounds, of nestci's time minus the raw time of the
//! same round: on a busy machine, a steadier measure of what nestci adds
//! than the difference of the two medians. The benchmark
//! (not the product, not the tests) runs the `docker` CLI for the last row
//! only. The raw rows run the same process as nestci (`sh -e -c true`).

use std::path::Path;
use std::time::{Duration, Instant};

use hyper::Method;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use nestci::backend::dood::client::Body;
use nestci::backend::dood::{DoodBackend, DoodOptions, Engine, PullPolicy, gc};
use nestci::backend::{Backend, JobContext};
use nestci::dialect;
use nestci::model::Env;

const IMAGE: &str = "nestci-test/busybox:latest";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Median of `n` runs of `f`, after one warm-up run.
async fn time<F, Fut>(n: usize, mut f: F) -> Result<Duration, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    f().await?; // warm-up
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await?;
        times.push(t.elapsed());
    }
    Ok(median(times))
}

async fn raw_container(engine: &Engine) -> Result<(), String> {
    let body = serde_json::json!({
        "Image": IMAGE, "Entrypoint": ["sh"], "Cmd": ["-e", "-c", "true"],
        "Labels": {"nestci.run": "bench"},
    });
    let created: serde_json::Value = engine
        .json(Method::POST, "/containers/create", Body::json(&body))
        .await
        .map_err(|e| e.to_string())?;
    let id = created["Id"].as_str().ok_or("no id")?.to_string();
    let e = |e: nestci::backend::dood::EngineError| e.to_string();
    engine
        .call(Method::POST, &format!("/containers/{id}/start"), Body::None)
        .await
        .map_err(e)?;
    let _: serde_json::Value = engine
        .json(Method::POST, &format!("/containers/{id}/wait"), Body::None)
        .await
        .map_err(e)?;
    engine
        .call(
            Method::DELETE,
            &format!("/containers/{id}?force=true"),
            Body::None,
        )
        .await
        .map_err(e)
}

async fn raw_exec(engine: &Engine, container: &str) -> Result<(), String> {
    use tokio::io::AsyncReadExt;
    let e = |e: nestci::backend::dood::EngineError| e.to_string();
    // The same process nestci starts for a step `true`: its shell, in the
    // workspace.
    let body = serde_json::json!({
        "Cmd": ["sh", "-e", "-c", "true"], "WorkingDir": "/workspace", "Env": [], "Tty": false,
        "AttachStdout": true, "AttachStderr": true,
    });
    let exec: serde_json::Value = engine
        .json(
            Method::POST,
            &format!("/containers/{container}/exec"),
            Body::json(&body),
        )
        .await
        .map_err(e)?;
    let id = exec["Id"].as_str().ok_or("no id")?.to_string();
    let mut io = engine
        .upgrade(
            Method::POST,
            &format!("/exec/{id}/start"),
            Body::json(&serde_json::json!({"Detach": false, "Tty": false})),
        )
        .await
        .map_err(e)?;
    let mut sink = Vec::new();
    io.read_to_end(&mut sink).await.map_err(|e| e.to_string())?;
    let _: serde_json::Value = engine
        .json(Method::GET, &format!("/exec/{id}/json"), Body::None)
        .await
        .map_err(e)?;
    Ok(())
}

async fn bench() -> Result<(), String> {
    let n: usize = std::env::var("NESTCI_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let backend = DoodBackend::connect(DoodOptions {
        pull: PullPolicy::Never,
        ..DoodOptions::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let engine = backend.engine().clone();
    let yaml = format!(
        "image: {IMAGE}\njobs:\n  bench:\n    steps:\n      - run: 'true'\n      - image: {IMAGE}\n        run: 'true'\n"
    );
    let job = dialect::load_str(Path::new("bench.yml"), &yaml)
        .map_err(|e| format!("{:?}", e.diagnostics))?
        .pipeline
        .jobs[0]
        .clone();
    let ws = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ctx = JobContext {
        run_id: format!("bench-{}", std::process::id()),
        workspace: ws.path().to_path_buf(),
        overrides: Env::new(),
    };
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel(1024);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let handle = backend
        .prepare(&job, &ctx, &tx, &cancel)
        .await
        .map_err(|e| e.to_string())?;

    // The job container, for the raw exec row.
    let containers = gc::collect(&engine, &[format!("nestci.run={}", ctx.run_id)])
        .await
        .map_err(|e| e.to_string())?;
    let job_container = containers
        .iter()
        .find(|l| l.kind == gc::Kind::Container)
        .map(|l| l.id.clone())
        .ok_or("no job container")?;

    // Round-robin, so that drift in the machine's load hits every row alike.
    let mut rows: [Vec<Duration>; 4] = Default::default();
    for round in 0..=n {
        let mut timed = [Duration::ZERO; 4];
        // Rotate the order too: what ran just before (a container's
        // teardown, say) should not always weigh on the same row.
        for k in 0..4 {
            let i = (k + round) % 4;
            let slot = &mut timed[i];
            let t = Instant::now();
            match i {
                0 => match handle.run_step(&job.steps[0], &job.env, &tx, &cancel).await {
                    Ok(exit) if exit.success() => {}
                    other => return Err(format!("exec step: {other:?}")),
                },
                1 => raw_exec(&engine, &job_container).await?,
                2 => match handle.run_step(&job.steps[1], &job.env, &tx, &cancel).await {
                    Ok(exit) if exit.success() => {}
                    other => return Err(format!("image step: {other:?}")),
                },
                _ => raw_container(&engine).await?,
            }
            *slot = t.elapsed();
        }
        // Round 0 warms up.
        if round > 0 {
            for (row, t) in rows.iter_mut().zip(timed) {
                row.push(t);
            }
        }
    }
    // Per round, nestci minus raw: the two ran back to back, so the load
    // of that moment weighs on both and mostly cancels out. The median of
    // these differences is a steadier figure for nestci's own cost than
    // the difference of two medians on a busy machine.
    let paired = |a: &[Duration], b: &[Duration]| -> f64 {
        let mut d: Vec<f64> = a
            .iter()
            .zip(b)
            .map(|(a, b)| (a.as_secs_f64() - b.as_secs_f64()) * 1000.0)
            .collect();
        d.sort_by(f64::total_cmp);
        d[d.len() / 2]
    };
    let exec_delta = paired(&rows[0], &rows[1]);
    let image_delta = paired(&rows[2], &rows[3]);
    let [exec_step, raw_exec, image_step, raw_container] = rows.map(|r| Ok(median(r)));
    let cleaned = handle.cleanup().await;
    drop(tx);
    let _ = drain.await;
    cleaned.map_err(|e| e.to_string())?;

    let docker_run = if std::process::Command::new("docker")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        Some(
            time(n, || async {
                let ok = tokio::process::Command::new("docker")
                    .args(["run", "--rm", IMAGE, "true"])
                    .status()
                    .await
                    .is_ok_and(|s| s.success());
                if ok {
                    Ok(())
                } else {
                    Err("docker run failed".into())
                }
            })
            .await,
        )
    } else {
        None
    };

    let ms = |d: &Result<Duration, String>| match d {
        Ok(d) => format!("{:8.1} ms", d.as_secs_f64() * 1000.0),
        Err(e) => format!("error: {e}"),
    };
    let ratio = |a: &Result<Duration, String>, b: &Result<Duration, String>| match (a, b) {
        (Ok(a), Ok(b)) => format!(
            "{:+.1} %",
            (a.as_secs_f64() / b.as_secs_f64() - 1.0) * 100.0
        ),
        _ => "-".into(),
    };
    println!(
        "dood per-step cost, median of {n}, {} at {}",
        engine.info(),
        engine.endpoint()
    );
    println!(
        "{:<28} {:>12}  {:>8}  {:>16}",
        "what", "median", "vs raw", "paired Δ vs raw"
    );
    println!(
        "{:<28} {:>12}  {:>8}  {:>+13.2} ms",
        "nestci step (exec)",
        ms(&exec_step),
        ratio(&exec_step, &raw_exec),
        exec_delta
    );
    println!("{:<28} {:>12}", "raw exec round trip", ms(&raw_exec));
    println!(
        "{:<28} {:>12}  {:>8}  {:>+13.2} ms",
        "nestci step (own image)",
        ms(&image_step),
        ratio(&image_step, &raw_container),
        image_delta
    );
    println!(
        "{:<28} {:>12}",
        "raw container round trip",
        ms(&raw_container)
    );
    match &docker_run {
        Some(d) => println!("{:<28} {:>12}", "docker run --rm", ms(d)),
        None => println!("{:<28} {:>12}", "docker run --rm", "(no docker CLI)"),
    }
    Ok(())
}

fn main() {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start a runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(bench()) {
        eprintln!("dood_step: {e}");
        std::process::exit(1);
    }
}
