//! Planner tests: pipelines are built in code with a tiny builder, so each
//! test shows exactly the shape it checks.

use std::path::PathBuf;
use std::sync::Arc;

use super::*;
use crate::model::{Dialect, Loc, Located, Need, Skipped};
use crate::yaml::Span;

fn file() -> Arc<PathBuf> {
    Arc::new(PathBuf::from("p.yml"))
}

fn at(line: u32, col: u32) -> Loc {
    Loc::new(&file(), Span { line, col })
}

/// A job with every field at its default; `line` places its key.
fn job(name: &str, line: u32) -> Job {
    Job::new(name, at(line, 3))
}

fn staged(name: &str, line: u32, stage: &str) -> Job {
    Job {
        stage: Some(stage.to_string()),
        ..job(name, line)
    }
}

/// `needs` entries, each located on `line`, at successive columns.
fn needs(line: u32, names: &[&str]) -> Option<Vec<Need>> {
    Some(
        names
            .iter()
            .enumerate()
            .map(|(k, n)| Need {
                job: n.to_string(),
                optional: false,
                loc: at(line, 12 + 6 * k as u32),
            })
            .collect(),
    )
}

fn needing(name: &str, line: u32, on: &[&str]) -> Job {
    Job {
        needs: needs(line + 1, on),
        ..job(name, line)
    }
}

fn pipeline(stages: &[&str], jobs: Vec<Job>) -> Pipeline {
    Pipeline {
        name: "test".into(),
        dialect: Dialect::Native,
        file: file(),
        stages: stages.iter().map(|s| s.to_string()).collect(),
        jobs,
        untrusted_input: None,
    }
}

fn plan(p: &Pipeline) -> Plan {
    plan_with(p, &PlanOptions::default())
}

fn plan_with(p: &Pipeline, opts: &PlanOptions) -> Plan {
    match build(p, opts) {
        Ok(plan) => plan,
        Err(errors) => panic!("unexpected errors: {errors:#?}"),
    }
}

fn errors(p: &Pipeline, opts: &PlanOptions) -> Vec<Diagnostic> {
    match build(p, opts) {
        Ok(plan) => panic!("expected errors, got {:#?}", names(&plan)),
        Err(errors) => errors,
    }
}

fn select(names: &[&str]) -> PlanOptions {
    PlanOptions {
        select: names.iter().map(|s| s.to_string()).collect(),
        env: Env::new(),
    }
}

fn names(plan: &Plan) -> Vec<&str> {
    plan.jobs.iter().map(|j| j.job.name.as_str()).collect()
}

/// Each job's dependencies by name, for readable assertions.
fn deps_of<'a>(plan: &'a Plan, name: &str) -> Vec<&'a str> {
    let pj = plan
        .jobs
        .iter()
        .find(|j| j.job.name == name)
        .unwrap_or_else(|| panic!("{name} not in plan"));
    pj.deps
        .iter()
        .map(|&d| plan.jobs[d].job.name.as_str())
        .collect()
}

fn wave_names(plan: &Plan) -> Vec<Vec<&str>> {
    plan.waves()
        .iter()
        .map(|w| w.iter().map(|&i| plan.jobs[i].job.name.as_str()).collect())
        .collect()
}

#[test]
fn stages_run_in_declared_order() {
    let p = pipeline(
        &["build", "test", "deploy"],
        vec![
            staged("deploy", 1, "deploy"),
            staged("unit", 2, "test"),
            staged("compile", 3, "build"),
            staged("lint", 4, "build"),
            job("loose", 5),
        ],
    );
    let plan = plan(&p);
    assert_eq!(names(&plan), ["deploy", "unit", "compile", "lint", "loose"]);
    assert_eq!(deps_of(&plan, "unit"), ["compile", "lint"]);
    assert_eq!(deps_of(&plan, "deploy"), ["unit", "compile", "lint"]);
    assert!(deps_of(&plan, "loose").is_empty());
    assert_eq!(
        wave_names(&plan),
        [
            vec!["compile", "lint", "loose"],
            vec!["unit"],
            vec!["deploy"]
        ]
    );
    assert!(plan.jobs.iter().all(|j| j.selected));
}

