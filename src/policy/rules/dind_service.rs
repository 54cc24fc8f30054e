//! NCI015: a `docker:dind` service, which needs a privileged container.

use super::prelude::*;

pub struct DindService;

static META: RuleMeta = RuleMeta {
    id: "NCI015",
    name: "dind-service",
    severity: Severity::High,
    title: "`docker:dind` service needs a privileged container",
    risk: "The Docker-in-Docker daemon image only works `--privileged`; whatever can talk to \
           it (every step of the job) can start containers with the privileges of that \
           service, which is root on the runner's host.",
    safer: "Drop the service and build with nestci's dind mode (nested containers in a user \
            namespace, no daemon) or a rootless builder (BuildKit rootless, kaniko).",
    reference: "CIS Docker Benchmark v1.2.0 5.4 (privileged containers); Kubernetes Pod \
                Security Standards (Baseline): Privileged Containers",
    help_uri: None,
};

/// `docker:dind`, `docker:27-dind`, `registry/library/docker:dind-rootless`.
pub fn is_dind_image(reference: &str) -> bool {
    let r = parse_image(reference);
    image_basename(r.repository) == "docker"
        && r.tag
            .is_some_and(|t| t.contains("dind") && !t.contains("rootless"))
}

impl Rule for DindService {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, _cx: &Context, out: &mut Vec<Hit>) {
        for s in &job.services {
            if is_dind_image(&s.image.value) {
                out.push(Hit::new(
                    &s.image.loc,
                    format!(
                        "service `{}` runs a Docker daemon (`{}`) that needs privileged",
                        s.alias, s.image.value
                    ),
                ));
            }
        }
    }
}
