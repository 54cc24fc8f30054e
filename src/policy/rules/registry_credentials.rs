//! NCI013: registry credentials written into the pipeline.

use std::sync::LazyLock;

use regex::Regex;

use super::prelude::*;

pub struct RegistryCredentials;

static META: RuleMeta = RuleMeta {
    id: "NCI013",
    name: "registry-credentials",
    severity: Severity::High,
    title: "hard-coded registry credentials",
    risk: "A password or auth token in the pipeline file is readable by everyone who can read \
           the repository (and every fork), stays in its history forever, and lets anyone \
           push images your deployments will pull.",
    safer: "Keep the credential in the CI secret store (or `--secret-file`) and refer to it: \
            `DOCKER_PASSWORD: $REGISTRY_TOKEN`, then `docker login --password-stdin`.",
    reference: "CIS Docker Benchmark v1.2.0 4.10 (secrets not stored in images); GitHub \
                Actions security hardening: using secrets",
    help_uri: Some(
        "https://docs.github.com/en/actions/security-for-github-actions/security-guides/security-hardening-for-github-actions#using-secrets",
    ),
};

/// Variable names that hold registry credentials by convention.
fn is_registry_credential(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper == "DOCKER_AUTH_CONFIG"
        || ([
            "REGISTRY", "DOCKER", "HARBOR", "QUAY", "GHCR", "ECR", "GCR", "ACR",
        ]
        .iter()
        .any(|r| upper.contains(r))
            && ["PASSWORD", "PASSWD", "PASS", "TOKEN", "SECRET", "AUTH"]
                .iter()
                .any(|s| upper.contains(s)))
}

/// `docker login -p hunter2` (any engine CLI), with a literal password.
static LOGIN_WITH_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"\b(?:docker|podman|buildah|skopeo|nerdctl|helm\s+registry)\s+login\b.*?\s(?:-p|--password)(?:\s+|=)(?P<value>["']?[^\s"']+)"#,
    )
    .expect("valid regex")
});

impl Rule for RegistryCredentials {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, _cx: &Context, out: &mut Vec<Hit>) {
        for var in env_vars(job) {
            if is_registry_credential(&var.name)
                && !is_reference(&var.value)
                && let Some(loc) = &var.loc
            {
                out.push(Hit::new(
                    loc,
                    format!("`{}` holds a registry credential in clear text", var.name),
                ));
            }
        }
        for (step, line) in script_lines(job) {
            let Some(caps) = LOGIN_WITH_PASSWORD.captures(line) else {
                continue;
            };
            let value = caps["value"].trim_matches(|c| c == '"' || c == '\'');
            if is_reference(value) {
                continue;
            }
            out.push(Hit::new(&step.loc, "a registry login with a literal password").at_text(line));
        }
    }
}