#[test]
fn stage_order_without_declaration_is_first_appearance() {
    let p = pipeline(
        &[],
        vec![
            staged("a", 1, "one"),
            staged("b", 2, "two"),
            staged("c", 3, "one"),
        ],
    );
    let plan = plan(&p);
    assert_eq!(deps_of(&plan, "b"), ["a", "c"]);
    assert!(deps_of(&plan, "c").is_empty());
}

#[test]
fn needs_override_stages() {
    let mut early = staged("early", 3, "test");
    early.needs = Some(Vec::new());
    let mut deploy = staged("deploy", 5, "deploy");
    deploy.needs = needs(6, &["early"]);
    let p = pipeline(
        &["build", "test", "deploy"],
        vec![
            staged("compile", 1, "build"),
            early,
            deploy,
            staged("unit", 7, "test"),
        ],
    );
    let plan = plan(&p);
    assert!(deps_of(&plan, "early").is_empty());
    assert_eq!(deps_of(&plan, "deploy"), ["early"]);
    assert_eq!(deps_of(&plan, "unit"), ["compile"]);
}

#[test]
fn needs_may_point_forward_and_repeat() {
    let p = pipeline(&[], vec![needing("a", 1, &["b", "b"]), job("b", 3)]);
    let plan = plan(&p);
    assert_eq!(deps_of(&plan, "a"), ["b"]);
    assert_eq!(wave_names(&plan), [vec!["b"], vec!["a"]]);
}

#[test]
fn cycle_reports_path_at_closing_need() {
    let p = pipeline(
        &[],
        vec![
            needing("a", 1, &["b"]),
            needing("b", 3, &["c"]),
            needing("c", 5, &["x", "a"]),
            job("x", 7),
        ],
    );
    let errs = errors(&p, &PlanOptions::default());
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].message.contains("a -> b -> c -> a"),
        "{}",
        errs[0].message
    );
    // `c`'s second need (`a`) closes the cycle.
    assert_eq!(errs[0].loc, Some(at(6, 18)));
    assert!(errs[0].help.as_deref().unwrap_or("").contains("remove one"));
}

#[test]
fn self_need_is_a_cycle() {
    let p = pipeline(&[], vec![needing("a", 1, &["a"])]);
    let errs = errors(&p, &PlanOptions::default());
    assert!(errs[0].message.contains("a -> a"), "{}", errs[0].message);
}

#[test]
fn cycle_through_stage_order_points_at_the_need() {
    // `build` needs `test`, but `test` (no needs) waits for the build stage.
    let mut build = staged("build", 1, "build");
    build.needs = needs(2, &["test"]);
    let p = pipeline(&["build", "test"], vec![build, staged("test", 3, "test")]);
    let errs = errors(&p, &PlanOptions::default());
    assert!(
        errs[0].message.contains("build -> test -> build"),
        "{}",
        errs[0].message
    );
    assert_eq!(errs[0].loc, Some(at(2, 12)));
    assert!(
        errs[0]
            .help
            .as_deref()
            .unwrap_or("")
            .contains("earlier stages")
    );
}

#[test]
fn unknown_need_suggests_a_name() {
    let p = pipeline(&[], vec![job("build", 1), needing("test", 3, &["biuld"])]);
    let errs = errors(&p, &PlanOptions::default());
    assert_eq!(errs.len(), 1);
    assert!(errs[0].message.contains("`biuld`"), "{}", errs[0].message);
    assert_eq!(errs[0].help.as_deref(), Some("did you mean `build`?"));
    assert_eq!(errs[0].loc, Some(at(4, 12)));
}

#[test]
fn unknown_optional_need_is_ignored() {
    let mut test = needing("test", 3, &["gone"]);
    if let Some(n) = test.needs.as_mut() {
        n[0].optional = true;
    }
    let p = pipeline(&[], vec![job("build", 1), test]);
    assert!(deps_of(&plan(&p), "test").is_empty());
}

#[test]
fn duplicate_job_names_are_errors() {
    let p = pipeline(&[], vec![job("a", 1), job("a", 5)]);
    let errs = errors(&p, &PlanOptions::default());
    assert!(errs[0].message.contains("defined twice"));
    assert_eq!(errs[0].loc, Some(at(5, 3)));
}

