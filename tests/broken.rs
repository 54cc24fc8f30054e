//! Every file in `tests/broken/` is a pipeline with mistakes. Each must be
//! refused, and the exact diagnostics nestci prints for it (location,
//! message, snippet, help) are kept beside it in `<name>.stderr`.
//!
//! After an intended change of wording, regenerate the expectations with
//! `NESTCI_BLESS=1 cargo test --test broken` and review the diff.

mod common;

use std::path::{Path, PathBuf};

use nestci::dialect::LoadOptions;

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

    let actual: Vec<(PathBuf, String)> = files
        .iter()
        .map(|file| {
            (
                file.with_extension("stderr"),
                common::render_refusal(file, &LoadOptions::default()),
            )
        })
        .collect();
    common::compare_snapshots(&actual, 20);
}
