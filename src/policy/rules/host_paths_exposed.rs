//! NCI028: host directories shown to the job through `host_paths`.
//!
//! The `host` image shows only the host's system directories; a job sees
//! a home-directory toolchain (`~/.cargo`, `~/.rustup`) only when the
//! pipeline (`host_paths:`) or the command line (`--host-path`) asks. Each
//! one is read-only, but readable is enough to leak what it holds.

use super::prelude::*;

pub struct HostPathsExposed;

static META: RuleMeta = RuleMeta {
    id: "NCI028",
    name: "host-paths-exposed",
    severity: Severity::Low,
    title: "host directory shown to the job (`host_paths`)",
    risk: "Whatever the directory holds is readable by every step and every dependency the \
           job builds: a toolchain directory often keeps credentials too (`~/.cargo/\
           credentials.toml`, `~/.npmrc`, `~/.docker/config.json`).",
    safer: "Expose the narrowest directory the job needs (`~/.cargo/bin` rather than `~` or \
            `~/.cargo`), or use an image with the toolchain so that nothing of the host is \
            shown.",
    reference: "CIS Docker Benchmark v1.2.0 5.5 (sensitive host directories); \
                OWASP CI/CD Security Risks: CICD-SEC-6 (insufficient credential hygiene)",
    help_uri: None,
};

impl Rule for HostPathsExposed {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, _cx: &Context, out: &mut Vec<Hit>) {
        for dir in &job.host_paths {
            let whole_home = matches!(dir.value.trim_end_matches('/'), "~" | "$HOME")
                || normalize_path(&dir.value).trim_end_matches('/') == "~";
            let message = if whole_home {
                format!(
                    "the whole home directory `{}` is readable by job `{}`",
                    dir.value, job.name
                )
            } else {
                format!(
                    "host directory `{}` is readable by job `{}`",
                    dir.value, job.name
                )
            };
            out.push(Hit::new(&dir.loc, message));
        }
    }
}
