//! dind: nestci's own container runtime on Linux user namespaces.
//!
//! A job's container is made of fresh user, mount, pid, uts, ipc, net and
//! cgroup namespaces; its root is mapped to an unprivileged host uid, so it
//! needs neither a daemon nor `--privileged`. The modules, in the order a
//! container comes to be:
//!
//! | module | concern |
//! |---|---|
//! | [`idmap`] | uid/gid maps of the job's user namespace; the ID-mapped workspace |
//! | [`cgroup`] | per-job memory/pids/cpu limits, v2 or v1 per controller |
//! | [`process`] | shim → init → steps: who forks whom, and the control protocol |
//! | [`rootfs`] | the new root, `/dev`, `/proc`, `/sys`, masked paths, `pivot_root` |
//! | [`hostimage`] | the `host` image: the host's system directories, read-only |
//! | [`image`] | rootfs directories, tarballs and `docker save` archives; the content-addressed store |
//! | [`subroot`] | a root of its own inside a job, for a service or an image step |
//! | [`service`] | the runner's side of services: what to start, where their output goes |
//! | [`security`] | the job's `security:` keys, as this runtime applies them |
//! | [`caps`], [`seccomp`] | what a step may still do inside its namespaces |
//! | [`sys`] | the raw system calls nix does not wrap yet |
//!
//! This file is the [`Backend`] the scheduler drives: `prepare` resolves
//! the images (the job's, its services', its image steps'), starts the
//! container and waits for its init to say it is ready (services up), `run_step` asks
//! the init to fork a step and streams its output, `cleanup` closes the
//! control socket (the init then kills everything and exits, taking its
//! pid namespace along), waits for that, and removes the job's cgroups and
//! state directory.

pub mod caps;
pub mod cgroup;
pub mod hostimage;
pub mod idmap;
pub mod image;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod security;
pub mod service;
pub mod subroot;
pub mod sys;

use std::io::{Seek, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use nix::fcntl::OFlag;
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::unistd::pipe2;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use self::cgroup::{JobCgroup, cgroup_name, human_bytes};
use self::idmap::IdPlan;
use self::image::ImageConfig;
use self::process::protocol::{self, ContainerConfig, Reply, Request, StepSpec};
use self::service::ServiceLogs;
use super::{
    Backend, BackendError, JobContext, JobHandle, OutputLine, OutputSender, StepExit, Stream,
};
use crate::model::{Env, Job, Step};

pub use self::process::shim::{ARG as SHIM_ARG, main as shim_main};

/// Where steps run and files land unless a step says otherwise.
pub const WORKSPACE: &str = crate::backend::WORKSPACE;

/// A line longer than this is passed on in pieces, so that a step printing
/// without newlines cannot make us buffer without bound.
const MAX_LINE: usize = 64 * 1024;

/// How long `cleanup` waits for a container to end once told to, before
/// killing its shim (whose death kills the init through PDEATHSIG). A
/// safety net against a bug in the init, not a synchronisation.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// How many of a failed service's last output lines its error shows.
const SERVICE_TAIL: usize = 10;

/// The embedded runtime.
#[derive(Debug, Clone)]
pub struct DindBackend {
    /// The `nestci` binary that acts as the shim when started with
    /// [`SHIM_ARG`].
    helper: PathBuf,
    ids: IdPlan,
    /// CAP_SYS_ADMIN on the host: ID-mapped mounts are possible.
    host_admin: bool,
    /// Copy images into the job's writable layer instead of mounting an
    /// overlay (`NESTCI_DIND_COPY_ROOTFS=1`): the fallback for kernels that
    /// refuse overlayfs in a user namespace, forced for tests and for
    /// comparing the two.
    force_copy: bool,
}

/// The environment variable that forces the copy fallback.
pub const COPY_ROOTFS_VAR: &str = "NESTCI_DIND_COPY_ROOTFS";

impl DindBackend {
    /// The runtime for this host and user, or why it cannot run here.
    pub fn detect() -> Result<DindBackend, BackendError> {
        let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok());
        if max == Some(0) {
            return Err(BackendError::Unavailable(
                "user namespaces are disabled (user.max_user_namespaces = 0); enable them with \
                 `sysctl -w user.max_user_namespaces=15000`, or use --mode dood"
                    .into(),
            ));
        }
        let ids = IdPlan::for_invoker().map_err(BackendError::Unavailable)?;
        Ok(DindBackend {
            helper: PathBuf::from("/proc/self/exe"),
            ids,
            host_admin: ::caps::has_cap(
                None,
                ::caps::CapSet::Effective,
                ::caps::Capability::CAP_SYS_ADMIN,
            )
            .unwrap_or(false),
            force_copy: std::env::var(COPY_ROOTFS_VAR).is_ok_and(|v| !v.is_empty() && v != "0"),
        })
    }

    /// Use `exe` (a `nestci` binary) as the shim; for embedding the
    /// library in another program, such as a test harness.
    pub fn with_helper(mut self, exe: impl Into<PathBuf>) -> Self {
        self.helper = exe.into();
        self
    }
}

