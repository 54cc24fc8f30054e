//! NCI023: secrets echoed or passed on a command line.

use std::sync::LazyLock;

use regex::Regex;

use super::prelude::*;

pub struct SecretsInClear;

static META: RuleMeta = RuleMeta {
    id: "NCI023",
    name: "secrets-in-clear",
    severity: Severity::Medium,
    title: "secret echoed or passed on a command line",
    risk: "An echoed secret lands in the job log (kept on disk and shown to anyone who can \
           read it); one passed as an argument is visible to every process on the host in \
           /proc/*/cmdline and in shell traces.",
    safer: "Pass secrets through the environment or a file and read them with \
            `--password-stdin`-style options; never print them.",
    reference: "GitHub Actions security hardening: using secrets; CIS Docker Benchmark \
                v1.2.0 4.10",
    help_uri: Some(
        "https://docs.github.com/en/actions/security-for-github-actions/security-guides/security-hardening-for-github-actions#using-secrets",
    ),
};

/// `echo $TOKEN`, `printf '%s' "${API_KEY}"`, `echo ${{ secrets.X }}`.
static ECHO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\b(?:echo|printf)\b[^|;&]*?(?P<var>\$\{\{\s*secrets\.[A-Za-z0-9_]+\s*\}\}|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)"#)
        .expect("valid regex")
});

/// `--password $X`, `-p "$X"`, `--token=$X`: a secret as an argument.
static ARGUMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:\s-p|--password|--token|--secret|--api-key)(?:\s+|=)["']?(?P<var>\$\{\{\s*secrets\.[A-Za-z0-9_]+\s*\}\}|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)"#)
        .expect("valid regex")
});

/// The variable's name in `$X`, `${X}` or `${{ secrets.X }}`, and whether
/// it is a secret.
fn secret_name(reference: &str) -> Option<&str> {
    if let Some(rest) = reference.strip_prefix("${{") {
        let name = rest
            .trim_end_matches("}}")
            .trim()
            .strip_prefix("secrets.")?;
        return Some(name);
    }
    let name = reference
        .trim_start_matches('$')
        .trim_start_matches('{')
        .trim_end_matches('}');
    is_secret_name(name).then_some(name)
}

/// The rest of an `echo` command sends its output elsewhere than the log
/// (`| docker login --password-stdin`, `> file`).
fn leaves_the_log(rest: &str) -> bool {
    let command = rest.split([';', '&']).next().unwrap_or(rest);
    command.contains('|') || command.contains('>')
}

impl Rule for SecretsInClear {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, _cx: &Context, out: &mut Vec<Hit>) {
        for (step, line) in script_lines(job) {
            if let Some(caps) = ECHO.captures(line)
                && let Some(name) = secret_name(&caps["var"])
                && !leaves_the_log(&line[caps.get(0).map_or(0, |m| m.end())..])
            {
                out.push(
                    Hit::new(&step.loc, format!("the script prints the secret `{name}`"))
                        .at_text(&caps[0]),
                );
            } else if let Some(caps) = ARGUMENT.captures(line)
                && let Some(name) = secret_name(&caps["var"])
            {
                out.push(
                    Hit::new(
                        &step.loc,
                        format!("the secret `{name}` is passed as a command-line argument"),
                    )
                    .at_text(caps[0].trim_start()),
                );
            }
        }
    }
}