#[test]
fn undeclared_stage_is_an_error() {
    let p = pipeline(&["build", "test"], vec![staged("a", 1, "tset")]);
    let errs = errors(&p, &PlanOptions::default());
    assert_eq!(errs[0].help.as_deref(), Some("did you mean `test`?"));
}

#[test]
fn selection_pulls_in_transitive_needs() {
    let p = pipeline(
        &[],
        vec![
            job("fetch", 1),
            needing("build", 2, &["fetch"]),
            needing("test", 4, &["build"]),
            job("lint", 6),
            needing("deploy", 7, &["test"]),
        ],
    );
    let plan = plan_with(&p, &select(&["test"]));
    assert_eq!(names(&plan), ["fetch", "build", "test"]);
    let selected: Vec<bool> = plan.jobs.iter().map(|j| j.selected).collect();
    assert_eq!(selected, [false, false, true]);
    assert_eq!(deps_of(&plan, "test"), ["build"]);
    assert!(plan.render_dag().contains("[needed by the selection]"));
}

#[test]
fn selection_follows_stage_dependencies() {
    let p = pipeline(
        &["build", "test"],
        vec![
            staged("compile", 1, "build"),
            staged("unit", 2, "test"),
            staged("e2e", 3, "test"),
        ],
    );
    let plan = plan_with(&p, &select(&["e2e"]));
    assert_eq!(names(&plan), ["compile", "e2e"]);
}

#[test]
fn template_selects_every_matrix_variant() {
    let variant = |rust: &str, line| Job {
        template: "test".into(),
        matrix: vec![("RUST".into(), rust.into())],
        ..needing(&format!("test [RUST={rust}]"), line, &["build"])
    };
    let p = pipeline(
        &[],
        vec![
            job("build", 1),
            variant("1.80", 2),
            variant("1.81", 2),
            job("docs", 9),
        ],
    );
    let plan = plan_with(&p, &select(&["test"]));
    assert_eq!(
        names(&plan),
        ["build", "test [RUST=1.80]", "test [RUST=1.81]"]
    );

    // A single variant by its full name.
    let plan = plan_with(&p, &select(&["test [RUST=1.81]"]));
    assert_eq!(names(&plan), ["build", "test [RUST=1.81]"]);
}

#[test]
fn unknown_selection_suggests_a_name() {
    let p = pipeline(&[], vec![job("build", 1), job("deploy", 2)]);
    let errs = errors(&p, &select(&["deplyo"]));
    assert_eq!(errs.len(), 1);
    assert!(errs[0].loc.is_none());
    assert_eq!(
        errs[0].help.as_deref(),
        Some("did you mean `--job deploy`?")
    );
}

#[test]
fn manual_jobs_run_only_when_selected() {
    let manual = Job {
        when: When::Manual,
        ..job("release", 3)
    };
    let p = pipeline(&[], vec![job("build", 1), manual]);
    assert_eq!(names(&plan(&p)), ["build"]);
    let plan = plan_with(&p, &select(&["release"]));
    assert_eq!(names(&plan), ["release"]);
    assert!(plan.render_dag().contains("[manual]"));
}

#[test]
fn needing_a_manual_job_says_why_it_is_missing() {
    let manual = Job {
        when: When::Manual,
        ..job("approve", 1)
    };
    let p = pipeline(&[], vec![manual, needing("deploy", 3, &["approve"])]);
    let errs = errors(&p, &PlanOptions::default());
    assert_eq!(errs.len(), 1);
    let e = &errs[0];
    assert!(
        e.message.contains("`deploy` needs `approve`"),
        "{}",
        e.message
    );
    assert!(e.message.contains("manual"), "{}", e.message);
    assert_eq!(e.loc, Some(at(4, 12)));
    assert!(e.help.as_deref().unwrap_or("").contains("--job approve"));
    // Selecting both works.
    let plan = plan_with(&p, &select(&["deploy", "approve"]));
    assert_eq!(names(&plan), ["approve", "deploy"]);
}

