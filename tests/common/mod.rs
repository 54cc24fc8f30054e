//! Helpers shared by the integration tests (each test file that needs them
//! says `mod common;`).

use std::path::PathBuf;

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
