//! Diagnostics: errors and warnings that point at a place in a file, and
//! their rendering as rustc-style snippets.
//!
//! The library produces [`Diagnostic`] values; only the CLI renders them,
//! with the source text it read, in colour on a terminal.

use std::fmt;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use anstyle::{AnsiColor, Style};

use crate::model::Loc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One thing to tell the user about their file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub message: String,
    /// Where; `None` for problems with no place in a file.
    pub loc: Option<Loc>,
    /// A short label under the marked text.
    pub label: Option<String>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>, loc: Option<Loc>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            loc,
            label: None,
            help: None,
        }
    }

    pub fn warning(message: impl Into<String>, loc: Option<Loc>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message, loc)
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Set the label in place (for diagnostics already pushed to a list).
    pub fn set_label(&mut self, label: impl Into<String>) -> &mut Self {
        self.label = Some(label.into());
        self
    }

    /// Set the help in place (for diagnostics already pushed to a list).
    pub fn set_help(&mut self, help: impl Into<String>) -> &mut Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Render with a snippet of `source` (the text of `loc`'s file) when
    /// given, else as one `file:line:col: error: message` line plus help.
    pub fn render(&self, source: Option<&str>, color: bool) -> String {
        let snippet = match (&self.loc, source) {
            (Some(loc), Some(text)) if loc.line() > 0 => {
                snippet_range(text, loc.line(), loc.col()).map(|s| (loc, s))
            }
            _ => None,
        };
        let Some((loc, (line_start, byte_range, line_text))) = snippet else {
            return self.render_plain(color);
        };
        let level = match self.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let path = loc.path().display().to_string();
        let mut ann = AnnotationKind::Primary.span(byte_range);
        if let Some(label) = &self.label {
            ann = ann.label(label);
        }
        let mut report = vec![
            level.primary_title(&self.message).element(
                Snippet::source(line_text)
                    .line_start(line_start)
                    .path(&path)
                    .annotation(ann),
            ),
        ];
        if let Some(help) = &self.help {
            report.push(Group::with_title(Level::HELP.secondary_title(help)));
        }
        renderer.render(&report)
    }

    /// `file:line:col: error: message` and an indented help line, for
    /// problems without a snippet to show.
    fn render_plain(&self, color: bool) -> String {
        let (word, style) = match self.severity {
            Severity::Error => ("error", AnsiColor::BrightRed),
            Severity::Warning => ("warning", AnsiColor::BrightYellow),
        };
        let paint = |text: &str, style: Style| {
            if color {
                format!("{style}{text}{style:#}")
            } else {
                text.to_string()
            }
        };
        let bold = Style::new().bold();
        let mut out = String::new();
        if let Some(loc) = &self.loc {
            out.push_str(&format!("{loc}: "));
        }
        out.push_str(&paint(
            word,
            Style::new().fg_color(Some(style.into())).bold(),
        ));
        out.push_str(&paint(&format!(": {}", self.message), bold));
        if let Some(help) = &self.help {
            let cyan = Style::new()
                .fg_color(Some(AnsiColor::BrightCyan.into()))
                .bold();
            out.push_str(&format!("\n  {} {help}", paint("help:", cyan)));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match &self.loc {
            Some(loc) => write!(f, "{loc}: {kind}: {}", self.message)?,
            None => write!(f, "{kind}: {}", self.message)?,
        }
        if let Some(help) = &self.help {
            write!(f, " (help: {help})")?;
        }
        Ok(())
    }
}

/// The line holding `line:col` (1-based, col in characters), the byte range
/// of the token that starts there relative to that line, and the line's
/// number, for a one-line snippet.
pub(crate) fn snippet_range(
    text: &str,
    line: u32,
    col: u32,
) -> Option<(usize, std::ops::Range<usize>, &str)> {
    let line_text = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let col = usize::try_from(col).ok()?.max(1) - 1;
    let start = line_text
        .char_indices()
        .nth(col)
        .map(|(i, _)| i)
        .unwrap_or(line_text.len());
    let rest = &line_text[start..];
    let len = token_len(rest).max(1).min(rest.len().max(1));
    let end = (start + len).min(line_text.len()).max(start);
    Some((line as usize, start..end, line_text))
}

/// Length in bytes of the YAML token at the start of `s`: a quoted string,
/// or a plain scalar up to `: `, `,`, `]`, `}`, ` #` or the end of the line.
fn token_len(s: &str) -> usize {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, q @ ('"' | '\''))) => {
            for (i, c) in chars {
                if c == q {
                    return i + 1;
                }
            }
            s.len()
        }
        Some((_, '[' | '{' | '-' | '|' | '>')) => 1,
        Some(_) => {
            let bytes = s.as_bytes();
            let mut end = s.len();
            for (i, c) in s.char_indices() {
                let next = bytes.get(i + 1).copied();
                let stop = match c {
                    ':' => matches!(next, None | Some(b' ') | Some(b'\t')),
                    ',' | ']' | '}' => true,
                    '#' => i > 0 && bytes[i - 1] == b' ',
                    _ => false,
                };
                if stop {
                    end = i;
                    break;
                }
            }
            s[..end].trim_end().len()
        }
        None => 0,
    }
}

/// The closest of `candidates` to `word`, when it is close enough to be a
/// likely typo, for "did you mean" hints.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::Span;
    use std::path::PathBuf;
    use std::sync::Arc;

    #[test]
    fn renders_snippet_with_location() {
        let loc = Loc::new(&Arc::new(PathBuf::from("p.yml")), Span { line: 2, col: 3 });
        let d = Diagnostic::error("unknown key `stpes`", Some(loc))
            .with_label("not a job key")
            .with_help("did you mean `steps`?");
        let out = d.render(Some("jobs:\n  stpes: []\n"), false);
        assert!(out.contains("p.yml:2:3"), "{out}");
        assert!(out.contains("^^^^^"), "{out}");
        assert!(out.contains("did you mean `steps`?"), "{out}");
    }

    #[test]
    fn token_lengths() {
        assert_eq!(token_len("stpes: []"), 5);
        assert_eq!(token_len("\"a b\": 1"), 5);
        assert_eq!(token_len("http://x: y"), 8);
        assert_eq!(token_len("abc, d"), 3);
    }

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("stpes", &["steps", "stage"]), Some("steps"));
        assert_eq!(did_you_mean("zzz", &["steps", "stage"]), None);
    }
}
