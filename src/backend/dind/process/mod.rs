//! The processes of a dind job, and how they come to be.
//!
//! ```text
//! runner (tokio, multi-threaded)
//!  └─ shim        `nestci __dind-shim`: a fresh re-exec of our binary,
//!     │           single-threaded, still in the host's namespaces
//!     └─ init     clone(NEWUSER|NEWNS|NEWPID|NEWUTS|NEWIPC|NEWNET|NEWCGROUP,
//!        │        less the namespaces the job shares with the host):
//!        │        pid 1 of the job's pid namespace, builds the container,
//!        │        then serves the runner's requests
//!        ├─ service  fork of the init per service, in a mount namespace
//!        │           and root of its own (its image), then exec'd
//!        └─ step  fork of the init per step: hardened, then exec'd (a step
//!                 with an image of its own first enters its own root)
//! ```
//!
//! Why a re-exec: forking a multi-threaded tokio process leaves the child
//! with only async-signal-safe calls until exec; a fresh single-threaded
//! process may allocate, parse and fork freely. The shim stays in the host
//! namespaces because only a process there can write the job's uid/gid maps
//! (root: directly; a user: through `newuidmap`). The init waits on a pipe
//! until they are written ([`shim`]), so nothing runs in the namespace
//! before its ids are mapped.
//!
//! Steps are children of the init, so they share the container's mounts
//! (a file written by step 1 is there for step 2) and die with its pid
//! namespace: when the init exits, the kernel kills every process in it.

pub mod init;
pub mod protocol;
mod rlimits;
mod service;
pub mod shim;
mod step;

/// `PATH` of a step whose environment sets none.
pub fn step_default_path() -> &'static str {
    step::DEFAULT_PATH
}
