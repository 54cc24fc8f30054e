//! `nestci doctor` on a host that has everything dind needs (the CI
//! machines: scripts/test-env.sh checks the kernel side), and the README's
//! main command in the default mode.

mod dind_common;

use std::process::Command;

#[test]
fn doctor_reports_every_facility_ok_here() {
    let out = Command::new(env!("CARGO_BIN_EXE_nestci"))
        .arg("doctor")
        .output()
        .expect("run nestci doctor");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for facility in [
        "user namespaces",
        "subordinate ids",
        "overlay in a user namespace",
        "cgroups",
        "seccomp",
        "Docker daemon",
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(facility))
            .unwrap_or_else(|| panic!("no line for {facility}:\n{text}"));
        assert!(line.contains(" ok "), "{facility} is not ok here: {line}");
    }
    assert!(text.contains("dind can run here"), "{text}");
}

#[test]
fn readme_main_command_runs_hello_in_dind_by_default() {
    let sandbox = dind_common::Sandbox::new("name: unused\njobs: {}\n");
    let hello = std::fs::canonicalize("pipelines/hello.yml").expect("pipelines/hello.yml");
    let out = Command::new(env!("CARGO_BIN_EXE_nestci"))
        .arg("run")
        .arg(&hello)
        .arg("--workspace")
        .arg(sandbox.workspace())
        .env("NO_COLOR", "1")
        .env("NESTCI_STATE_DIR", sandbox.tmp())
        .output()
        .expect("run nestci");
    let run = dind_common::Run::from(out);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.lines_of("hello")
            .iter()
            .any(|l| l == "hello from nestci, running on Linux as uid 0"),
        "{}",
        run.describe()
    );
    let greeting = sandbox
        .workspace()
        .join("target/nestci-examples/hello/greeting.txt");
    assert!(greeting.is_file(), "the step wrote into the workspace");
    sandbox.assert_nothing_left();
}
