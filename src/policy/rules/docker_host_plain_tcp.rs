//! NCI003: `DOCKER_HOST` over TCP without TLS.

use super::prelude::*;
use crate::model::Env;

pub struct DockerHostPlainTcp;

static META: RuleMeta = RuleMeta {
    id: "NCI003",
    name: "docker-host-plain-tcp",
    severity: Severity::Critical,
    title: "Docker daemon reached over TCP without TLS",
    risk: "A daemon listening on plain TCP (2375) accepts commands from anyone who can reach \
           the port, with no authentication: any process on that network, including other \
           jobs, gets root on the daemon's host.",
    safer: "Use TLS (`tcp://host:2376` with `DOCKER_TLS_VERIFY=1` and client certificates), \
            a unix socket that only the job can reach, or nestci's dind mode.",
    reference: "CIS Docker Benchmark v1.2.0 2.6 (TLS authentication for the Docker daemon)",
    help_uri: Some("https://docs.docker.com/engine/security/protect-access/"),
};

impl Rule for DockerHostPlainTcp {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, _cx: &Context, out: &mut Vec<Hit>) {
        // Judge each scope with what applies in it: a step sees the job's
        // env below its own.
        let mut scopes = vec![job.env.clone()];
        scopes.extend(job.steps.iter().map(|s| job.env.with(&s.env)));
        for env in &scopes {
            if let Some(hit) = plain_tcp(env) {
                out.push(hit);
            }
        }
        // GitLab's recipe `DOCKER_TLS_CERTDIR: ""` makes a docker:dind
        // service listen on 2375 without TLS.
        for service in &job.services {
            if let Some(var) = service.env.var("DOCKER_TLS_CERTDIR")
                && var.value.trim().is_empty()
                && let Some(loc) = &var.loc
            {
                out.push(Hit::new(
                    loc,
                    format!(
                        "service `{}` has TLS turned off (`DOCKER_TLS_CERTDIR` empty): its \
                         daemon listens on plain TCP",
                        service.alias
                    ),
                ));
            }
        }
    }
}

fn plain_tcp(env: &Env) -> Option<Hit> {
    let var = env.var("DOCKER_HOST")?;
    let value = var.value.trim();
    if !value.starts_with("tcp://") {
        return None;
    }
    let verify = env
        .get("DOCKER_TLS_VERIFY")
        .is_some_and(|v| !matches!(v.trim(), "" | "0" | "false"));
    let plain_port = value.trim_end_matches('/').ends_with(":2375");
    if verify && !plain_port {
        return None;
    }
    let loc = var.loc.as_ref()?;
    Some(Hit::new(
        loc,
        format!("`DOCKER_HOST={value}` talks to a Docker daemon without TLS"),
    ))
}
