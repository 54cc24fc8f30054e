//! One job on the engine: its network, services, job container and steps.
//!
//! # The job container
//!
//! The job container's process 1 is `sh` reading a stdin that the daemon
//! keeps open (`OpenStdin`, nothing attached): it waits forever, needs
//! nothing but a shell (which the steps need anyway), and dies with
//! SIGKILL on removal. Each step is an exec of the step's shell.
//!
//! # Stopping a step
//!
//! The Engine API cannot kill an exec. So on cancellation nestci runs a
//! second exec, as root, `sh -c 'kill -9 -1'`: in the container's own pid
//! namespace that kills every process except process 1 — exactly the
//! step and whatever it started, since steps run one at a time. The job
//! container stays usable for the steps that may follow (`when: always`
//! after a step timeout). With `pid: host` that would kill the host's
//! processes, so there the whole job container is killed instead, and
//! later steps of the job fail with a message saying why. Either way, if
//! the step's output does not end within [`KILL_GRACE`], the container is
//! killed too.
//!
//! A step with its own `image` runs in a container of its own on the same
//! workspace, joined to the job container's network namespace
//! (`container:<job>`) when the job is on its own network; stopping it is
//! removing that container.
//!
//! # Services
//!
//! Each service is started and waited for in turn ([`Readiness`]): its
//! container runs, its healthcheck passes, its `ports` accept a TCP
//! connection — all under one deadline, the service timeout.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bollard_stubs::models::{
    ContainerConfig, ContainerCreateResponse, ContainerInspectResponse, ContainerWaitResponse,
    DeviceMapping, EndpointSettings, ExecConfig, ExecInspectResponse, HealthStatusEnum, HostConfig,
    IdResponse, NetworkingConfig,
};
use hyper::Method;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::backend::{
    BackendError, JobContext, JobHandle, OutputLine, OutputSender, StepExit, Stream,
};
use crate::model::{
    AppArmorMode, Env, Job, NamespaceMode, NetworkMode, Propagation, SeccompMode, Step,
};

use super::client::{Body, Endpoint, Engine, EngineError, Flavor};
use super::stream::{PumpEnd, pump};
use super::{DoodOptions, image, labels, owner};

/// How long a killed step's output may take to end before the container
/// itself is killed.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// How long after a step's output ended its exit code may take to show.
const EXIT_WAIT: Duration = Duration::from_secs(3);

/// Where the workspace is mounted.
pub const WORKSPACE: &str = crate::backend::WORKSPACE;

/// The body of `POST /containers/create`: the container config with the
/// host and networking configs beside it (bollard-stubs has the parts,
/// not the whole).
#[derive(Serialize)]
struct CreateContainer {
    #[serde(flatten)]
    config: ContainerConfig,
    #[serde(rename = "HostConfig")]
    host_config: HostConfig,
    #[serde(rename = "NetworkingConfig", skip_serializing_if = "Option::is_none")]
    networking_config: Option<NetworkingConfig>,
}

/// The body of `POST /networks/create` (not in bollard-stubs 1.41).
#[derive(Serialize)]
struct CreateNetwork<'a> {
    #[serde(rename = "Name")]
    name: &'a str,
    #[serde(rename = "Driver")]
    driver: &'a str,
    #[serde(rename = "CheckDuplicate")]
    check_duplicate: bool,
    #[serde(rename = "Labels")]
    labels: &'a HashMap<String, String>,
}

/// What a job created, in the order to remove it.
#[derive(Debug, Default)]
struct Created {
    containers: Vec<String>,
    network: Option<String>,
}

