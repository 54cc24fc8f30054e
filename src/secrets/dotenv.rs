//! The dotenv format of `--secret-file`, as act and docker compose read
//! it: one `KEY=VALUE` per line, `#` comments and blank lines ignored, an
//! optional `export ` prefix, values bare, in 'single' quotes (taken as
//! written) or in "double" quotes (with `\n`, `\t`, `\"` and `\\`
//! escapes). A bare value ends at ` #` (a trailing comment) and is
//! trimmed.
//!
//! Written here rather than taken from the `dotenvy` crate: that crate's
//! errors carry the failing line's text but not its number, and a bad
//! line must be reported as `file:line` with what to do.

use std::path::{Path, PathBuf};

/// A line of a secret file that is not `KEY=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {message}", file.display())]
pub struct DotenvError {
    pub file: PathBuf,
    /// 1-based; 0 when the file could not be read at all.
    pub line: usize,
    pub message: String,
}

/// Read the dotenv file at `path`.
pub fn read_dotenv(path: &Path) -> Result<Vec<(String, String)>, DotenvError> {
    let text = std::fs::read_to_string(path).map_err(|e| DotenvError {
        file: path.to_path_buf(),
        line: 0,
        message: format!("cannot read the secret file: {e}"),
    })?;
    parse_dotenv(path, &text)
}

/// Parse dotenv `text` read from `file` (named in errors). Later lines
/// win over earlier ones with the same key, as in a shell.
pub fn parse_dotenv(file: &Path, text: &str) -> Result<Vec<(String, String)>, DotenvError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let error = |message: String| DotenvError {
            file: file.to_path_buf(),
            line: i + 1,
            message,
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, rest)) = line.split_once('=') else {
            return Err(error(format!(
                "`{}` is not KEY=VALUE; write one secret per line, e.g. `API_TOKEN=abc123`",
                shorten(line)
            )));
        };
        let key = key.trim();
        if !crate::dialect::reader::is_env_name(key) {
            return Err(error(format!(
                "`{key}` is not a valid name; use letters, digits and `_`, not starting with a digit"
            )));
        }
        let value = value(rest.trim_start()).map_err(error)?;
        out.retain(|(k, _)| k != key);
        out.push((key.to_string(), value));
    }
    Ok(out)
}

/// The value after `=`: quoted or bare.
fn value(rest: &str) -> Result<String, String> {
    let mut chars = rest.chars();
    match chars.next() {
        Some(q @ ('"' | '\'')) => {
            let mut out = String::new();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    c if c == q => {
                        closed = true;
                        break;
                    }
                    '\\' if q == '"' => match chars.next() {
                        Some('n') => out.push('\n'),
                        Some('t') => out.push('\t'),
                        Some('r') => out.push('\r'),
                        Some(c @ ('"' | '\\' | '$')) => out.push(c),
                        Some(c) => {
                            out.push('\\');
                            out.push(c);
                        }
                        None => break,
                    },
                    c => out.push(c),
                }
            }
            if !closed {
                return Err(format!(
                    "the value's {q} is not closed on this line; close it (write a line break as \\n inside double quotes)"
                ));
            }
            let after = chars.as_str().trim();
            if !after.is_empty() && !after.starts_with('#') {
                return Err(format!(
                    "unexpected `{}` after the quoted value; quote the whole value",
                    shorten(after)
                ));
            }
            Ok(out)
        }
        _ => {
            let bare = match rest.find(" #") {
                Some(at) => &rest[..at],
                None => rest,
            };
            Ok(bare.trim().to_string())
        }
    }
}

/// A line cut for an error message (it may hold a secret: show little).
fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(20).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<(String, String)>, DotenvError> {
        parse_dotenv(Path::new("s.env"), text)
    }

    fn pairs(text: &str) -> Vec<(String, String)> {
        match parse(text) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn keys_values_comments_and_export() {
        let text = "# a comment\n\nA=1\nexport B = two words \nC=x # note\nD=a#b\nE=\n";
        assert_eq!(
            pairs(text),
            [
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x".into()),
                ("D".into(), "a#b".into()),
                ("E".into(), String::new()),
            ]
        );
    }

    #[test]
    fn quotes_and_escapes() {
        let text = "S='a \\n $b' # c\nD=\"line1\\nline2 \\\"q\\\" \\\\\"\nH=\"x#y\"\n";
        assert_eq!(
            pairs(text),
            [
                ("S".into(), "a \\n $b".into()),
                ("D".into(), "line1\nline2 \"q\" \\".into()),
                ("H".into(), "x#y".into()),
            ]
        );
    }

    #[test]
    fn later_lines_win() {
        assert_eq!(pairs("A=1\nA=2\n"), [("A".into(), "2".into())]);
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let e = parse("A=1\n\njust-a-value\n").err();
        assert_eq!(e.as_ref().map(|e| e.line), Some(3));
        let text = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.starts_with("s.env:3: `just-a-value` is not KEY=VALUE"),
            "{text}"
        );

        let e = parse("1A=x\n").err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                "s.env:1: `1A` is not a valid name; use letters, digits and `_`, not starting with a digit"
            )
        );
        let e = parse("A=ok\nB=\"open\n").err();
        assert_eq!(e.as_ref().map(|e| e.line), Some(2));
        assert!(e.is_some_and(|e| e.message.contains("not closed")));
        let e = parse("A='x' y\n").err();
        assert!(e.is_some_and(|e| e.message.starts_with("unexpected `y`")));
    }
}
