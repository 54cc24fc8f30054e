//! The policy engine as users meet it: every rule fires on a pipeline that
//! asks for what it is about (with the right id, severity and location)
//! and stays quiet on a near miss; the policy file's precedence and
//! exceptions; text, JSON and SARIF output (SARIF validated against the
//! official 2.1.0 schema); `nestci run` refusing before anything exists.
//!
//! Rule fixtures live in `tests/policy/rules/`: `NCI001-privileged.yml`
//! triggers, `NCI001-privileged.near-miss.yml` must not. Directives in
//! leading comments say how to judge and what to expect:
//!
//! ```yaml
//! # mode: dood                  (dind | dood | auto; default auto)
//! # untrusted: true
//! # expect: NCI001 critical 7:19  (every finding of that rule, exactly)
//! # absent: NCI001
//! ```
//!
//! A `<name>.policy.yml` beside a fixture is its policy file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nestci::backend::Mode;
use nestci::dialect;
use nestci::policy::{self, Action, Context, Finding, HostFacts, PolicyConfig, Severity};

/// Judging is deterministic in tests: this host "has" user namespaces.
const FACTS: HostFacts = HostFacts {
    user_namespaces: Some(true),
};

struct Fixture {
    path: PathBuf,
    mode: Mode,
    untrusted: bool,
    expect: Vec<(String, String, u32, u32)>,
    absent: Vec<String>,
}

fn fixture(path: &Path) -> Fixture {
    let text = std::fs::read_to_string(path).expect("read fixture");
    let mut f = Fixture {
        path: path.to_path_buf(),
        mode: Mode::Auto,
        untrusted: false,
        expect: Vec::new(),
        absent: Vec::new(),
    };
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        let Some((key, value)) = line.trim_start_matches('#').trim().split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "mode" => {
                f.mode = match value {
                    "dind" => Mode::Dind,
                    "dood" => Mode::Dood,
                    "auto" => Mode::Auto,
                    other => panic!("{}: unknown mode {other}", path.display()),
                }
            }
            "untrusted" => f.untrusted = value == "true",
            "expect" => {
                let parts: Vec<&str> = value.split_whitespace().collect();
                let [id, severity, at] = parts.as_slice() else {
                    panic!("{}: `expect: ID SEVERITY LINE:COL`", path.display());
                };
                let (l, c) = at.split_once(':').expect("LINE:COL");
                f.expect.push((
                    id.to_string(),
                    severity.to_string(),
                    l.parse().expect("line"),
                    c.parse().expect("col"),
                ));
            }
            "absent" => f.absent.push(value.to_string()),
            _ => {}
        }
    }
    f
}

fn judge(f: &Fixture) -> Vec<Finding> {
    let loaded = dialect::load(&f.path)
        .unwrap_or_else(|e| panic!("{} does not load: {:?}", f.path.display(), e.diagnostics));
    let policy_file = f.path.with_extension("").with_extension("policy.yml");
    let config = if policy_file.is_file() {
        PolicyConfig::load(&policy_file).expect("fixture policy loads")
    } else {
        PolicyConfig::default()
    };
    let cx = Context::new(f.mode, Some(&FACTS))
        .untrusted(f.untrusted)
        .allowed_mounts(&config.allow_mounts);
    policy::check(&loaded.pipeline, &cx, &config, Some(&loaded.text))
}

fn rule_fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("tests/policy/rules")
        .expect("tests/policy/rules exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".yml") && !name.ends_with(".policy.yml")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_rule_fires_where_it_should_and_only_there() {
    let files = rule_fixtures();
    let mut failures = Vec::new();
    for file in &files {
        let f = fixture(file);
        assert!(
            !f.expect.is_empty() || !f.absent.is_empty(),
            "{} has no `expect:` or `absent:` directive",
            file.display()
        );
        let findings = judge(&f);
        let ids: BTreeSet<&str> = f.expect.iter().map(|e| e.0.as_str()).collect();
        for id in ids {
            let want: BTreeSet<(String, u32, u32)> = f
                .expect
                .iter()
                .filter(|e| e.0 == id)
                .map(|e| (e.1.clone(), e.2, e.3))
                .collect();
            let got: BTreeSet<(String, u32, u32)> = findings
                .iter()
                .filter(|x| x.rule == id)
                .map(|x| (x.severity.to_string(), x.loc.line(), x.loc.col()))
                .collect();
            if want != got {
                failures.push(format!(
                    "{}: {id}: want {want:?}, got {got:?}",
                    file.display()
                ));
            }
            for x in findings.iter().filter(|x| x.rule == id) {
                assert_eq!(
                    x.loc.path(),
                    file.as_path(),
                    "findings point into the fixture"
                );
            }
        }
        for id in &f.absent {
            let false_positives: Vec<String> = findings
                .iter()
                .filter(|x| &x.rule == id)
                .map(|x| format!("{} at {}: {}", x.rule, x.loc, x.message))
                .collect();
            if !false_positives.is_empty() {
                failures.push(format!(
                    "{}: false positive: {}",
                    file.display(),
                    false_positives.join("; ")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));

    // Every rule has a trigger and a near miss.
    for rule in policy::rules::ALL {
        let id = rule.meta().id;
        let named = |near: bool| {
            files.iter().any(|p| {
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                n.starts_with(id) && n.contains(".near-miss") == near
            })
        };
        assert!(named(false), "no fixture triggers {id}");
        assert!(named(true), "no near-miss fixture for {id}");
    }
}
