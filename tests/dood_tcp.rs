//! `DOCKER_HOST=tcp://` and a daemon that goes away mid-job, through a
//! small TCP-to-unix-socket proxy in front of the real daemon: the proxy
//! is the "daemon" the backend sees, and stopping it is the daemon dying.

#[path = "dood_support/mod.rs"]
mod support;

use tokio::net::{TcpListener, UnixStream};
use tokio_util::sync::CancellationToken;

use nestci::backend::dood::Endpoint;
use nestci::run::JobStatus;

use support::{BUSYBOX, Guard, Spec, engine, leftovers, run, run_id};

/// Forward 127.0.0.1:<port> to the daemon's unix socket until `stop`;
/// then close every connection and refuse new ones.
async fn proxy(stop: CancellationToken) -> Endpoint {
    let socket = match Endpoint::discover() {
        Ok(Endpoint::Unix(path)) => path,
        other => panic!("the TCP tests need the daemon on a unix socket: {other:?}"),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local addr").port();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                accepted = listener.accept() => {
                    let Ok((mut tcp, _)) = accepted else { break };
                    let stop = stop.clone();
                    let socket = socket.clone();
                    tokio::spawn(async move {
                        let Ok(mut unix) = UnixStream::connect(&socket).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix) => {}
                            () = stop.cancelled() => {}
                        }
                    });
                }
            }
        }
    });
    Endpoint::Tcp(format!("127.0.0.1:{port}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_runs_over_tcp() {
    let id = run_id("tcp");
    let _guard = Guard { run_id: id.clone() };
    let stop = CancellationToken::new();
    let endpoint = proxy(stop.clone()).await;
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  j:
    steps:
      - run: echo over tcp
      - image: {BUSYBOX}
        run: echo step image over tcp
"
    );
    let mut spec = Spec::new(&yaml, &id);
    spec.options.endpoint = Some(endpoint);
    let r = run(spec).await;
    stop.cancel();
    assert_eq!(r.status("j"), JobStatus::Passed, "{}", r.output);
    assert!(r.output.contains("step image over tcp"), "{}", r.output);
    assert_eq!(leftovers(&engine().await, &id).await, vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_going_away_mid_step_fails_the_job_with_that_message() {
    let id = run_id("daemon-dies");
    // The run cannot clean up without its daemon: the guard does, through
    // the real socket.
    let _guard = Guard { run_id: id.clone() };
    let stop = CancellationToken::new();
    let endpoint = proxy(stop.clone()).await;
    let yaml = format!(
        "
image: {BUSYBOX}
jobs:
  j:
    steps:
      - run: echo DAEMON-STILL-$(echo THERE); sleep 600
"
    );
    let mut spec = Spec::new(&yaml, &id);
    spec.options.endpoint = Some(endpoint.clone());
    spec.capture
        .cancel_on("DAEMON-STILL-THERE", 1, stop.clone());
    let r = run(spec).await;
    assert_eq!(r.status("j"), JobStatus::Failed, "{}", r.output);
    let m = r.message("j");
    assert!(m.contains(&endpoint.to_string()), "{m}");
    assert!(r.output.contains("cleanup failed"), "{}", r.output);
}