impl Created {
    /// Remove everything; carries on past errors and reports them all.
    async fn remove(&self, engine: &Engine) -> Result<(), BackendError> {
        let mut errors = Vec::new();
        for id in self.containers.iter().rev() {
            if let Err(e) = remove_container(engine, id).await {
                errors.push(e.to_string());
            }
        }
        if let Some(net) = &self.network {
            match engine
                .call(Method::DELETE, &format!("/networks/{net}"), Body::None)
                .await
            {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => errors.push(e.to_string()),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(BackendError::Runtime(errors.join("; ")))
        }
    }
}

async fn remove_container(engine: &Engine, id: &str) -> Result<(), EngineError> {
    match engine
        .call(
            Method::DELETE,
            &format!("/containers/{id}?force=true&v=true"),
            Body::None,
        )
        .await
    {
        Err(e) if e.is_not_found() => Ok(()),
        // Podman and Docker both answer 409 while a removal is under way.
        Err(EngineError::Api { status, .. }) if status == hyper::StatusCode::CONFLICT => Ok(()),
        other => other,
    }
}

static NETWORK_SEQ: AtomicU64 = AtomicU64::new(0);

/// A prepared job.
pub(super) struct DoodJob {
    engine: Engine,
    /// The job container.
    container: String,
    created: Created,
    /// Template for step containers (`image:` steps).
    host_config: HostConfig,
    network: Option<String>,
    /// The host directory mounted at `/workspace`.
    host_workspace: std::path::PathBuf,
    labels: HashMap<String, String>,
    user: Option<String>,
    /// `pid: host`: `kill -1` would reach the host.
    pid_host: bool,
    /// The job container was killed to stop a step.
    container_dead: AtomicBool,
}

impl DoodJob {
    pub(super) async fn prepare(
        engine: Engine,
        options: Arc<DoodOptions>,
        job: &Job,
        ctx: &JobContext,
        out: &OutputSender,
        cancel: &CancellationToken,
    ) -> Result<DoodJob, BackendError> {
        if !job.host_paths.is_empty() {
            // The daemon's images bring their own toolchains; a host
            // directory is a dind `host` image notion. Said, not dropped.
            let _ = out
                .send(note(
                    "`host_paths` apply to the dind `host` image only; not mounted in dood mode"
                        .into(),
                ))
                .await;
        }
        let mut created = Created::default();
        let result = tokio::select! {
            r = Self::build(&engine, &options, job, ctx, out, cancel, &mut created) => r,
            () = cancel.cancelled() => Err(BackendError::Runtime("cancelled while preparing the job".into())),
        };
        match result {
            Ok(mut handle) => {
                handle.created = created;
                Ok(handle)
            }
            Err(e) => {
                // Leave nothing behind, whatever was created so far —
                // including an object whose creation was under way when
                // the token fired (created, but its id never received),
                // which only its labels find.
                let mut cleaned = created.remove(&engine).await;
                let labelled = [
                    format!("{}={}", labels::RUN, ctx.run_id),
                    format!("{}={}", labels::JOB, job.name),
                ];
                if let Err(sweep) = super::gc::sweep(&engine, &labelled, true).await {
                    cleaned = cleaned.and(Err(BackendError::from(sweep)));
                }
                if let Err(cleanup) = cleaned {
                    return Err(BackendError::Runtime(format!(
                        "{e} (and cleaning up failed: {cleanup})"
                    )));
                }
                Err(e)
            }
        }
    }