/// Where the jobs' state directories go: `$NESTCI_STATE_DIR`, else
/// `/run/nestci` for root, else the temp directory. The container's root
/// (for root: an unmapped uid) must be able to traverse every directory
/// above it, which root's `$TMPDIR` need not allow; a user's container
/// root is the user, so their temp directory is fine.
fn state_base() -> PathBuf {
    if let Some(dir) = std::env::var_os("NESTCI_STATE_DIR") {
        return PathBuf::from(dir);
    }
    if nix::unistd::Uid::effective().is_root() {
        PathBuf::from("/run/nestci")
    } else {
        std::env::temp_dir()
    }
}

fn image_of(image: Option<&crate::model::Located<String>>) -> &str {
    image.map_or("host", |i| i.value.as_str())
}

/// Resolve an image reference off the async workers: `None` for `host`,
/// else the rootfs directory to use as a lower layer and the image's
/// config.
async fn resolve_image(
    reference: &str,
    workspace: &std::path::Path,
) -> Result<Option<(PathBuf, ImageConfig)>, BackendError> {
    let owned = reference.to_string();
    let workspace = workspace.to_path_buf();
    let resolved = tokio::task::spawn_blocking(move || image::resolve(&owned, &workspace))
        .await
        .map_err(|e| runtime("resolving the image", e))?;
    match resolved {
        Ok(image::Image::Host) => Ok(None),
        Ok(image::Image::Rootfs { dir, config }) => Ok(Some((dir, config))),
        Err(message) => Err(BackendError::Image {
            image: reference.to_string(),
            message,
        }),
    }
}

fn push_index<T>(list: &mut Vec<T>, item: T) -> usize {
    list.push(item);
    list.len() - 1
}

fn runtime(what: &str, e: impl std::fmt::Display) -> BackendError {
    BackendError::Runtime(format!("{what}: {e}"))
}

