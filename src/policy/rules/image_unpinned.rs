//! NCI022: an image without a tag or on `latest`.

use super::prelude::*;

pub struct ImageUnpinned;

static META: RuleMeta = RuleMeta {
    id: "NCI022",
    name: "image-unpinned",
    severity: Severity::Medium,
    title: "image unpinned or on `latest`",
    risk: "`latest` (or no tag) is whatever was pushed last: a compromised or careless push \
           changes what every run executes, with no change in the pipeline to review.",
    safer: "Pin a version tag and its digest: `alpine:3.20@sha256:...`.",
    reference: "CIS Docker Benchmark v1.2.0 5.27; OpenSSF Scorecard: Pinned-Dependencies",
    help_uri: Some(
        "https://github.com/ossf/scorecard/blob/main/docs/checks.md#pinned-dependencies",
    ),
};

impl Rule for ImageUnpinned {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, _cx: &Context, out: &mut Vec<Hit>) {
        for image in images(job) {
            let r = parse_image(&image.value);
            if r.digest.is_some() {
                continue;
            }
            match r.tag {
                None => out.push(Hit::new(
                    &image.loc,
                    format!("image `{}` has no tag (it means `latest`)", image.value),
                )),
                Some("latest") => out.push(Hit::new(
                    &image.loc,
                    format!("image `{}` is on `latest`", image.value),
                )),
                Some(_) => {}
            }
        }
    }
}