#[test]
fn never_jobs_are_dropped() {
    let never = Job {
        when: When::Never,
        ..staged("old", 1, "build")
    };
    let p = pipeline(
        &["build", "test"],
        vec![never.clone(), staged("test", 2, "test")],
    );
    let planned = plan(&p);
    assert_eq!(names(&planned), ["test"]);
    assert!(
        planned.jobs[0].deps.is_empty(),
        "stage-derived deps on dropped jobs vanish"
    );

    let p = pipeline(&[], vec![never.clone(), needing("b", 3, &["old"])]);
    let errs = errors(&p, &PlanOptions::default());
    assert!(
        errs[0].message.contains("`when: never`"),
        "{}",
        errs[0].message
    );

    let mut optional = needing("b", 3, &["old"]);
    if let Some(n) = optional.needs.as_mut() {
        n[0].optional = true;
    }
    let p = pipeline(&[], vec![never, optional]);
    assert_eq!(names(&plan(&p)), ["b"]);
}

/// A job its dialect skipped at load time is left out with the dialect's
/// reason and help, everywhere the planner explains a dropped job.
#[test]
fn skipped_jobs_are_left_out_with_the_dialects_reason() {
    let skipped = Job {
        skipped: Some(Skipped {
            reason: "its `if: false` is false".into(),
            help: "choose the event with `--event NAME`".into(),
            loc: at(2, 9),
        }),
        ..job("deploy", 1)
    };
    let p = pipeline(&[], vec![job("build", 5), skipped.clone()]);
    let planned = plan(&p);
    assert_eq!(names(&planned), ["build"]);
    assert_eq!(
        planned.left_out,
        [LeftOut {
            name: "deploy".into(),
            reason: "its `if: false` is false".into()
        }]
    );
    let shown = planned.render_left_out().unwrap_or_default();
    assert_eq!(
        shown,
        "not in this run:\n  deploy  its `if: false` is false\n"
    );

    let p = pipeline(
        &[],
        vec![skipped.clone(), needing("notify", 3, &["deploy"])],
    );
    let errs = errors(&p, &PlanOptions::default());
    assert_eq!(
        errs[0].message,
        "job `notify` needs `deploy`, which is not in this run: its `if: false` is false"
    );
    assert!(!errs[0].message.contains("when: never"));
    assert_eq!(
        errs[0].help.as_deref(),
        Some("choose the event with `--event NAME`, or mark this need `optional: true`")
    );

    let p = pipeline(&[], vec![skipped]);
    let errs = errors(&p, &select(&["deploy"]));
    assert_eq!(
        errs[0].message,
        "`--job deploy` selects `deploy`, which cannot run: its `if: false` is false"
    );
    assert_eq!(errs[0].loc, Some(at(2, 9)), "points at what decided it");
}

#[test]
fn selected_jobs_are_not_listed_as_left_out() {
    let p = pipeline(&[], vec![job("a", 1), job("b", 2)]);
    let planned = plan_with(&p, &select(&["a"]));
    assert!(planned.left_out.is_empty(), "{:?}", planned.left_out);
    assert_eq!(planned.render_left_out(), None);
}

#[test]
fn selecting_a_never_job_is_an_error() {
    let never = Job {
        when: When::Never,
        ..job("old", 1)
    };
    let p = pipeline(&[], vec![never]);
    let errs = errors(&p, &select(&["old"]));
    assert!(
        errs[0].message.contains("cannot run"),
        "{}",
        errs[0].message
    );
}

#[test]
fn conditions_use_job_env_and_overrides() {
    let mut deploy = job("deploy", 2);
    deploy.condition = Some(Located::new("$TARGET == 'prod' && $CI".into(), at(3, 9)));
    deploy.env.set("CI", "true", None);
    deploy.env.set("TARGET", "staging", None);
    let p = pipeline(&[], vec![job("build", 1), deploy]);
    assert_eq!(names(&plan(&p)), ["build"]);

    let mut opts = PlanOptions::default();
    opts.env.set("TARGET", "prod", None);
    assert_eq!(names(&plan_with(&p, &opts)), ["build", "deploy"]);
}

