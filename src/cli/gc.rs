//! `nestci gc`: remove what crashed runs left in the Docker Engine.
//!
//! Everything the dood backend creates is labelled (`nestci.run`,
//! `nestci.job`, `nestci.owner=<host>/<pid>`). A run that ends normally —
//! even by a timeout or Ctrl-C — removes its own objects; one that was
//! killed outright cannot. `gc` lists the labelled objects through the API
//! and removes those whose owning process is gone, leaving runs that are
//! still going alone (`--all` takes those too).

use crate::backend::dood::{Engine, gc};
use crate::cli::Reporter;

#[derive(Debug, clap::Args)]
pub struct GcArgs {
    /// Only this run's objects (its id, as in `.nestci/logs/<run-id>`).
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
    /// Also remove objects of runs that still seem to be going.
    #[arg(long)]
    pub all: bool,
    /// Only list what would be removed.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn gc(args: &GcArgs, reporter: &Reporter) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            reporter.error(&format!("cannot start the async runtime: {e}"), None);
            return 1;
        }
    };
    runtime.block_on(async {
        let engine = match Engine::discover().await {
            Ok(e) => e,
            Err(e) => {
                reporter.error(
                    &e.to_string(),
                    Some("gc removes leftovers from the Docker Engine (or Podman); it needs the daemon"),
                );
                return 1;
            }
        };
        let filters: Vec<String> = args
            .run
            .iter()
            .map(|r| format!("{}={r}", crate::backend::dood::labels::RUN))
            .collect();
        if args.dry_run {
            return match gc::collect(
                &engine,
                &if filters.is_empty() {
                    vec![crate::backend::dood::labels::RUN.to_string()]
                } else {
                    filters
                },
            )
            .await
            {
                Ok(found) => {
                    let mut text = String::new();
                    for l in &found {
                        let live = !args.all && gc::owner_alive(&l.owner);
                        let what = if live { "would keep (run alive)" } else { "would remove" };
                        text.push_str(&format!("{what}: {l}\n"));
                    }
                    if found.is_empty() {
                        text.push_str("nothing to remove\n");
                    }
                    super::print(&text)
                }
                Err(e) => {
                    reporter.error(&format!("listing leftovers: {e}"), None);
                    1
                }
            };
        }
        match gc::sweep(&engine, &filters, args.all).await {
            Ok(swept) => {
                let mut text = String::new();
                for l in &swept.removed {
                    text.push_str(&format!("removed {l}\n"));
                }
                for (l, e) in &swept.failed {
                    text.push_str(&format!("could not remove {l}: {e}\n"));
                }
                if !swept.kept.is_empty() {
                    text.push_str(&format!(
                        "kept {} object(s) of runs still going (--all removes them too)\n",
                        swept.kept.len()
                    ));
                }
                if swept.removed.is_empty() && swept.failed.is_empty() {
                    text.push_str(&format!(
                        "nothing to remove at {}\n",
                        engine.endpoint()
                    ));
                } else {
                    text.push_str(&format!(
                        "{} removed, {} failed ({} at {})\n",
                        swept.removed.len(),
                        swept.failed.len(),
                        engine.info(),
                        engine.endpoint()
                    ));
                }
                let code = super::print(&text);
                if swept.failed.is_empty() { code } else { 1 }
            }
            Err(e) => {
                reporter.error(&format!("removing leftovers: {e}"), None);
                1
            }
        }
    })
}
