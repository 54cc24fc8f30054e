//! The YAML layer: every pipeline dialect reads its file through here.
//!
//! A file becomes a tree of [`Node`]s. Each node knows where it was written
//! (line and column), which tag it carried (`!reference`, ...), and what kind
//! of scalar or collection it is. Anchors, aliases and merge keys are already
//! resolved; alias expansion is bounded so an "alias bomb" is refused instead
//! of exhausting memory; a repeated key keeps the last value (as GitLab's
//! loader does) and is reported as a warning that names both lines.
//!
//! The parsing itself is done by `serde-saphyr`, which gives us spans, tags,
//! merge-key expansion and alias budgets; this module only shapes its output
//! into a tree the dialect parsers can walk with precise error locations.

mod node;

pub use node::{Key, Mapping, Node, Span, Value};

use std::fmt;

/// A problem found while reading YAML text, before any dialect looks at it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    /// What went wrong, in words.
    pub message: String,
    /// Where, when the parser could tell.
    pub span: Option<Span>,
    /// What the user can do about it.
    pub help: Option<String>,
}

/// A note about the document that does not stop it from loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlWarning {
    pub message: String,
    pub span: Span,
    pub help: Option<String>,
}

impl fmt::Display for YamlWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A parsed document and the warnings found while reading it.
#[derive(Debug, Clone)]
pub struct Document {
    pub root: Node,
    pub warnings: Vec<YamlWarning>,
}

/// How many nodes alias replay may add across one document.
///
/// A real pipeline that reuses a `&defaults` block in a thousand jobs replays
/// a few tens of thousands of events; a "billion laughs" file wants billions.
pub const MAX_REPLAYED_EVENTS: usize = 250_000;

/// Parse YAML text into a spanned tree.
///
/// An empty document (or one holding only comments) yields a null root.
pub fn parse(text: &str) -> Result<Document, YamlError> {
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    options.merge_keys = serde_saphyr::MergeKeyPolicy::Merge;
    options.alias_limits.max_total_replayed_events = MAX_REPLAYED_EVENTS;
    options.with_snippet = false;
    // YAML 1.2 core schema, as GitHub and GitLab read it: `on` and `yes` are strings.
    options.strict_booleans = true;

    let root: Option<Node> =
        serde_saphyr::from_str_with_options(text, options).map_err(convert_error)?;
    let root = root.unwrap_or(Node {
        value: Value::Null,
        tag: None,
        span: Span::START,
    });
    let mut warnings = Vec::new();
    root.collect_duplicates(&mut warnings);
    Ok(Document { root, warnings })
}

/// Where the first merge key (`<<`) of `text` is, if it has one: GitHub
/// Actions accepts anchors and aliases but refuses merge keys, so its
/// dialect asks. `None` also when the text does not parse at all (that is
/// reported by [`parse`]).
pub fn find_merge_key(text: &str) -> Option<Span> {
    if !text.contains("<<") {
        return None;
    }
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    options.merge_keys = serde_saphyr::MergeKeyPolicy::Error;
    options.alias_limits.max_total_replayed_events = MAX_REPLAYED_EVENTS;
    options.with_snippet = false;
    options.strict_booleans = true;
    match serde_saphyr::from_str_with_options::<Option<Node>>(text, options) {
        Ok(_) => None,
        Err(e) if e.to_string().to_ascii_lowercase().contains("merge") => {
            e.location().and_then(|l| Span::from_location(&l))
        }
        Err(_) => None,
    }
}

fn convert_error(err: serde_saphyr::Error) -> YamlError {
    let span = err.location().and_then(|l| Span::from_location(&l));
    let text = err.to_string();
    // serde-saphyr appends " at line X column Y" to its messages; our own
    // renderer shows the location, so keep only the first line of the words.
    let mut message = text.lines().next().unwrap_or("invalid YAML").to_string();
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    let lower = message.to_ascii_lowercase();
    let help = if lower.contains("alias") && (lower.contains("limit") || lower.contains("budget")) {
        Some(format!(
            "this file expands aliases into more than {MAX_REPLAYED_EVENTS} nodes; \
             nestci refuses such \"alias bombs\" to keep memory bounded"
        ))
    } else if lower.contains("tab") {
        Some("YAML indentation must use spaces, not tabs".to_string())
    } else {
        None
    };
    YamlError {
        message,
        span,
        help,
    }
}

#[cfg(test)]
mod tests;