    async fn build(
        engine: &Engine,
        options: &DoodOptions,
        job: &Job,
        ctx: &JobContext,
        out: &OutputSender,
        cancel: &CancellationToken,
        created: &mut Created,
    ) -> Result<DoodJob, BackendError> {
        let job_image = resolve_image(job.image.as_ref().map(|i| i.value.as_str()), options)?;

        // Images first: nothing is created when one is missing.
        let mut images = vec![job_image.clone()];
        images.extend(job.services.iter().map(|s| s.image.value.clone()));
        images.extend(
            job.steps
                .iter()
                .filter_map(|s| s.image.as_ref())
                .map(|i| i.value.clone()),
        );
        let mut seen = std::collections::HashSet::new();
        for img in images.iter().filter(|i| seen.insert(i.as_str())) {
            image::ensure(engine, img, options.pull, out, cancel).await?;
        }

        let mut labels = HashMap::new();
        labels.insert(labels::RUN.to_string(), ctx.run_id.clone());
        labels.insert(labels::JOB.to_string(), job.name.clone());
        labels.insert(labels::OWNER.to_string(), owner());

        let network_mode = job.security.network.as_ref().map(|n| n.value);
        let wants_network =
            !job.services.is_empty() || matches!(network_mode, None | Some(NetworkMode::Bridge));
        let network = if wants_network {
            let name = format!(
                "nestci-{}-{}-{}",
                slug(&ctx.run_id),
                slug(&job.name),
                NETWORK_SEQ.fetch_add(1, Ordering::Relaxed)
            );
            let created_net: serde_json::Value = engine
                .json(
                    Method::POST,
                    "/networks/create",
                    Body::json(&CreateNetwork {
                        name: &name,
                        driver: "bridge",
                        check_duplicate: true,
                        labels: &labels,
                    }),
                )
                .await?;
            let id = created_net
                .get("Id")
                .and_then(|v| v.as_str())
                .unwrap_or(&name)
                .to_string();
            created.network = Some(id);
            Some(name)
        } else {
            None
        };

        let mut extra_hosts = Vec::new();
        for service in &job.services {
            let mut labels = labels.clone();
            labels.insert(labels::ROLE.into(), "service".into());
            let config = ContainerConfig {
                image: Some(service.image.value.clone()),
                env: Some(service.env.to_pairs()),
                cmd: service.command.clone(),
                labels: Some(labels),
                ..Default::default()
            };
            let host_config = HostConfig {
                network_mode: network.clone(),
                ..Default::default()
            };
            let networking = network
                .as_ref()
                .map(|n| endpoint(n, vec![service.alias.clone()]));
            let in_service = |e: BackendError| {
                BackendError::Runtime(format!("service `{}`: {e}", service.alias))
            };
            let id = create(engine, config, host_config, networking, created)
                .await
                .map_err(in_service)?;
            start(engine, &id).await.map_err(in_service)?;
            let _ = out
                .send(note(format!(
                    "service {} ({}) started, waiting until it is ready",
                    service.alias, service.image.value
                )))
                .await;
            // One deadline for the whole wait: running, healthy, ports open.
            let ready = Readiness {
                engine,
                id: &id,
                alias: &service.alias,
                timeout: options.service_timeout,
                deadline: tokio::time::Instant::now() + options.service_timeout,
            };
            let info = ready.running_and_healthy().await?;
            let ip = network.as_ref().and_then(|n| {
                info.network_settings
                    .as_ref()?
                    .networks
                    .as_ref()?
                    .get(n)?
                    .ip_address
                    .clone()
                    .filter(|ip| !ip.is_empty())
            });
            if !service.ports.is_empty() {
                let Some(ip) = ip.as_deref() else {
                    return Err(BackendError::Runtime(format!(
                        "service `{}`: the engine reported no address on the job's network, so \
                         its ports cannot be probed",
                        service.alias
                    )));
                };
                for port in &service.ports {
                    ready.port_open(ip, port.value).await?;
                }
            }
            // Also in /etc/hosts: engines without a DNS server on their
            // networks (Podman with CNI and no dnsname plugin) still
            // resolve the alias.
            if let Some(ip) = ip {
                extra_hosts.push(format!("{}:{ip}", service.alias));
            }
        }

        if let Some(cache) = &job.cache {
            // Labelled, so they can be found; kept after the job.
            for p in &cache.paths {
                let rel = p.value.trim_start_matches("./").trim_end_matches('/');
                let body = serde_json::json!({
                    "Name": cache_volume(&cache.key, rel),
                    "Labels": { CACHE_LABEL: cache.key },
                });
                let _: serde_json::Value = engine
                    .json(Method::POST, "/volumes/create", Body::json(&body))
                    .await?;
            }
        }
        let mut host_config = host_config(job, ctx, engine, network.as_deref())?;
        if !extra_hosts.is_empty() {
            host_config.extra_hosts = Some(extra_hosts);
        }
        let user = job.security.user.as_ref().map(|u| u.value.clone());
        let mut job_labels = labels.clone();
        job_labels.insert(labels::ROLE.into(), "job".into());
        let config = ContainerConfig {
            image: Some(job_image),
            entrypoint: Some(vec!["sh".into()]),
            cmd: Some(vec![]),
            open_stdin: Some(true),
            stdin_once: Some(false),
            working_dir: Some(WORKSPACE.into()),
            user: user.clone(),
            env: Some(ctx.overrides.to_pairs()),
            labels: Some(job_labels),
            ..Default::default()
        };
        let networking = network
            .as_ref()
            .filter(|_| host_config.network_mode.as_deref() == network.as_deref())
            // No alias: a job named like one of its services' aliases
            // would otherwise shadow the service.
            .map(|n| endpoint(n, vec![]));
        let container = create(engine, config, host_config.clone(), networking, created).await?;
        start(engine, &container).await?;

        Ok(DoodJob {
            engine: engine.clone(),
            container,
            created: Created::default(),
            pid_host: matches!(
                job.security.pid.as_ref().map(|p| p.value),
                Some(NamespaceMode::Host)
            ),
            host_config,
            network,
            host_workspace: ctx.workspace.clone(),
            labels,
            user,
            container_dead: AtomicBool::new(false),
        })
    }

    /// A step in the job container, through exec.
    async fn exec_step(
        &self,
        step: &Step,
        env: &Env,
        out: &OutputSender,
        cancel: &CancellationToken,
    ) -> Result<StepExit, BackendError> {
        if self.container_dead.load(Ordering::SeqCst) {
            return Err(BackendError::Runtime(
                "the job container was killed to stop an earlier step (`pid: host` leaves no \
                 gentler way), so this step cannot run"
                    .into(),
            ));
        }
        let t0 = std::time::Instant::now();
        let exec: IdResponse = self
            .engine
            .json(
                Method::POST,
                &format!("/containers/{}/exec", self.container),
                Body::json(&ExecConfig {
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    tty: Some(false),
                    env: Some(env.to_pairs()),
                    cmd: Some(command(step)),
                    user: self.user.clone(),
                    working_dir: Some(workdir(step)),
                    ..Default::default()
                }),
            )
            .await?;
        let io = self
            .engine
            .upgrade(
                Method::POST,
                &format!("/exec/{}/start", exec.id),
                Body::json(&serde_json::json!({"Detach": false, "Tty": false})),
            )
            .await?;

        let started = t0.elapsed();
        let pumping = pump(io, out);
        tokio::pin!(pumping);
        tokio::select! {
            biased;
            r = &mut pumping => {
                r.map_err(|e| BackendError::Runtime(format!("reading the step's output: {e}")))?;
            }
            () = cancel.cancelled() => {
                self.kill_step().await;
                // Let the output end (the processes holding it are gone),
                // but not forever.
                if tokio::time::timeout(KILL_GRACE, &mut pumping).await.is_err() {
                    self.kill_container().await;
                }
                return Ok(StepExit::Cancelled);
            }
        }
        let output_ended = t0.elapsed();
        let exit = self.exec_exit(&exec.id).await;
        // `NESTCI_LOG=nestci=debug`: where a step's time went. Nearly all
        // of it is the daemon's (between started and output end).
        tracing::debug!(
            ?started,
            ?output_ended,
            exit_known = ?t0.elapsed(),
            "exec step: create + start, output, inspect"
        );
        exit
    }

