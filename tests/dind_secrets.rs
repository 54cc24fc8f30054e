//! Secrets end to end (dind, `host` image): a GitHub workflow reads them
//! through `secrets.*` (also in a reusable workflow it calls), a native
//! pipeline as variables; the values never reach the terminal or the job
//! logs, only `***` does.

mod dind_common;

use std::path::Path;

use dind_common::{Run, Sandbox};

const TOKEN: &str = "tok-9f2c51e7";
const PASSWORD: &str = "pa55 w0rd";
/// Two lines: each is masked on its own.
const KEY_LINES: [&str; 2] = ["kEyLiNe-one-a1b2", "kEyLiNe-two-c3d4"];

/// Every `.log` file of the run, each after its file name.
fn logs(workspace: &Path) -> String {
    let mut all = String::new();
    let runs = workspace.join(".nestci").join("logs");
    for run in std::fs::read_dir(&runs).expect("read the log directory") {
        let run = run.expect("log directory entry").path();
        for log in std::fs::read_dir(&run).expect("read a run's logs") {
            let log = log.expect("log entry").path();
            all.push_str(&format!("== {}\n", log.display()));
            all.push_str(&std::fs::read_to_string(&log).expect("read a log"));
        }
    }
    all
}

fn assert_masked(run: &Run, logs: &str) {
    for value in [TOKEN, PASSWORD, KEY_LINES[0], KEY_LINES[1]] {
        assert!(
            !run.stdout.contains(value),
            "`{value}` shown:\n{}",
            run.describe()
        );
        assert!(
            !run.stderr.contains(value),
            "`{value}` on stderr:\n{}",
            run.describe()
        );
        assert!(!logs.contains(value), "`{value}` in the logs:\n{logs}");
    }
}

#[test]
fn github_secrets_are_masked_on_the_terminal_and_in_the_logs() {
    let sandbox = Sandbox::new(
        r#"
on: push
jobs:
  show:
    runs-on: ubuntu-latest
    env:
      KEY: ${{ secrets.KEY }}
    steps:
      - name: use ${{ secrets.TOKEN }}
        run: |
          echo "token=${{ secrets.TOKEN }} twice ${{ secrets.TOKEN }}"
          echo "password=${{ secrets.PASSWORD }}"
          printf '%s\n' "$KEY"
          echo "missing=[${{ secrets.NOT_GIVEN }}]"
  named:
    name: deploy as ${{ secrets.TOKEN }}
    runs-on: ubuntu-latest
    steps:
      - run: echo "named job"
"#,
    );
    let file = sandbox.dir.path().join("secrets.env");
    std::fs::write(
        &file,
        format!(
            "# for the test\nexport TOKEN={TOKEN}\nPASSWORD='{PASSWORD}'\nKEY=\"{}\\n{}\"\n",
            KEY_LINES[0], KEY_LINES[1]
        ),
    )
    .expect("write the secret file");
    let file = file.to_string_lossy().into_owned();
    let run = sandbox.run(&["--secret-file", &file]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let logs = logs(&sandbox.workspace());
    assert_masked(&run, &logs);
    for text in [run.stdout.as_str(), logs.as_str()] {
        assert!(text.contains("token=*** twice ***"), "{text}");
        assert!(text.contains("password=***"), "{text}");
        assert!(text.contains("▸ use ***"), "nestci's own note: {text}");
        assert!(text.contains("missing=[]"), "{text}");
        assert!(text.contains("named job"), "{text}");
    }
    // The job's name holds a secret: its log file is named masked.
    assert!(logs.contains("/deploy_as.log\n"), "{logs}");
    // Both lines of the multi-line secret, each masked.
    assert_eq!(
        run.lines_of("show").iter().filter(|l| *l == "***").count(),
        2,
        "{}",
        run.describe()
    );
    sandbox.assert_nothing_left();
}

#[test]
fn native_pipelines_see_secrets_as_masked_variables() {
    let sandbox = Sandbox::new(
        r#"
name: vars
image: host
jobs:
  show:
    steps:
      - run: echo "token=$TOKEN"; echo "override=$PASSWORD"
"#,
    );
    let secret = format!("TOKEN={TOKEN}");
    // `--env` wins over a secret of the same name, as a pipeline
    // variable wins over a masked project variable in GitLab.
    let pw = format!("PASSWORD={PASSWORD}");
    let run = sandbox.run(&[
        "--secret",
        &secret,
        "--secret",
        &pw,
        "--env",
        "PASSWORD=plain",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_masked(&run, &logs(&sandbox.workspace()));
    assert_eq!(
        run.value("show", "token").as_deref(),
        Some("***"),
        "{}",
        run.describe()
    );
    assert_eq!(
        run.value("show", "override").as_deref(),
        Some("plain"),
        "{}",
        run.describe()
    );
    sandbox.assert_nothing_left();
}

#[test]
fn a_reusable_workflow_runs_with_its_inputs_secrets_and_outputs() {
    let sandbox = Sandbox::new(
        r#"
on: push
jobs:
  first:
    runs-on: ubuntu-latest
    steps:
      - run: echo "first ran"
  call:
    needs: first
    uses: ./.github/workflows/called.yml
    with:
      greeting: hello
    secrets:
      token: ${{ secrets.TOKEN }}
  last:
    needs: call
    runs-on: ubuntu-latest
    steps:
      - run: echo "last ran"
      - run: echo "got=${{ needs.call.outputs.word }} result=${{ needs.call.result }}"
"#,
    );
    let workflows = sandbox.dir.path().join(".github").join("workflows");
    std::fs::create_dir_all(&workflows).expect("mkdir workflows");
    std::fs::write(
        workflows.join("called.yml"),
        r#"
on:
  workflow_call:
    inputs:
      greeting: {type: string, required: true}
      times: {type: number, default: 2}
    secrets:
      token: {required: true}
    outputs:
      word:
        value: ${{ jobs.greet.outputs.word }}-${{ inputs.greeting }}
jobs:
  greet:
    runs-on: ubuntu-latest
    outputs:
      word: ${{ steps.w.outputs.word }}
    steps:
      - run: echo "greeting=${{ inputs.greeting }} x${{ inputs.times }} token=${{ secrets.token }}"
      - id: w
        run: echo "word=bird" >> "$GITHUB_OUTPUT"
"#,
    )
    .expect("write the called workflow");
    let secret = format!("TOKEN={TOKEN}");
    let run = sandbox.run(&["--secret", &secret, "--jobs", "1"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_masked(&run, &logs(&sandbox.workspace()));
    assert_eq!(
        run.value("call / greet", "greeting").as_deref(),
        Some("hello x2 token=***"),
        "{}",
        run.describe()
    );
    // The called workflow's outputs, from its job's, reach the job
    // needing the caller.
    assert_eq!(
        run.value("last", "got").as_deref(),
        Some("bird-hello result=success"),
        "{}",
        run.describe()
    );
    // The order `needs` gives: first, then the called job, then last.
    let started: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("▶ ")?.strip_suffix(" started"))
        .collect();
    assert_eq!(
        started,
        ["first", "call / greet", "last"],
        "{}",
        run.describe()
    );
    sandbox.assert_nothing_left();
}
