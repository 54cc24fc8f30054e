//! The runner's side of a job's services: what the init is asked to start
//! ([`spec`]) and where their output goes ([`ServiceLogs`]).
//!
//! The init starts the services (see `process/service.rs`); each writes
//! its stdout and stderr into one pipe whose read end stays here. A task
//! per service splits it into lines prefixed with the alias (`[web] ...`)
//! and queues them. The queue is emptied into the job's output whenever
//! there is one to write to: at the end of `prepare` and while a step
//! runs (a service's lines interleave with the step's). The queue is
//! bounded and drops its oldest lines, so a chatty service never blocks
//! on a full pipe between steps.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::image::ImageConfig;
use super::process::protocol::{ServiceSpec, StepSpec};
use crate::backend::{OutputLine, OutputSender, Stream};

/// Lines kept while nobody writes them out.
const MAX_QUEUED: usize = 10_000;

/// How long a failed preparation waits for a service's last output.
const TAIL_WAIT: Duration = Duration::from_secs(5);

/// What the init starts for `service`, whose image tree is `tree` and
/// config `image`: its `command:` or else the image's entrypoint and cmd,
/// the image's `Env` below the service's, in the image's `WorkingDir`, as
/// its `User`; ready once its TCP ports answer: those the pipeline gives
/// (`ports:`), else those the image exposes.
pub fn spec(
    service: &crate::model::Service,
    tree: Option<usize>,
    image: &ImageConfig,
) -> Result<ServiceSpec, String> {
    let argv = match &service.command {
        Some(cmd) if !cmd.is_empty() => cmd.clone(),
        _ if !image.command().is_empty() => image.command(),
        _ => {
            return Err(format!(
                "service {} has no `command:` and its image names none; give the service a \
                 command",
                service.alias
            ));
        }
    };
    Ok(ServiceSpec {
        alias: service.alias.clone(),
        process: StepSpec {
            argv,
            env: super::base_env(image).with(&service.env).to_pairs(),
            cwd: image.working_dir.clone().unwrap_or_else(|| "/".into()),
            tree: None,
            user: image.user.clone(),
        },
        tree,
        // What the pipeline says the service listens on wins: an image may
        // expose ports its command does not open (or none at all).
        ports: if service.ports.is_empty() {
            image.ports.clone()
        } else {
            service.ports.iter().map(|p| p.value).collect()
        },
    })
}

/// The services' queued output lines and the tasks that fill the queue.
#[derive(Default)]
pub struct ServiceLogs {
    queue: Arc<Queue>,
    pumps: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Default)]
struct Queue {
    lines: Mutex<VecDeque<OutputLine>>,
    /// Told on every new line (a permit is stored when nobody waits).
    news: Notify,
}

impl Queue {
    fn push(&self, prefix: &[u8], batch: Vec<Vec<u8>>) {
        if batch.is_empty() {
            return;
        }
        if let Ok(mut lines) = self.lines.lock() {
            for line in batch {
                if lines.len() >= MAX_QUEUED {
                    lines.pop_front();
                }
                let mut bytes = prefix.to_vec();
                bytes.extend_from_slice(&line);
                lines.push_back(OutputLine {
                    stream: Stream::Stdout,
                    bytes,
                });
            }
        }
        self.news.notify_one();
    }
}

impl ServiceLogs {
    /// Read service `alias`'s output from `reader` until end of file.
    pub fn follow(&self, alias: &str, reader: tokio::net::unix::pipe::Receiver) {
        let queue = Arc::clone(&self.queue);
        let prefix = format!("[{alias}] ").into_bytes();
        let task = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut reader = reader;
            let mut lines = super::Lines::default();
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let batch = match reader.read(&mut buf).await {
                    Ok(0) | Err(_) => None,
                    Ok(n) => lines.push(&buf[..n]),
                };
                let done = batch.is_none();
                queue.push(&prefix, batch.unwrap_or_else(|| lines.rest()));
                if done {
                    break;
                }
            }
        });
        if let Ok(mut pumps) = self.pumps.lock() {
            pumps.push(task);
        }
    }

    /// Resolves when a line was queued (since the last call).
    pub async fn news(&self) {
        self.queue.news.notified().await;
    }

    /// Write every queued line to `out`.
    pub async fn flush(&self, out: &OutputSender) {
        let lines: Vec<OutputLine> = match self.queue.lines.lock() {
            Ok(mut lines) => lines.drain(..).collect(),
            Err(_) => return,
        };
        for line in lines {
            let _ = out.send(line).await;
        }
    }

    /// Wait (bounded) until every service's output has ended: after the
    /// container was stopped, so that nothing is lost.
    pub async fn finish(&self) {
        let pumps: Vec<JoinHandle<()>> = match self.pumps.lock() {
            Ok(mut pumps) => pumps.drain(..).collect(),
            Err(_) => return,
        };
        for pump in pumps {
            let _ = tokio::time::timeout(TAIL_WAIT, pump).await;
        }
    }

    /// The last `n` queued lines of service `alias`, without the prefix.
    pub fn tail(&self, alias: &str, n: usize) -> Vec<String> {
        let prefix = format!("[{alias}] ");
        let Ok(lines) = self.queue.lines.lock() else {
            return Vec::new();
        };
        let mut mine: Vec<String> = lines
            .iter()
            .rev()
            .filter_map(|l| {
                let text = String::from_utf8_lossy(&l.bytes);
                text.strip_prefix(&prefix).map(str::to_string)
            })
            .take(n)
            .collect();
        mine.reverse();
        mine
    }
}

impl Drop for ServiceLogs {
    fn drop(&mut self) {
        if let Ok(pumps) = self.pumps.lock() {
            for pump in pumps.iter() {
                pump.abort();
            }
        }
    }
}