    /// The exit code of a finished exec. The output stream can end a
    /// moment before the daemon has handled the process's exit (Docker
    /// closes the stream when the pipes reach EOF, and records the exit
    /// code when containerd's exit event arrives), so ask again while it
    /// still says "running": almost always the first answer is final, and
    /// when it is not, the exit is a fraction of a millisecond away, so
    /// the backoff starts there (250 µs, doubling to 20 ms) and gives up
    /// after [`EXIT_WAIT`].
    async fn exec_exit(&self, exec: &str) -> Result<StepExit, BackendError> {
        let deadline = tokio::time::Instant::now() + EXIT_WAIT;
        let mut delay = Duration::from_micros(250);
        loop {
            let info: ExecInspectResponse = self
                .engine
                .json(Method::GET, &format!("/exec/{exec}/json"), Body::None)
                .await?;
            if info.running != Some(true)
                && let Some(code) = info.exit_code
            {
                return Ok(StepExit::Code(i32::try_from(code).unwrap_or(i32::MAX)));
            }
            if tokio::time::Instant::now() + delay > deadline {
                return Err(BackendError::Runtime(
                    "the step's output ended but the daemon never reported its exit code".into(),
                ));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(20));
        }
    }

    /// Kill every process of the job container but its process 1.
    async fn kill_step(&self) {
        if self.pid_host {
            self.kill_container().await;
            return;
        }
        let killed = async {
            let exec: IdResponse = self
                .engine
                .json(
                    Method::POST,
                    &format!("/containers/{}/exec", self.container),
                    Body::json(&ExecConfig {
                        cmd: Some(vec!["sh".into(), "-c".into(), "kill -9 -1".into()]),
                        user: Some("0".into()),
                        ..Default::default()
                    }),
                )
                .await?;
            self.engine
                .call(
                    Method::POST,
                    &format!("/exec/{}/start", exec.id),
                    Body::json(&serde_json::json!({"Detach": true, "Tty": false})),
                )
                .await
        }
        .await;
        if let Err(e) = killed {
            tracing::warn!("killing the step through exec failed ({e}); killing the container");
            self.kill_container().await;
        }
    }

    async fn kill_container(&self) {
        self.container_dead.store(true, Ordering::SeqCst);
        if let Err(e) = self
            .engine
            .call(
                Method::POST,
                &format!("/containers/{}/kill", self.container),
                Body::None,
            )
            .await
        {
            tracing::warn!("killing the job container failed: {e}");
        }
    }

    /// A step with its own image: a container of its own, attached,
    /// started, waited for and removed.
    async fn container_step(
        &self,
        step: &Step,
        image: &str,
        env: &Env,
        out: &OutputSender,
        cancel: &CancellationToken,
    ) -> Result<StepExit, BackendError> {
        let mut created = Created::default();
        let result = self
            .container_step_inner(step, image, env, out, cancel, &mut created)
            .await;
        let removed = created.remove(&self.engine).await;
        let exit = result?;
        removed?;
        Ok(exit)
    }

