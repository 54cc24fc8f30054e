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

mod common;

use common::{nestci, text};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

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
                .filter(|x| x.rule == id)
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

fn load(path: &str) -> dialect::Loaded {
    dialect::load(Path::new(path)).expect("fixture loads")
}

fn rules_of(findings: &[Finding], id: &str) -> Vec<(String, Action, Option<String>)> {
    findings
        .iter()
        .filter(|f| f.rule == id)
        .map(|f| {
            (
                f.job.clone().unwrap_or_default(),
                f.action,
                f.exception.clone(),
            )
        })
        .collect()
}

#[test]
fn policy_file_precedence_exception_over_rule_over_default() {
    let loaded = load("tests/policy/mixed.yml");
    let cx = Context::new(Mode::Dood, Some(&FACTS));

    // Defaults: critical is denied, everything else warns.
    let none = policy::check(&loaded.pipeline, &cx, &PolicyConfig::default(), None);
    assert_eq!(
        rules_of(&none, "NCI001"),
        vec![
            ("build".to_string(), Action::Deny, None),
            ("gpu".to_string(), Action::Deny, None)
        ]
    );
    assert!(
        none.iter()
            .filter(|f| f.rule == "NCI012")
            .all(|f| f.action == Action::Warn)
    );

    let config = PolicyConfig::load(Path::new("tests/policy/mixed.policy.yml")).expect("valid");
    let findings = policy::check(&loaded.pipeline, &cx, &config, None);
    // `rules: {privileged: warn}` lowers the default deny ...
    // ... and the exception for job `gpu` beats the rule entry.
    assert_eq!(
        rules_of(&findings, "NCI001"),
        vec![
            ("build".to_string(), Action::Warn, None),
            (
                "gpu".to_string(),
                Action::Ignore,
                Some("the GPU runner is a dedicated VM".to_string())
            ),
        ]
    );
    // `NCI012: deny` raises a high finding to deny; the exception for
    // `gpu` (action: warn) keeps that job running, with its reason.
    assert_eq!(
        rules_of(&findings, "NCI012"),
        vec![(
            "gpu".to_string(),
            Action::Warn,
            Some("CUDA tests need /dev/nvidia0".to_string())
        )]
    );
    // `ignore` silences a rule everywhere; suppressed findings are kept
    // (for JSON and SARIF) but not reported.
    let low: Vec<&Finding> = findings.iter().filter(|f| f.rule == "NCI027").collect();
    assert_eq!(low.len(), 2);
    assert!(low.iter().all(|f| !f.is_reported()));
    let summary = policy::Summary::of(&findings);
    assert_eq!(summary.denied, 0);
    assert!(summary.suppressed >= 3, "{summary:?}");
}

#[test]
fn policy_file_errors_are_located() {
    let err = PolicyConfig::load(Path::new("tests/policy/bad.policy.yml"))
        .expect_err("the file is invalid");
    let rendered: Vec<String> = err
        .diagnostics
        .iter()
        .map(|d| d.render(err.text.as_deref(), false))
        .collect();
    let all = rendered.join("\n");
    let find = |needle: &str| {
        rendered
            .iter()
            .find(|r| r.contains(needle))
            .unwrap_or_else(|| panic!("no diagnostic says {needle:?}:\n{all}"))
            .clone()
    };
    // A missing reason is refused at the exception it belongs to.
    let reason = find("an exception has no `reason`");
    assert!(reason.contains("bad.policy.yml:8:5"), "{reason}");
    // Unknown keys and rule ids get a suggestion.
    let key = find("unknown key `exeptions`");
    assert!(key.contains("did you mean `exceptions`?"), "{key}");
    assert!(key.contains("bad.policy.yml:10:1"), "{key}");
    let rule = find("unknown rule `NCI0001`");
    assert!(rule.contains("bad.policy.yml:2:3"), "{rule}");
    let action = find("`block` is not a valid rule action");
    assert!(action.contains("bad.policy.yml:3:15"), "{action}");
    assert_eq!(err.diagnostics.len(), 4, "{all}");
}

#[test]
fn an_exception_for_an_unknown_job_is_reported() {
    let loaded = load("tests/policy/mixed.yml");
    let config = PolicyConfig::parse(
        Path::new("p.yml"),
        "exceptions:\n  - rule: NCI001\n    job: gpus\n    reason: typo\n",
    )
    .expect("valid");
    let warnings = config.unused_exceptions(&loaded.pipeline);
    assert_eq!(warnings.len(), 1);
    let w = warnings[0].render(None, false);
    assert!(w.contains("p.yml:3:10"), "{w}");
    assert!(w.contains("did you mean `gpu`?"), "{w}");
    let fine = PolicyConfig::load(Path::new("tests/policy/mixed.policy.yml")).expect("valid");
    assert!(fine.unused_exceptions(&loaded.pipeline).is_empty());
}

