//! Unit tests of the GitLab passes: rules compilation, extends and
//! `!reference` merging. Whole files are tested in `tests/gitlab.rs`.

use std::path::Path;

use super::rules::{Rule, compile};
use crate::dialect::{LoadOptions, load_str_with};
use crate::model::{Env, Pipeline, When};
use crate::plan::condition::Condition;

fn rule(cond: Option<&str>, when: When) -> Rule {
    Rule {
        cond: cond.map(str::to_string),
        parsed: cond.and_then(|c| Condition::parse(c).ok()),
        when,
        allow_failure: None,
        variables: Vec::new(),
        files_match: true,
    }
}

fn holds(condition: &Option<String>, vars: &[(&str, &str)]) -> bool {
    match condition {
        None => true,
        Some(c) => Condition::parse(c)
            .expect("compiled conditions parse")
            .eval(&|n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| *v))
            .expect("evaluates"),
    }
}

#[test]
fn rules_compile_to_a_first_match_chain() {
    let rules = vec![
        rule(Some("$SKIP"), When::Never),
        rule(Some("$CI_COMMIT_BRANCH == \"main\""), When::OnSuccess),
        rule(Some("$CI_PIPELINE_SOURCE == \"web\""), When::Manual),
    ];
    let c = compile(&rules);
    assert!(!c.never);
    assert!(holds(&c.condition, &[("CI_COMMIT_BRANCH", "main")]));
    assert!(!holds(
        &c.condition,
        &[("CI_COMMIT_BRANCH", "main"), ("SKIP", "1")]
    ));
    assert!(holds(&c.condition, &[("CI_PIPELINE_SOURCE", "web")]));
    assert!(!holds(&c.condition, &[("CI_COMMIT_BRANCH", "dev")]));
}

#[test]
fn rules_without_if_end_the_chain() {
    let always = compile(&[rule(Some("$A"), When::Never), rule(None, When::OnSuccess)]);
    assert_eq!(always.condition.as_deref(), Some("!($A)"));
    let never = compile(&[rule(Some("$A"), When::Never), rule(None, When::Never)]);
    assert!(never.never);
    let plain = compile(&[rule(None, When::Always), rule(Some("$A"), When::Never)]);
    assert_eq!(plain.condition, None);
    assert!(!plain.never);
    assert!(compile(&[]).never, "no rule matches: the job is not added");
}

fn load(text: &str) -> Pipeline {
    let mut options = LoadOptions::default();
    options.env.set("CI_COMMIT_BRANCH", "main", None);
    match load_str_with(Path::new("unit.gitlab-ci.yml"), text, &options) {
        Ok(l) => l.pipeline,
        Err(e) => panic!("{:#?}", e.diagnostics),
    }
}

#[test]
fn extends_merges_several_parents_over_levels() {
    let p = load(
        "\
.base:
  image: alpine
  variables: {A: base, B: base}
  script: [echo base]
.mid:
  extends: .base
  variables: {B: mid}
.other:
  variables: {C: other}
  before_script: [echo other]
job:
  extends: [.mid, .other]
  variables: {D: job}
",
    );
    let job = &p.jobs[0];
    assert_eq!(job.name, "job");
    assert_eq!(job.image.as_ref().map(|i| i.value.as_str()), Some("alpine"));
    let env: Env = job.env.clone();
    assert_eq!(env.get("A"), Some("base"));
    assert_eq!(env.get("B"), Some("mid"));
    assert_eq!(env.get("C"), Some("other"));
    assert_eq!(env.get("D"), Some("job"));
    assert_eq!(job.steps[0].run, "echo other\necho base");
}

#[test]
fn nested_references_are_resolved_and_flattened() {
    let p = load(
        "\
.setup:
  script: [echo one, echo two]
.more:
  script:
    - !reference [.setup, script]
    - echo three
job:
  script:
    - !reference [.more, script]
    - echo four
",
    );
    assert_eq!(
        p.jobs[0].steps[0].run,
        "echo one\necho two\necho three\necho four"
    );
}
