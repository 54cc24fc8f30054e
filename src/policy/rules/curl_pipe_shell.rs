//! NCI024: a downloaded script piped straight into a shell.

use std::sync::LazyLock;

use regex::Regex;

use super::prelude::*;

pub struct CurlPipeShell;

static META: RuleMeta = RuleMeta {
    id: "NCI024",
    name: "curl-pipe-shell",
    severity: Severity::Medium,
    title: "`curl ... | sh`",
    risk: "Whatever the server (or anyone between it and the runner) sends at that moment runs \
           in the job with its secrets; the same URL can serve a different script to CI than \
           to a browser.",
    safer: "Download to a file, check its checksum or signature against a pinned value, then \
            run it; better, use a pinned package or image that contains the tool.",
    reference: "OpenSSF Scorecard: Pinned-Dependencies (download-then-run)",
    help_uri: Some(
        "https://github.com/ossf/scorecard/blob/main/docs/checks.md#pinned-dependencies",
    ),
};

static PIPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"\b(?:curl|wget)\b[^|;&]*\|\s*(?:sudo\s+(?:-\S+\s+)*)?(?:env\s+\S+=\S+\s+)*(?:/usr)?(?:/bin/)?(?:ba|z|da|k|fi)?sh\b|\b(?:ba|z)?sh\s+(?:-c\s+)?["']?(?:<\(|\$\()\s*(?:curl|wget)\b"#,
    )
    .expect("valid regex")
});

impl Rule for CurlPipeShell {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, _cx: &Context, out: &mut Vec<Hit>) {
        for (step, line) in script_lines(job) {
            if let Some(m) = PIPE.find(line) {
                out.push(
                    Hit::new(
                        &step.loc,
                        "a downloaded script is run without being checked",
                    )
                    .at_text(m.as_str()),
                );
            }
        }
    }
}