#[test]
fn mode_changes_the_verdict_and_says_why() {
    let loaded = load("tests/policy/mixed.yml");
    let config = PolicyConfig::default();
    let dind = policy::check(
        &loaded.pipeline,
        &Context::new(Mode::Dind, Some(&FACTS)),
        &config,
        None,
    );
    let dood = policy::check(
        &loaded.pipeline,
        &Context::new(Mode::Dood, Some(&FACTS)),
        &config,
        None,
    );
    let privileged = |fs: &[Finding]| {
        fs.iter()
            .find(|f| f.rule == "NCI001")
            .cloned()
            .expect("privileged found")
    };
    let (a, b) = (privileged(&dind), privileged(&dood));
    assert_eq!(
        (a.severity, b.severity),
        (Severity::High, Severity::Critical)
    );
    assert!(
        a.note
            .as_deref()
            .is_some_and(|n| n.contains("user namespace"))
    );
    assert!(b.note.as_deref().is_some_and(|n| n.contains("dood")));
    // Root in the job is root on the host only without the user namespace.
    assert!(!dind.iter().any(|f| f.rule == "NCI021"));
    assert!(
        dood.iter()
            .any(|f| f.rule == "NCI021" && f.severity == Severity::High)
    );

    // `auto` is judged as dind, unless the host lacks user namespaces.
    let no_userns = HostFacts {
        user_namespaces: Some(false),
    };
    let auto = Context::new(Mode::Auto, Some(&no_userns));
    assert_eq!(auto.mode, policy::JudgedMode::Dood);
    let dind_without_userns = Context::new(Mode::Dind, Some(&no_userns));
    let fs = policy::check(&loaded.pipeline, &dind_without_userns, &config, None);
    assert_eq!(privileged(&fs).severity, Severity::Critical);
    assert!(fs.iter().any(|f| f.rule == "NCI021"));
}

fn sarif_validator() -> jsonschema::Validator {
    let mut text =
        std::fs::read_to_string("tests/sarif/sarif-schema-2.1.0.json").expect("schema vendored");
    // The official schema's `run.language` pattern ends in a stray `]`:
    // legal in ECMA-262's web-compatibility grammar, refused by the
    // jsonschema crate's strict check of the schema itself. Fix that one
    // pattern in memory (nestci never writes `language`); the vendored file
    // stays byte-for-byte the published one.
    const STRAY: &str = r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#;
    assert!(
        text.contains(STRAY),
        "the known quirk is still in the schema"
    );
    text = text.replace(STRAY, r#""^[a-zA-Z]{2}(-[a-zA-Z]{2})?$""#);
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

#[test]
fn sarif_is_valid_sarif_2_1_0() {
    let validator = sarif_validator();
    // A bare document without `version` must fail: the validator bites.
    assert!(!validator.is_valid(&serde_json::json!({"runs": []})));

    let loaded = load("tests/policy/mixed.yml");
    let config = PolicyConfig::load(Path::new("tests/policy/mixed.policy.yml")).expect("valid");
    let cx = Context::new(Mode::Dood, Some(&FACTS));
    let findings = policy::check(&loaded.pipeline, &cx, &config, Some(&loaded.text));
    let meta = policy::output::Meta {
        file: &loaded.pipeline.file,
        pipeline: &loaded.pipeline.name,
        cx: &cx,
    };
    let sarif = policy::output::sarif::report(&findings, &meta);
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));

    // What GitHub code scanning reads.
    let run = &sarif["runs"][0];
    assert_eq!(sarif["version"], "2.1.0");
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), policy::rules::ALL.len());
    assert_eq!(rules[0]["id"], "NCI001");
    let results = run["results"].as_array().expect("results");
    assert_eq!(results.len(), findings.len());
    let first = &results[0];
    assert_eq!(first["ruleId"], findings[0].rule);
    let location = &first["locations"][0]["physicalLocation"];
    assert_eq!(
        location["artifactLocation"]["uri"],
        "tests/policy/mixed.yml"
    );
    assert_eq!(location["region"]["startLine"], findings[0].loc.line());
    assert_eq!(location["region"]["startColumn"], findings[0].loc.col());
    // Exceptions become suppressions with their reason.
    assert!(
        results.iter().any(|r| {
            r["suppressions"][0]["justification"] == "the GPU runner is a dedicated VM"
        })
    );
}

#[test]
fn json_has_the_documented_fields() {
    let loaded = load("tests/policy/mixed.yml");
    let cx = Context::new(Mode::Dood, Some(&FACTS));
    let findings = policy::check(&loaded.pipeline, &cx, &PolicyConfig::default(), None);
    let meta = policy::output::Meta {
        file: &loaded.pipeline.file,
        pipeline: &loaded.pipeline.name,
        cx: &cx,
    };
    let json: serde_json::Value =
        serde_json::from_str(&policy::output::json::render(&findings, &meta)).expect("JSON");
    assert_eq!(json["version"], 1);
    assert_eq!(json["mode"]["judged"], "dood");
    assert_eq!(json["pipeline"]["file"], "tests/policy/mixed.yml");
    let f = &json["findings"][0];
    for key in [
        "rule",
        "name",
        "severity",
        "default_severity",
        "title",
        "job",
        "location",
        "message",
        "note",
        "action",
        "exception",
        "reference",
    ] {
        assert!(f.get(key).is_some(), "finding field `{key}` missing: {f}");
    }
    assert_eq!(f["rule"], "NCI001");
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["action"], "deny");
    assert_eq!(f["location"]["line"], 7);
    assert_eq!(json["summary"]["denied"], 2);
}