#[async_trait]
impl Backend for DindBackend {
    fn name(&self) -> &'static str {
        "dind"
    }

    async fn prepare(
        &self,
        job: &Job,
        ctx: &JobContext,
        out: &OutputSender,
        cancel: &CancellationToken,
    ) -> Result<Box<dyn JobHandle>, BackendError> {
        let (rootfs, image_config) =
            match resolve_image(image_of(job.image.as_ref()), &ctx.workspace).await? {
                Some((dir, config)) => (Some(dir), config),
                None => (None, ImageConfig::default()),
            };
        // One detached tree per use of an image (each is attached once):
        // every service with an image, every step with one.
        let mut trees = Vec::new();
        let mut services = Vec::new();
        for service in &job.services {
            let (tree, config) = match resolve_image(&service.image.value, &ctx.workspace).await? {
                Some((dir, config)) => (Some(push_index(&mut trees, dir)), config),
                None => (None, ImageConfig::default()),
            };
            services.push(service::spec(service, tree, &config).map_err(|message| {
                BackendError::Image {
                    image: service.image.value.clone(),
                    message,
                }
            })?);
        }
        let mut step_images = Vec::new();
        for step in &job.steps {
            if let Some(image) = &step.image
                && let Some((dir, config)) = resolve_image(&image.value, &ctx.workspace).await?
            {
                step_images.push(StepImage {
                    loc: step.loc.clone(),
                    name: step.name.clone(),
                    tree: push_index(&mut trees, dir),
                    config,
                });
            }
        }
        // The job's `security:` first: a key dind refuses fails the job
        // before anything is made.
        let engine_socket = job
            .security
            .mount_docker_socket
            .as_ref()
            .is_some_and(|m| m.value)
            .then(security::engine_socket)
            .flatten();
        let plan = security::plan(job, engine_socket.as_deref())?;
        // `host_paths` belong to the `host` image: a rootfs image has its
        // own toolchains, and a host directory over them would shadow them.
        let mut host_paths = Vec::new();
        let mut notes = Vec::new();
        if rootfs.is_none() {
            for dir in &job.host_paths {
                let path = hostimage::resolve_host_path(&dir.value).map_err(|e| {
                    BackendError::Runtime(format!("host path `{}` ({}): {e}", dir.value, dir.loc))
                })?;
                host_paths.push(path);
            }
        } else if !job.host_paths.is_empty() {
            notes.push(
                "`host_paths` apply to the `host` image only; this job's image has its own \
                 filesystem, so they are not mounted"
                    .to_string(),
            );
        }

        // The rootfs mount point: an empty directory the container's root
        // (an unmapped uid) may traverse, never write.
        let base = state_base();
        let state = std::fs::create_dir_all(&base)
            .and_then(|()| {
                tempfile::Builder::new()
                    .prefix("nestci-dind-")
                    .tempdir_in(&base)
            })
            .map_err(|e| {
                runtime(
                    &format!(
                        "cannot create the job's state directory in {}",
                        base.display()
                    ),
                    e,
                )
            })?;
        let root_dir = state.path().join("root");
        std::fs::create_dir(&root_dir)
            .and_then(|()| {
                std::fs::set_permissions(state.path(), std::fs::Permissions::from_mode(0o711))
            })
            .and_then(|()| {
                std::fs::set_permissions(&root_dir, std::fs::Permissions::from_mode(0o755))
            })
            .map_err(|e| runtime("cannot prepare the job's state directory", e))?;
        let unique = state
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();

        let cgroup = JobCgroup::create(
            &cgroup_name(&ctx.run_id, &job.name, &unique),
            &job.resources,
        )
        .map_err(|e| runtime("cannot create the job's cgroup", e))?;
        notes.extend(plan.notes);
        if self.ids.workspace_owner.is_some() && !self.host_admin {
            notes.push(format!(
                "no CAP_SYS_ADMIN on the host (an unprivileged container?): the workspace is not \
                 ID-mapped, files the job writes there belong to uid {}",
                self.ids.root_outside_uid()
            ));
        }
        for note in cgroup.notes.iter().chain(&notes) {
            let _ = out.send(note_line(note)).await;
        }

        // With `uts: host` the job sees the host's name; its /etc files say
        // the same.
        let hostname = if plan.hardening.host_uts {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| rootfs::hostname_for(&job.name))
        } else {
            rootfs::hostname_for(&job.name)
        };
        let config = ContainerConfig {
            hostname,
            root_dir,
            workspace: ctx.workspace.clone(),
            host_paths,
            rootfs,
            ids: self.ids.clone(),
            cgroup_procs: cgroup.procs_files(),
            trees,
            services,
            force_copy: self.force_copy,
            security: plan.hardening,
        };
        let mut container = Container::start(&self.helper, &config, cgroup, state)?;
        container.image = image_config;
        container.step_images = step_images;
        container.user = job.security.user.as_ref().map(|u| u.value.clone());
        let ready = tokio::select! {
            reply = container.control.recv::<Reply>() => reply,
            () = cancel.cancelled() => {
                container.stop().await;
                return Err(BackendError::Runtime("cancelled while starting the container".into()));
            }
        };
        match ready {
            Ok(Some(Reply::Ready(notes))) => {
                for note in &notes {
                    let _ = out.send(note_line(note)).await;
                }
                container.services.flush(out).await;
                Ok(Box::new(container))
            }
            Ok(Some(Reply::SetupFailed(msg))) => {
                container.stop().await;
                Err(BackendError::Runtime(format!(
                    "cannot build the container: {msg}"
                )))
            }
            Ok(Some(Reply::ServiceFailed { alias, message })) => {
                // Stopping ends every service, so the output pumps reach
                // end of file and the failed service's last words are in.
                container.stop().await;
                container.services.finish().await;
                let tail = container.services.tail(&alias, SERVICE_TAIL);
                container.services.flush(out).await;
                Err(BackendError::Runtime(format!(
                    "service `{alias}` did not start: {message}{}",
                    if tail.is_empty() {
                        " (it printed nothing)".to_string()
                    } else {
                        format!("; its last output: {}", tail.join(" | "))
                    }
                )))
            }
            other => {
                let detail = match other {
                    Err(e) => e.to_string(),
                    _ => "the container ended before it was ready".to_string(),
                };
                let (stderr, _) = container.stop().await;
                Err(BackendError::Runtime(format!(
                    "cannot start the container: {detail}{}",
                    if stderr.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", stderr.trim())
                    }
                )))
            }
        }
    }
}

