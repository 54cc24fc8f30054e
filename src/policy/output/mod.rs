//! Rendering findings: [`text`] for people (rustc-style snippets grouped by
//! job), [`json`] for scripts (stable field names, documented in the
//! README) and [`sarif`] for code-scanning tools (SARIF 2.1.0).

pub mod json;
pub mod sarif;
pub mod text;

use super::engine::Context;

/// What the renderers say about the run besides the findings.
#[derive(Debug, Clone)]
pub struct Meta<'a> {
    /// The pipeline file as shown to the user (relative when possible).
    pub file: &'a std::path::Path,
    pub pipeline: &'a str,
    pub cx: &'a Context<'a>,
}

/// A path as a SARIF/JSON URI: forward slashes, no leading `./`.
pub(crate) fn uri(path: &std::path::Path) -> String {
    let s = path.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}
