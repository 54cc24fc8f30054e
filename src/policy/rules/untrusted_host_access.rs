//! NCI014: untrusted code given the host's container engine.

use super::prelude::*;

pub struct UntrustedHostAccess;

static META: RuleMeta = RuleMeta {
    id: "NCI014",
    name: "untrusted-engine-access",
    severity: Severity::High,
    title: "untrusted pipeline with access to the host's container engine",
    risk: "Code from a fork pull request, `pull_request_target` or `--untrusted` is written by \
           someone outside the project; in dood mode (or with a mounted engine socket) it \
           drives the host's daemon, which is root on the runner and sees every other job.",
    safer: "Run untrusted pipelines in dind mode (nestci's user-namespace runtime), without \
            engine sockets, on a runner that holds no secrets.",
    reference: "GitHub Actions security hardening: hardening for self-hosted runners; CIS \
                Docker Benchmark v1.2.0 5.31",
    help_uri: Some(
        "https://docs.github.com/en/actions/security-for-github-actions/security-guides/security-hardening-for-github-actions#hardening-for-self-hosted-runners",
    ),
};

impl Rule for UntrustedHostAccess {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, cx: &Context, out: &mut Vec<Hit>) {
        if !cx.untrusted {
            return;
        }
        if cx.is_dood() {
            out.push(
                Hit::new(
                    &job.loc,
                    format!(
                        "untrusted job `{}` would run on the host's Docker daemon",
                        job.name
                    ),
                )
                .note(format!(
                    "untrusted because {}; this finding is about dood mode itself, dind mode does not raise it",
                    cx.untrusted_why.as_deref().unwrap_or("it was marked so")
                )),
            );
            return;
        }
        let socket = job
            .security
            .mount_docker_socket
            .as_ref()
            .filter(|m| m.value)
            .map(|m| &m.loc)
            .or_else(|| {
                job.security
                    .volumes
                    .iter()
                    .find(|v| is_engine_socket(&normalize_path(&v.value.host)))
                    .map(|v| &v.loc)
            });
        if let Some(loc) = socket {
            out.push(
                Hit::new(
                    loc,
                    format!("untrusted job `{}` gets the host's engine socket", job.name),
                )
                .note(format!(
                    "untrusted because {}",
                    cx.untrusted_why.as_deref().unwrap_or("it was marked so")
                )),
            );
        }
    }
}