fn note_line(text: &str) -> OutputLine {
    OutputLine {
        stream: Stream::Stderr,
        bytes: format!("nestci: {text}").into_bytes(),
    }
}

/// The runner's end of the control socket, driven by tokio.
struct Control {
    fd: AsyncFd<OwnedFd>,
}

impl Control {
    async fn recv<T: DeserializeOwned>(&self) -> std::io::Result<Option<T>> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| {
                protocol::recv::<T>(fd.get_ref().as_fd()).map_err(std::io::Error::from)
            }) {
                Ok(result) => return result.map(|m| m.map(|(msg, _fds)| msg)),
                Err(_would_block) => continue,
            }
        }
    }

    async fn send<T: Serialize>(&self, msg: &T, fds: &[std::os::fd::RawFd]) -> std::io::Result<()> {
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| {
                protocol::send(fd.get_ref().as_fd(), msg, fds).map_err(std::io::Error::from)
            }) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}

/// A running job container.
struct Container {
    control: Control,
    shim: tokio::process::Child,
    /// What the shim and the init wrote to stderr (bounded).
    diagnostics: Arc<Mutex<String>>,
    cgroup: Option<JobCgroup>,
    state: Option<tempfile::TempDir>,
    /// The host directory bind-mounted at [`WORKSPACE`]: artifacts are
    /// copied in and out of it on the host.
    workspace: std::path::PathBuf,
    /// The services' output, queued for the job's output.
    services: ServiceLogs,
    /// The job image's config (its `Env` is below the job's variables).
    image: ImageConfig,
    /// The steps with an image of their own.
    step_images: Vec<StepImage>,
    /// The job's `security.user`: steps run as it, over the image's
    /// `User`.
    user: Option<String>,
}

/// A step with an image of its own, found by its location and name.
struct StepImage {
    loc: crate::model::Loc,
    name: String,
    /// Its tree in [`ContainerConfig::trees`].
    tree: usize,
    config: ImageConfig,
}

