//! NCI026: an image tag without a digest.

use super::prelude::*;

pub struct TagWithoutDigest;

static META: RuleMeta = RuleMeta {
    id: "NCI026",
    name: "tag-without-digest",
    severity: Severity::Low,
    title: "image tag without a digest",
    risk: "Tags are mutable: the registry (or whoever controls it) can move `alpine:3.20` to \
           different content, and the next run executes it.",
    safer: "Add the digest: `alpine:3.20@sha256:...`; tools like Renovate keep it current.",
    reference: "OpenSSF Scorecard: Pinned-Dependencies; GitHub Actions security hardening: \
                pin to a full-length commit SHA",
    help_uri: Some(
        "https://github.com/ossf/scorecard/blob/main/docs/checks.md#pinned-dependencies",
    ),
};

impl Rule for TagWithoutDigest {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, _cx: &Context, out: &mut Vec<Hit>) {
        for image in images(job) {
            let r = parse_image(&image.value);
            // No tag or `latest` is NCI022.
            if r.digest.is_none() && r.tag.is_some_and(|t| t != "latest") {
                out.push(Hit::new(
                    &image.loc,
                    format!("image `{}` is pinned by tag only", image.value),
                ));
            }
        }
    }
}