    async fn container_step_inner(
        &self,
        step: &Step,
        image: &str,
        env: &Env,
        out: &OutputSender,
        cancel: &CancellationToken,
        created: &mut Created,
    ) -> Result<StepExit, BackendError> {
        let mut labels = self.labels.clone();
        labels.insert(labels::ROLE.into(), "step".into());
        let mut argv = command(step);
        let entrypoint = vec![argv.remove(0)];
        let config = ContainerConfig {
            image: Some(image.to_string()),
            entrypoint: Some(entrypoint),
            cmd: Some(argv),
            env: Some(env.to_pairs()),
            working_dir: Some(workdir(step)),
            user: self.user.clone(),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            labels: Some(labels),
            ..Default::default()
        };
        // On the job network, the step joins the job container's network
        // namespace rather than the network itself: same address, same
        // /etc/hosts (with the services' aliases) and resolver, and no
        // endpoint of its own for the daemon to set up and tear down —
        // about 40 % of a short step container's cost on Docker.
        let mut host_config = self.host_config.clone();
        let on_job_network =
            self.network.is_some() && self.host_config.network_mode == self.network;
        if on_job_network && !self.container_dead.load(Ordering::SeqCst) {
            host_config.network_mode = Some(format!("container:{}", self.container));
            // Both engines refuse these beside `container:` mode; the
            // joined namespace's files already carry them.
            host_config.extra_hosts = None;
        }
        let networking = self
            .network
            .as_ref()
            .filter(|_| host_config.network_mode == self.network)
            .map(|n| endpoint(n, vec![]));
        let id = create(&self.engine, config, host_config, networking, created).await?;
        let io = self
            .engine
            .upgrade(
                Method::POST,
                &format!("/containers/{id}/attach?stream=1&stdout=1&stderr=1"),
                Body::None,
            )
            .await?;
        start(&self.engine, &id).await?;
        tokio::select! {
            biased;
            r = pump(io, out) => {
                if r.map_err(|e| BackendError::Runtime(format!("reading the step's output: {e}")))? == PumpEnd::Closed {
                    return Ok(StepExit::Cancelled);
                }
            }
            () = cancel.cancelled() => return Ok(StepExit::Cancelled),
        }
        let waited: ContainerWaitResponse = self
            .engine
            .json(Method::POST, &format!("/containers/{id}/wait"), Body::None)
            .await?;
        Ok(StepExit::Code(
            i32::try_from(waited.status_code).unwrap_or(i32::MAX),
        ))
    }
}

#[async_trait]
impl JobHandle for DoodJob {
    async fn run_step(
        &self,
        step: &Step,
        env: &Env,
        out: &OutputSender,
        cancel: &CancellationToken,
    ) -> Result<StepExit, BackendError> {
        if cancel.is_cancelled() {
            return Ok(StepExit::Cancelled);
        }
        match &step.image {
            Some(image) => {
                self.container_step(step, &image.value, env, out, cancel)
                    .await
            }
            None => self.exec_step(step, env, out, cancel).await,
        }
    }

    async fn collect_artifacts(
        &self,
        paths: &[String],
        dest: &std::path::Path,
        out: &OutputSender,
    ) -> Result<usize, BackendError> {
        super::archive::collect(&self.engine, &self.container, WORKSPACE, paths, dest, out).await
    }

    async fn restore_artifacts(&self, from: &std::path::Path) -> Result<(), BackendError> {
        super::archive::restore(
            &self.engine,
            &self.container,
            WORKSPACE,
            from,
            &self.host_workspace,
        )
        .await
    }

    async fn cleanup(self: Box<Self>) -> Result<(), BackendError> {
        self.created.remove(&self.engine).await
    }
}

/// The image a job runs in; `host` (or none) only with `--image`.
fn resolve_image(image: Option<&str>, options: &DoodOptions) -> Result<String, BackendError> {
    match image {
        Some(i) if i != "host" => Ok(i.to_string()),
        _ => options
            .host_image
            .clone()
            .ok_or_else(|| BackendError::Image {
                image: image.unwrap_or("host").to_string(),
                message:
                    "the image `host` (a sandbox over the host's own filesystem) exists only in \
                      dind mode, and a job without an image runs in it; in dood mode give the \
                      job an `image:`, or run with `--image IMAGE` (e.g. `--image \
                      nestci-test/busybox`) to use IMAGE in its place"
                        .into(),
            }),
    }
}

/// The step's shell and script as one argv.
fn command(step: &Step) -> Vec<String> {
    let mut argv = if step.shell.is_empty() {
        vec!["sh".to_string(), "-e".into(), "-c".into()]
    } else {
        step.shell.clone()
    };
    argv.push(step.run.clone());
    argv
}

/// The step's working directory: relative paths are under the workspace.
fn workdir(step: &Step) -> String {
    match &step.workdir {
        Some(w) if w.value.starts_with('/') => w.value.clone(),
        Some(w) => format!("{WORKSPACE}/{}", w.value.trim_start_matches("./")),
        None => WORKSPACE.to_string(),
    }
}

fn note(text: String) -> OutputLine {
    OutputLine {
        stream: Stream::Stderr,
        bytes: text.into_bytes(),
    }
}

/// Lowercase letters, digits and dashes: safe in names and aliases.
fn slug(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    out.truncate(40);
    out.trim_matches('-').to_string()
}

fn endpoint(network: &str, aliases: Vec<String>) -> NetworkingConfig {
    let mut endpoints = HashMap::new();
    endpoints.insert(
        network.to_string(),
        EndpointSettings {
            aliases: Some(aliases),
            ..Default::default()
        },
    );
    NetworkingConfig {
        endpoints_config: Some(endpoints),
    }
}

async fn create(
    engine: &Engine,
    config: ContainerConfig,
    host_config: HostConfig,
    networking_config: Option<NetworkingConfig>,
    created: &mut Created,
) -> Result<String, BackendError> {
    let image = config.image.clone().unwrap_or_default();
    let response: ContainerCreateResponse = engine
        .json(
            Method::POST,
            "/containers/create",
            Body::json(&CreateContainer {
                config,
                host_config,
                networking_config,
            }),
        )
        .await
        .map_err(|e| BackendError::Runtime(format!("creating a container from {image}: {e}")))?;
    created.containers.push(response.id.clone());
    Ok(response.id)
}

async fn start(engine: &Engine, id: &str) -> Result<(), BackendError> {
    engine
        .call(Method::POST, &format!("/containers/{id}/start"), Body::None)
        .await
        .map_err(|e| BackendError::Runtime(format!("starting a container: {e}")))
}

/// Waiting for one service to be ready, all steps under one deadline:
///
/// 1. its container runs (and has not exited);
/// 2. its healthcheck, when the image or the service has one, says
///    `healthy`;
/// 3. each of its `ports` accepts a TCP connection on the job network.
///
/// Every failure names the service and ends with its last log lines:
/// a service that does not come up almost always says why there.
struct Readiness<'a> {
    engine: &'a Engine,
    id: &'a str,
    alias: &'a str,
    timeout: Duration,
    deadline: tokio::time::Instant,
}