impl Container {
    fn start(
        helper: &std::path::Path,
        config: &ContainerConfig,
        cgroup: JobCgroup,
        state: tempfile::TempDir,
    ) -> Result<Container, BackendError> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        )
        .map_err(|e| runtime("socketpair", e))?;
        // The shim's end must block: it is a plain single-threaded program.
        nix::fcntl::fcntl(&theirs, nix::fcntl::FcntlArg::F_SETFL(OFlag::empty()))
            .map_err(|e| runtime("fcntl", e))?;
        let mut cmd = tokio::process::Command::new(helper);
        cmd.arg(SHIM_ARG)
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env_clear()
            // Its own process group: Ctrl-C on the terminal reaches the
            // runner, which stops the container in order.
            .process_group(0)
            .kill_on_drop(true);
        let mut shim = cmd
            .spawn()
            .map_err(|e| runtime(&format!("cannot start {}", helper.display()), e))?;
        let diagnostics = Arc::new(Mutex::new(String::new()));
        if let Some(mut stderr) = shim.stderr.take() {
            let sink = Arc::clone(&diagnostics);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stderr.read(&mut buf).await {
                    if let Ok(mut text) = sink.lock()
                        && text.len() < 16 * 1024
                    {
                        text.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            });
        }
        // SAFETY: `ours` is an open socket owned by the AsyncFd from here
        // until it is dropped; OwnedFd::as_raw_fd always returns that fd.
        let fd = unsafe { AsyncFd::register(ours) }
            .map_err(|e| runtime("registering the control socket", e.into_parts().1))?;
        let control = Control { fd };
        let container = Container {
            control,
            shim,
            diagnostics,
            cgroup: Some(cgroup),
            state: Some(state),
            workspace: config.workspace.clone(),
            services: ServiceLogs::default(),
            image: ImageConfig::default(),
            step_images: Vec::new(),
            user: None,
        };
        // One output pipe per service: the write ends ride with the config
        // (the init hands each to its service), the read ends stay here.
        let mut write_ends = Vec::new();
        for spec in &config.services {
            let (r, w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| runtime("pipe", e))?;
            let reader = tokio::net::unix::pipe::Receiver::from_owned_fd(r)
                .map_err(|e| runtime("pipe", e))?;
            container.services.follow(&spec.alias, reader);
            write_ends.push(w);
        }
        let raw: Vec<std::os::fd::RawFd> = write_ends.iter().map(|w| w.as_raw_fd()).collect();
        protocol::send(container.control.fd.get_ref().as_fd(), config, &raw)
            .map_err(|e| runtime("sending the container config", e))?;
        Ok(container)
    }

    /// End the container and remove what the job left. Returns what the
    /// shim and init said on stderr, and what could not be removed.
    async fn stop(&mut self) -> (String, Vec<String>) {
        // Closing our end tells the init to kill everything and exit.
        let _ = nix::sys::socket::shutdown(
            self.control.fd.get_ref().as_raw_fd(),
            nix::sys::socket::Shutdown::Both,
        );
        if tokio::time::timeout(STOP_GRACE, self.shim.wait())
            .await
            .is_err()
        {
            let _ = self.shim.kill().await;
        }
        let mut problems = Vec::new();
        if let Some(cg) = self.cgroup.take() {
            // rmdir may briefly retry (see cgroup::remove_dir): off the
            // async workers.
            match tokio::task::spawn_blocking(move || cg.remove()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => problems.push(e.to_string()),
                Err(e) => problems.push(format!("removing the job's cgroups: {e}")),
            }
        }
        if let Some(state) = self.state.take()
            && let Err(e) = state.close()
        {
            problems.push(format!("removing the state directory: {e}"));
        }
        let text = self
            .diagnostics
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default();
        (text, problems)
    }
}

