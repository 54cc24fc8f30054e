//! Every file in `tests/broken/` is a pipeline with mistakes. Each must be
//! refused, and the exact diagnostics nestci prints for it (location,
//! message, snippet, help) are kept beside it in `<name>.stderr`.
//!
//! After an intended change of wording, regenerate the expectations with
//! `NESTCI_BLESS=1 cargo test --test broken` and review the diff.

use std::path::{Path, PathBuf};

use nestci::dialect;
use nestci::plan::{self, PlanOptions};

fn render(path: &Path) -> String {
    let diagnostics = match dialect::load(path) {
        Err(e) => e
            .diagnostics
            .iter()
            .map(|d| d.render(e.text.as_deref(), false))
            .collect::<Vec<_>>(),
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

#[test]
fn broken_pipelines_report_exact_locations() {
    let dir = Path::new("tests/broken");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("tests/broken exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "expected the full suite, found {}",
        files.len()
    );

    let bless = std::env::var_os("NESTCI_BLESS").is_some();
    let mut mismatches = Vec::new();
    for file in &files {
        let actual = render(file);
        let expected_path = file.with_extension("stderr");
        if bless {
            std::fs::write(&expected_path, &actual).expect("write expectation");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != expected {
            mismatches.push(format!(
                "--- {}\n{}\n+++ actual\n{}",
                expected_path.display(),
                expected,
                actual
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
