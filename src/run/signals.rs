//! Ctrl-C and SIGTERM: cancel gracefully first, exit at once the second
//! time.
//!
//! The first signal cancels the run's [`CancellationToken`]. The scheduler
//! sees it, starts no more jobs, and the backends stop the running steps;
//! every prepared job is still cleaned up, so nothing is left behind.
//! That can take a moment, so the user is told, and a second signal ends
//! the process immediately with exit code 130 — the escape hatch for a
//! backend that hangs, at the price of possibly leaving containers for
//! `nestci gc`.

use tokio_util::sync::CancellationToken;

/// The message printed on the first signal.
pub const CANCELLING: &str = "cancelling… (press Ctrl-C again to force)";

/// Listen for Ctrl-C (SIGINT) and SIGTERM in a background task. Call it
/// inside a Tokio runtime; outside one it does nothing.
///
/// The listeners are created once, before the task waits, so a second
/// signal that comes quickly after the first is not missed. If they cannot
/// be installed (rare: no signal support), the task ends quietly and the
/// run simply cannot be cancelled by signal.
pub fn install(cancel: CancellationToken) {
    // Outside a runtime there is nothing to spawn on (and creating the
    // listeners would panic): do nothing rather than crash.
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    let mut signals = Signals::new();
    tokio::spawn(async move {
        let mut received = 0u32;
        while signals.next().await {
            received += 1;
            if received == 1 {
                eprintln!("{CANCELLING}");
                cancel.cancel();
            } else {
                std::process::exit(super::report::EXIT_CANCELLED);
            }
        }
    });
}

/// SIGINT and SIGTERM as one stream.
#[cfg(unix)]
struct Signals {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

#[cfg(unix)]
impl Signals {
    fn new() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            int: signal(SignalKind::interrupt()).ok(),
            term: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Wait for the next signal; `false` when none can arrive any more.
    async fn next(&mut self) -> bool {
        async fn recv(s: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
            match s {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        }
        while self.int.is_some() || self.term.is_some() {
            let (int, term) = tokio::select! {
                got = recv(&mut self.int) => (Some(got), None),
                got = recv(&mut self.term) => (None, Some(got)),
            };
            match (int, term) {
                (Some(Some(())), _) | (_, Some(Some(()))) => return true,
                (Some(None), _) => self.int = None,
                (_, Some(None)) => self.term = None,
                _ => {}
            }
        }
        false
    }
}

/// Ctrl-C where there are no Unix signals.
#[cfg(not(unix))]
struct Signals {
    works: bool,
}

#[cfg(not(unix))]
impl Signals {
    fn new() -> Signals {
        Signals { works: true }
    }

    async fn next(&mut self) -> bool {
        self.works = self.works && tokio::signal::ctrl_c().await.is_ok();
        self.works
    }
}