#[async_trait]
impl JobHandle for Container {
    async fn collect_artifacts(
        &self,
        paths: &[String],
        dest: &std::path::Path,
        out: &OutputSender,
    ) -> Result<usize, BackendError> {
        let (workspace, paths_owned, dest) =
            (self.workspace.clone(), paths.to_vec(), dest.to_path_buf());
        let (copied, missing) = tokio::task::spawn_blocking(move || {
            crate::backend::artifacts::collect_from_dir(&workspace, &paths_owned, &dest)
        })
        .await
        .map_err(|e| BackendError::Runtime(format!("collecting artifacts: {e}")))??;
        for path in missing {
            let line = format!("artifact `{path}`: no such file or directory, skipped");
            let _ = out
                .send(OutputLine {
                    stream: Stream::Stderr,
                    bytes: line.into_bytes(),
                })
                .await;
        }
        Ok(copied)
    }

    async fn restore_artifacts(&self, from: &std::path::Path) -> Result<(), BackendError> {
        let (from, workspace) = (from.to_path_buf(), self.workspace.clone());
        tokio::task::spawn_blocking(move || {
            crate::backend::artifacts::restore_into_dir(&from, &workspace)
        })
        .await
        .map_err(|e| BackendError::Runtime(format!("restoring artifacts: {e}")))?
    }

    async fn run_step(
        &self,
        step: &Step,
        env: &Env,
        out: &OutputSender,
        cancel: &CancellationToken,
    ) -> Result<StepExit, BackendError> {
        // A step whose image is `host` has no entry: it runs in the job's
        // root like any other.
        let own = self
            .step_images
            .iter()
            .find(|s| step.image.is_some() && s.loc == step.loc && s.name == step.name);
        let mut spec = step_spec(step, env, own.map_or(&self.image, |s| &s.config));
        spec.tree = own.map(|s| s.tree);
        if self.user.is_some() {
            spec.user.clone_from(&self.user);
        }
        let memfd =
            spec_memfd(&spec).map_err(|e| runtime("passing the step to the container", e))?;
        let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| runtime("pipe", e))?;
        let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| runtime("pipe", e))?;
        let oom_before = self.cgroup.as_ref().and_then(JobCgroup::oom_kills);
        self.control
            .send(
                &Request::Run,
                &[memfd.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()],
            )
            .await
            .map_err(|e| runtime("the container is gone", e))?;
        // Only the step holds the write ends now: EOF means it is done.
        drop((memfd, out_w, err_w));
        let stdout = tokio::net::unix::pipe::Receiver::from_owned_fd(out_r)
            .map_err(|e| runtime("pipe", e))?;
        let stderr = tokio::net::unix::pipe::Receiver::from_owned_fd(err_r)
            .map_err(|e| runtime("pipe", e))?;

        let pumps = async {
            tokio::join!(
                pump(stdout, Stream::Stdout, out),
                pump(stderr, Stream::Stderr, out)
            )
        };
        self.services.flush(out).await;
        tokio::pin!(pumps);
        let mut reply: Option<Reply> = None;
        let mut drained = false;
        let mut killed = false;
        while reply.is_none() || !drained {
            tokio::select! {
                r = self.control.recv::<Reply>(), if reply.is_none() => {
                    match r {
                        Ok(Some(r)) => reply = Some(r),
                        Ok(None) => return Err(BackendError::Runtime("the container ended during the step".into())),
                        Err(e) => return Err(runtime("the container is gone", e)),
                    }
                }
                _ = &mut pumps, if !drained => drained = true,
                () = self.services.news() => self.services.flush(out).await,
                () = cancel.cancelled(), if !killed => {
                    killed = true;
                    self.control
                        .send(&Request::Kill, &[])
                        .await
                        .map_err(|e| runtime("cannot stop the step", e))?;
                }
            }
        }
        self.services.flush(out).await;
        let exit = match reply {
            Some(Reply::Exited(code)) => StepExit::Code(code),
            Some(Reply::Signaled(sig)) => StepExit::Signal(sig),
            Some(Reply::Error(e)) => {
                return Err(BackendError::Runtime(format!("cannot run the step: {e}")));
            }
            other => {
                return Err(BackendError::Runtime(format!(
                    "unexpected answer from the container: {other:?}"
                )));
            }
        };
        if killed {
            return Ok(StepExit::Cancelled);
        }
        if !exit.success()
            && let Some(cg) = &self.cgroup
            && cg.oom_kills() > oom_before
        {
            let limit = cg.memory_limit.map_or_else(|| "?".to_string(), human_bytes);
            let _ = out
                .send(note_line(&format!("killed: memory limit ({limit})")))
                .await;
        }
        Ok(exit)
    }

    async fn cleanup(mut self: Box<Self>) -> Result<(), BackendError> {
        let (_, problems) = self.stop().await;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(BackendError::Runtime(problems.join("; ")))
        }
    }
}