// ---- the binary ----

#[test]
fn run_refuses_a_denied_pipeline_before_any_backend_in_both_modes() {
    for mode in ["dind", "dood", "auto"] {
        let out = nestci(&["run", "tests/policy/denied.yml", "--mode", mode]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "mode {mode}: {err}");
        assert!(err.contains("refusing to run"), "{err}");
        assert!(err.contains("NCI002"), "names the rule: {err}");
        assert!(
            err.contains("tests/policy/denied.yml:7:28"),
            "names the line: {err}"
        );
        // The backend was never asked: its "cannot run jobs" error is absent.
        assert!(!err.contains("cannot run jobs"), "{err}");
        assert!(out.stdout.is_empty(), "nothing ran: {}", text(&out.stdout));
    }
    // The same pipeline with the rule excepted gets past the policy and
    // reaches the backend (which this build does not have yet).
    let out = nestci(&[
        "run",
        "tests/policy/denied.yml",
        "--mode",
        "dood",
        "--policy",
        "tests/policy/denied.policy.yml",
    ]);
    let err = text(&out.stderr);
    assert_ne!(out.status.code(), Some(3), "{err}");
    assert!(!err.contains("refusing to run"), "{err}");
    assert!(err.contains("NCI002"), "still warns: {err}");
}

#[test]
fn run_with_a_clean_pipeline_passes_the_policy() {
    let out = nestci(&["run", "pipelines/hello.yml", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("wave 1:"));

    // `--untrusted` in dood mode warns (high) before the run, naming NCI014.
    let out = nestci(&[
        "run",
        "pipelines/hello.yml",
        "--dry-run",
        "--mode",
        "dood",
        "--untrusted",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("[NCI014] high"), "{err}");
    assert!(err.contains("running anyway"), "{err}");
}

#[test]
fn policy_check_formats_and_exit_codes() {
    let out = nestci(&[
        "policy",
        "check",
        "tests/policy/mixed.yml",
        "--mode",
        "dood",
    ]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "denied findings fail: {s}");
    assert!(s.contains("job `build`:"), "grouped by job: {s}");
    assert!(s.contains("job `gpu`:"), "{s}");
    assert!(s.contains("--> tests/policy/mixed.yml:7:19"), "{s}");
    assert!(s.contains("privileged: true"), "shows the line: {s}");
    assert!(s.contains("critical: 2 (2 denied)"), "{s}");
    assert!(s.lines().any(|l| l.starts_with("low:")), "{s}");

    // With a policy that warns only, --fail-on decides.
    let base = [
        "policy",
        "check",
        "tests/policy/mixed.yml",
        "--policy",
        "tests/policy/mixed.policy.yml",
    ];
    assert_eq!(nestci(&base).status.code(), Some(0));
    let with = |level: &str| {
        let mut args = base.to_vec();
        args.extend(["--fail-on", level]);
        nestci(&args).status.code()
    };
    assert_eq!(with("critical"), Some(0), "critical is excepted or warned");
    assert_eq!(with("high"), Some(3));

    let json = nestci(&[
        "policy",
        "check",
        "tests/policy/mixed.yml",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON on stdout");
    assert_eq!(v["mode"]["requested"], "auto");

    let sarif = nestci(&[
        "policy",
        "check",
        "tests/policy/mixed.yml",
        "--format",
        "sarif",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&sarif.stdout).expect("SARIF on stdout");
    assert!(sarif_validator().is_valid(&v));

    let untrusted = nestci(&[
        "policy",
        "check",
        "pipelines/hello.yml",
        "--mode",
        "dood",
        "--untrusted",
    ]);
    assert!(text(&untrusted.stdout).contains("NCI014"));
    let trusted = nestci(&["policy", "check", "pipelines/hello.yml", "--mode", "dood"]);
    assert!(!text(&trusted.stdout).contains("NCI014"));
}

#[test]
fn rules_and_explain() {
    let out = nestci(&["policy", "rules"]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(s.lines().count(), policy::rules::ALL.len() + 1, "{s}");
    assert!(s.contains("NCI002   critical  engine-socket"), "{s}");

    let out = nestci(&["policy", "explain", "NCI016"]);
    let s = text(&out.stdout);
    assert!(s.starts_with("NCI016 template-injection (high)"), "{s}");
    assert!(s.contains("Risk:") && s.contains("Safer:") && s.contains("Reference: GitHub"));

    let out = nestci(&["policy", "explain", "NCI0016"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("did you mean `NCI016`?"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn readme_rules_table_is_generated_from_the_metadata() {
    let readme = std::fs::read_to_string("README.md").expect("README");
    let table = nestci::cli::policy::rules_markdown();
    assert!(
        readme.contains(&table),
        "README's rules table is stale; replace it with `nestci policy rules --markdown`:\n{table}"
    );
}
