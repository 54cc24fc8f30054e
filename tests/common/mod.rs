//! Helpers shared by the integration tests (each test file that needs them
//! says `mod common;`).

// Each test crate uses only some of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nestci::dialect::{self, LoadOptions};
use nestci::plan::{self, PlanOptions};

/// Run the `nestci` binary with `args`, without colour.
pub fn nestci(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nestci"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run nestci")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The diagnostics nestci prints for a broken pipeline, rendered without
/// colour: loading errors, else planning errors. A pipeline that loads and
/// plans is a test failure.
pub fn render_refusal(path: &Path, options: &LoadOptions) -> String {
    let diagnostics: Vec<String> = match dialect::load_with(path, options) {
        Err(e) => e
            .diagnostics
            .iter()
            .map(|d| d.render(e.text.as_deref(), false))
            .collect(),
        Ok(loaded) => match plan::build(&loaded.pipeline, &PlanOptions::default()) {
            Err(ds) => ds
                .iter()
                .map(|d| d.render(Some(&loaded.text), false))
                .collect(),
            Ok(_) => panic!("{} was accepted but is broken", path.display()),
        },
    };
    let mut out = diagnostics.join("\n\n");
    out.push('\n');
    out
}

/// Compare rendered output with the snapshot files beside the fixtures:
/// each pair is (expected file, actual text). With `NESTCI_BLESS=1` the
/// snapshots are written instead; review the diff. `min` guards against a
/// corpus that silently shrank.
pub fn compare_snapshots(actual: &[(PathBuf, String)], min: usize) {
    assert!(
        actual.len() >= min,
        "expected at least {min} files, found {}",
        actual.len()
    );
    let bless = std::env::var_os("NESTCI_BLESS").is_some();
    let mut mismatches = Vec::new();
    for (expected_path, text) in actual {
        if bless {
            if let Err(e) = std::fs::write(expected_path, text) {
                panic!("{}: {e}", expected_path.display());
            }
            continue;
        }
        let expected = std::fs::read_to_string(expected_path).unwrap_or_default();
        if &expected != text {
            mismatches.push(format!(
                "--- {}\n{expected}\n+++ actual\n{text}",
                expected_path.display()
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} file(s) differ (NESTCI_BLESS=1 to accept):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