/// What the init runs for `step`: its shell with the script, the layered
/// env (defaults < the image's `Env` < the step's), as the image's `User`,
/// in the workspace or `workdir` (a CI step starts in the checkout, so
/// the image's `WorkingDir` does not apply).
fn step_spec(step: &Step, env: &Env, image: &ImageConfig) -> StepSpec {
    let mut argv = step.shell.clone();
    argv.push(step.run.clone());
    let vars = base_env(image).with(env);
    let cwd = match &step.workdir {
        Some(w) if w.value.starts_with('/') => w.value.clone(),
        Some(w) => format!("{WORKSPACE}/{}", w.value),
        None => WORKSPACE.to_string(),
    };
    StepSpec {
        argv,
        env: vars.to_pairs(),
        cwd,
        tree: None,
        user: image.user.clone(),
    }
}

/// PATH, HOME and CI, then the image's `Env` over them.
fn base_env(image: &ImageConfig) -> Env {
    let mut vars = Env::new();
    vars.set("PATH", process::step_default_path(), None);
    vars.set("HOME", "/root", None);
    vars.set("CI", "true", None);
    for pair in &image.env {
        if let Some((name, value)) = pair.split_once('=') {
            vars.set(name, value, None);
        }
    }
    vars
}

fn spec_memfd(spec: &StepSpec) -> std::io::Result<OwnedFd> {
    let fd = memfd_create(c"nestci-step", MFdFlags::MFD_CLOEXEC)?;
    let mut file = std::fs::File::from(fd);
    serde_json::to_writer(&mut file, spec)?;
    file.flush()?;
    file.rewind()?;
    Ok(file.into())
}

/// Forward `reader`'s lines to `out` until end of file.
async fn pump(mut reader: impl AsyncRead + Unpin, stream: Stream, out: &OutputSender) {
    let mut lines = Lines::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let batch = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => lines.push(&buf[..n]),
        };
        let done = batch.is_none();
        for bytes in batch.unwrap_or_else(|| lines.rest()) {
            // A closed receiver means nobody wants the output any more;
            // keep reading so the step does not block on a full pipe.
            let _ = out.send(OutputLine { stream, bytes }).await;
        }
        if done {
            break;
        }
    }
}

/// Splits a byte stream into lines (without their newline; a line longer
/// than [`MAX_LINE`] in pieces).
#[derive(Default)]
struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    /// The complete lines after `data` arrived (always `Some`).
    fn push(&mut self, data: &[u8]) -> Option<Vec<Vec<u8>>> {
        self.pending.extend_from_slice(data);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(pos) = self.pending[start..].iter().position(|&b| b == b'\n') {
            out.push(self.pending[start..start + pos].to_vec());
            start += pos + 1;
        }
        self.pending.drain(..start);
        while self.pending.len() >= MAX_LINE {
            let rest = self.pending.split_off(MAX_LINE);
            out.push(std::mem::replace(&mut self.pending, rest));
        }
        Some(out)
    }

    /// At end of stream: the last, unterminated line, if any.
    fn rest(&mut self) -> Vec<Vec<u8>> {
        if self.pending.is_empty() {
            Vec::new()
        } else {
            vec![std::mem::take(&mut self.pending)]
        }
    }
}