#[test]
fn needing_a_job_whose_condition_is_false_is_an_error() {
    let mut gated = job("gated", 1);
    gated.condition = Some(Located::new("$GO".into(), at(2, 9)));
    let p = pipeline(&[], vec![gated, needing("after", 3, &["gated"])]);
    let errs = errors(&p, &PlanOptions::default());
    assert!(
        errs[0].message.contains("`if: $GO` is false"),
        "{}",
        errs[0].message
    );
    assert!(errs[0].help.as_deref().unwrap_or("").contains("--env"));
}

#[test]
fn malformed_condition_is_located() {
    let mut j = job("a", 1);
    j.condition = Some(Located::new("$A = 'x'".into(), at(2, 9)));
    let p = pipeline(&[], vec![j]);
    let errs = errors(&p, &PlanOptions::default());
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].loc, Some(at(2, 9)));
    assert!(
        errs[0].message.contains("did you mean `==`"),
        "{}",
        errs[0].message
    );
    assert!(errs[0].help.as_deref().unwrap_or("").contains("column 4"));
}

#[test]
fn on_failure_and_always_stay_in_the_plan() {
    let p = pipeline(
        &[],
        vec![
            job("a", 1),
            Job {
                when: When::OnFailure,
                ..needing("notify", 2, &["a"])
            },
            Job {
                when: When::Always,
                allow_failure: crate::model::AllowFailure::Yes,
                ..needing("report", 4, &["a"])
            },
        ],
    );
    let plan = plan(&p);
    assert_eq!(names(&plan), ["a", "notify", "report"]);
    let dag = plan.render_dag();
    assert!(dag.contains("[on failure]"), "{dag}");
    assert!(dag.contains("[always] [allow failure]"), "{dag}");
}

#[test]
fn render_dag_shows_waves_and_arrows() {
    let variant = |os: &str| Job {
        template: "test".into(),
        matrix: vec![("OS".into(), os.into())],
        ..staged(&format!("test [OS={os}]"), 3, "test")
    };
    let p = pipeline(
        &["build", "test", "deploy"],
        vec![
            staged("compile", 1, "build"),
            staged("lint", 2, "build"),
            Job {
                needs: needs(4, &["compile"]),
                ..staged("unit", 3, "test")
            },
            variant("linux"),
            variant("mac"),
            staged("deploy", 5, "deploy"),
            Job {
                when: When::OnFailure,
                ..needing("notify", 7, &["test [OS=linux]", "test [OS=mac]", "lint"])
            },
        ],
    );
    let dag = plan(&p).render_dag();
    let expected = "\
7 jobs in 3 waves
1  compile
   lint
2  unit             ← compile
   test [OS=linux]  ← stage build
   test [OS=mac]    ← stage build
3  deploy           ← stages build, test
   notify           ← lint, test (all 2 variants)  [on failure]
";
    assert_eq!(dag, expected);
    assert_eq!(Plan::default().render_dag(), "no jobs to run\n");
}

#[test]
fn long_dependency_lists_are_cut() {
    let mut jobs: Vec<Job> = (0..8).map(|i| job(&format!("j{i}"), i + 1)).collect();
    let all: Vec<String> = jobs.iter().map(|j| j.name.clone()).collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    jobs.push(needing("last", 20, &all));
    let dag = plan(&pipeline(&[], jobs)).render_dag();
    assert!(dag.contains("← j0, j1, j2, j3, j4 and 3 more"), "{dag}");
}

/// 1,000 jobs in five stages, with matrix-like shared conditions and
/// needs chains: the shape of a big monorepo pipeline. Timing is measured
/// in `benches/`; this checks the result is right at that size.
#[test]
fn thousand_jobs() {
    let stages = ["a", "b", "c", "d", "e"];
    let jobs: Vec<Job> = (0..1000u32)
        .map(|i| {
            let mut j = staged(&format!("job{i}"), i + 1, stages[(i % 5) as usize]);
            // Every third job needs the job five before it (same stage).
            if i % 3 == 0 && i >= 5 {
                j.needs = needs(i + 1, &[&format!("job{}", i - 5)]);
            }
            j.condition = Some(Located::new("$CI != 'false'".into(), at(i + 1, 9)));
            j
        })
        .collect();
    let p = pipeline(&stages, jobs);
    let plan = plan(&p);
    assert_eq!(plan.jobs.len(), 1000);
    assert!(plan.waves().len() >= 5);
}