/// How many of a failed service's log lines an error shows.
const LOG_TAIL: usize = 20;

impl Readiness<'_> {
    /// Steps 1 and 2: inspect until running (and healthy), with a short
    /// backoff; fail when the container exits or turns unhealthy.
    async fn running_and_healthy(&self) -> Result<ContainerInspectResponse, BackendError> {
        let engine = self.engine;
        let id = self.id;
        let mut delay = Duration::from_millis(5);
        loop {
            let info: ContainerInspectResponse = engine
                .json(Method::GET, &format!("/containers/{id}/json"), Body::None)
                .await?;
            let state = info.state.clone().unwrap_or_default();
            if state.running != Some(true) {
                if state.status.is_some_and(|s| s.to_string() != "created") {
                    return Err(self
                        .failed(format!(
                            "stopped before it was ready (exit code {})",
                            state.exit_code.unwrap_or(-1)
                        ))
                        .await);
                }
            } else {
                match state.health.and_then(|h| h.status) {
                    None
                    | Some(
                        HealthStatusEnum::NONE
                        | HealthStatusEnum::EMPTY
                        | HealthStatusEnum::HEALTHY,
                    ) => return Ok(info),
                    Some(HealthStatusEnum::UNHEALTHY) => {
                        return Err(self.failed("is unhealthy".into()).await);
                    }
                    Some(HealthStatusEnum::STARTING) => {
                        if self.engine.info().flavor == Flavor::Podman {
                            // Podman runs healthchecks from systemd timers;
                            // without systemd (containers, minimal hosts)
                            // nobody runs them and the status stays
                            // `starting` forever. Its own API runs one
                            // check on demand and records the result, so
                            // nestci runs them itself, at the backoff pace.
                            self.podman_healthcheck().await?;
                        }
                    }
                }
            }
            if tokio::time::Instant::now() + delay > self.deadline {
                return Err(self
                    .failed(format!(
                        "was not ready after {}",
                        humantime::format_duration(self.timeout)
                    ))
                    .await);
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(500));
        }
    }

    /// Run the container's healthcheck once through Podman's libpod API
    /// (`GET /libpod/containers/{id}/healthcheck`; Podman serves it under
    /// any version prefix, `/v1.41` included). The result lands in
    /// the container's state, which the next inspect reads; an error from
    /// the check itself (the command failed) is that result, not ours.
    async fn podman_healthcheck(&self) -> Result<(), BackendError> {
        match self
            .engine
            .call(
                Method::GET,
                &format!("/libpod/containers/{}/healthcheck", self.id),
                Body::None,
            )
            .await
        {
            Ok(()) => Ok(()),
            // 409: "container has no defined healthcheck" or not running
            // yet; the next inspect says which.
            Err(EngineError::Api { status, .. }) if status == hyper::StatusCode::CONFLICT => Ok(()),
            Err(e) => Err(BackendError::Runtime(format!(
                "service `{}`: running its healthcheck: {e}",
                self.alias
            ))),
        }
    }

    /// Step 3 for one port: connect to `ip:port` until it accepts. A
    /// closed port on a live bridge answers at once (RST), so the loop
    /// backs off from 5 ms to 200 ms between attempts; between them it
    /// checks that the container still runs, so a service that dies is
    /// reported as such rather than as a timeout.
    ///
    /// This connects from nestci's own process: the engine's networks
    /// must be routable from here (a local, rootful engine, as in these
    /// tests), not from a remote `DOCKER_HOST`.
    async fn port_open(&self, ip: &str, port: u16) -> Result<(), BackendError> {
        let addr = match ip.parse::<std::net::IpAddr>() {
            Ok(ip) => std::net::SocketAddr::new(ip, port),
            Err(e) => {
                return Err(BackendError::Runtime(format!(
                    "service `{}`: the engine gave the address `{ip}`: {e}",
                    self.alias
                )));
            }
        };
        let mut delay = Duration::from_millis(5);
        loop {
            let now = tokio::time::Instant::now();
            let left = self.deadline.saturating_duration_since(now);
            let last = match tokio::time::timeout(left, tokio::net::TcpStream::connect(addr)).await
            {
                Ok(Ok(_open)) => return Ok(()),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "no answer".to_string(),
            };
            let state = self
                .engine
                .json::<ContainerInspectResponse>(
                    Method::GET,
                    &format!("/containers/{}/json", self.id),
                    Body::None,
                )
                .await?
                .state
                .unwrap_or_default();
            if state.running != Some(true) {
                return Err(self
                    .failed(format!(
                        "stopped before port {port} was open (exit code {})",
                        state.exit_code.unwrap_or(-1)
                    ))
                    .await);
            }
            if tokio::time::Instant::now() + delay > self.deadline {
                return Err(self
                    .failed(format!(
                        "did not accept a connection on port {port} ({addr}) within {} (last \
                         attempt: {last})",
                        humantime::format_duration(self.timeout)
                    ))
                    .await);
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(200));
        }
    }

    /// "service `db` <what>", then the service's last log lines.
    async fn failed(&self, what: String) -> BackendError {
        let mut message = format!("service `{}` {what}", self.alias);
        match self.last_logs().await {
            Ok(lines) if lines.is_empty() => message.push_str("; it logged nothing"),
            Ok(lines) => {
                message.push_str(&format!("; its last log lines:\n{}", lines.join("\n")));
            }
            Err(e) => message.push_str(&format!(" (its log could not be read: {e})")),
        }
        BackendError::Runtime(message)
    }

    /// The last [`LOG_TAIL`] lines the service wrote, both streams.
    async fn last_logs(&self) -> Result<Vec<String>, EngineError> {
        let bytes = self
            .engine
            .bytes(
                Method::GET,
                &format!(
                    "/containers/{}/logs?stdout=1&stderr=1&tail={LOG_TAIL}",
                    self.id
                ),
            )
            .await?;
        Ok(super::stream::demux_lines(&bytes)
            .into_iter()
            .map(|l| format!("  {}", String::from_utf8_lossy(&l.bytes)))
            .collect())
    }
}

/// Label on cache volumes: the cache key. Not `nestci.run`: a cache
/// outlives the run, and `gc` leaves it alone.
pub const CACHE_LABEL: &str = "nestci.cache";

/// The named volume holding one path of one cache key.
pub fn cache_volume(key: &str, path: &str) -> String {
    format!("nestci-cache-{}-{}", slug(key), slug(path))
}

/// One named volume per (key, path), mounted over `/workspace/<path>`:
/// what a job leaves there is there again for the next job with the same
/// key, in this run or a later one. The volume is created by the daemon on
/// first use.
fn cache_binds(job: &Job) -> Vec<String> {
    let Some(cache) = &job.cache else {
        return vec![];
    };
    cache
        .paths
        .iter()
        .map(|p| {
            let rel = p.value.trim_start_matches("./").trim_end_matches('/');
            format!("{}:{WORKSPACE}/{rel}", cache_volume(&cache.key, rel))
        })
        .collect()
}

/// The job's `security`, `resources` and workspace as a HostConfig.
fn host_config(
    job: &Job,
    ctx: &JobContext,
    engine: &Engine,
    network: Option<&str>,
) -> Result<HostConfig, BackendError> {
    let sec = &job.security;
    let mut binds = vec![format!("{}:{WORKSPACE}", ctx.workspace.display())];
    for v in &sec.volumes {
        let mut opts = Vec::new();
        if v.read_only {
            opts.push("ro");
        }
        if let Some(p) = v.propagation {
            opts.push(match p {
                Propagation::Private => "private",
                Propagation::RPrivate => "rprivate",
                Propagation::Shared => "shared",
                Propagation::RShared => "rshared",
                Propagation::Slave => "slave",
                Propagation::RSlave => "rslave",
            });
        }
        let mut bind = format!("{}:{}", v.host, v.container);
        if !opts.is_empty() {
            bind = format!("{bind}:{}", opts.join(","));
        }
        binds.push(bind);
    }
    binds.extend(cache_binds(job));
    if sec.mount_docker_socket.as_ref().is_some_and(|m| m.value) {
        match engine.endpoint() {
            Endpoint::Unix(path) => {
                binds.push(format!("{}:/var/run/docker.sock", path.display()));
            }
            Endpoint::Tcp(host) => {
                return Err(BackendError::Runtime(format!(
                    "`mount_docker_socket` asks for the daemon's socket, but the daemon is at \
                     tcp://{host}; set DOCKER_HOST in the job's env instead"
                )));
            }
        }
    }
    let host_ns = |m: &Option<crate::model::Located<NamespaceMode>>| {
        m.as_ref()
            .filter(|m| m.value == NamespaceMode::Host)
            .map(|_| "host".to_string())
    };
    let mut security_opt = Vec::new();
    if sec.seccomp.as_ref().map(|s| s.value) == Some(SeccompMode::Unconfined) {
        security_opt.push("seccomp=unconfined".to_string());
    }
    if sec.apparmor.as_ref().map(|s| s.value) == Some(AppArmorMode::Unconfined) {
        security_opt.push("apparmor=unconfined".to_string());
    }
    if sec.selinux.as_ref().map(|s| s.value) == Some(AppArmorMode::Unconfined) {
        security_opt.push("label=disable".to_string());
    }
    // `systempaths=unconfined` is the docker CLI's spelling; the API wants
    // the masked and read-only path lists emptied.
    let unmask = sec.systempaths.as_ref().map(|s| s.value) == Some(AppArmorMode::Unconfined);
    if sec.no_new_privs.as_ref().is_some_and(|n| n.value) {
        security_opt.push("no-new-privileges:true".to_string());
    }
    let devices = sec
        .devices
        .iter()
        .map(|d| {
            let mut parts = d.value.splitn(3, ':');
            let host = parts.next().unwrap_or_default().to_string();
            let container = parts.next().map_or_else(|| host.clone(), str::to_string);
            DeviceMapping {
                path_on_host: Some(host),
                path_in_container: Some(container),
                cgroup_permissions: Some(parts.next().unwrap_or("rwm").to_string()),
            }
        })
        .collect::<Vec<_>>();
    let network_mode = match sec.network.as_ref().map(|n| n.value) {
        Some(NetworkMode::None) => Some("none".to_string()),
        Some(NetworkMode::Host) => Some("host".to_string()),
        Some(NetworkMode::Bridge) | None => network.map(str::to_string),
    };
    let non_empty = |v: Vec<String>| (!v.is_empty()).then_some(v);
    let res = &job.resources;
    Ok(HostConfig {
        binds: Some(binds),
        network_mode,
        privileged: sec.privileged.as_ref().map(|p| p.value),
        cap_add: non_empty(sec.cap_add.iter().map(|c| c.value.clone()).collect()),
        cap_drop: non_empty(sec.cap_drop.iter().map(|c| c.value.clone()).collect()),
        pid_mode: host_ns(&sec.pid),
        ipc_mode: host_ns(&sec.ipc),
        uts_mode: host_ns(&sec.uts),
        userns_mode: host_ns(&sec.userns),
        security_opt: non_empty(security_opt),
        devices: (!devices.is_empty()).then_some(devices),
        readonly_rootfs: sec.read_only.as_ref().map(|r| r.value),
        masked_paths: unmask.then(Vec::new),
        readonly_paths: unmask.then(Vec::new),
        memory: res
            .memory
            .as_ref()
            .map(|m| i64::try_from(m.value).unwrap_or(i64::MAX)),
        pids_limit: res
            .pids
            .as_ref()
            .map(|p| i64::try_from(p.value).unwrap_or(i64::MAX)),
        nano_cpus: res.cpus.as_ref().map(|c| (c.value * 1e9) as i64),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("test [RUST=1.80]"), "test--rust-1-80");
        assert_eq!(slug("20261122T183000-42"), "20261122t183000-42");
    }

    #[test]
    fn host_needs_an_image() {
        let opts = DoodOptions::default();
        let err = resolve_image(Some("host"), &opts).expect_err("host");
        assert!(err.to_string().contains("--image"), "{err}");
        assert!(resolve_image(None, &opts).is_err());
        let opts = DoodOptions {
            host_image: Some("x".into()),
            ..DoodOptions::default()
        };
        assert_eq!(resolve_image(None, &opts).ok().as_deref(), Some("x"));
        assert_eq!(resolve_image(Some("y"), &opts).ok().as_deref(), Some("y"));
    }

    #[test]
    fn workdirs() {
        let step = |w: Option<&str>| Step {
            name: "s".into(),
            run: "true".into(),
            shell: vec![],
            image: None,
            env: Env::new(),
            workdir: w
                .map(|w| crate::model::Located::new(w.into(), crate::model::Loc::synthetic("t"))),
            timeout: None,
            continue_on_error: false,
            when: Default::default(),
            loc: crate::model::Loc::synthetic("t"),
            id: None,
            deferred: None,
        };
        assert_eq!(workdir(&step(None)), "/workspace");
        assert_eq!(workdir(&step(Some("./sub"))), "/workspace/sub");
        assert_eq!(workdir(&step(Some("/tmp"))), "/tmp");
        assert_eq!(command(&step(None)), vec!["sh", "-e", "-c", "true"]);
    }
}
