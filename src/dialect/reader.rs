//! Typed, located reading of YAML nodes, shared by the dialect parsers.
//!
//! A [`Reader`] walks a [`Node`] tree and collects every problem it finds as
//! a [`Diagnostic`] pointing at the offending key or value, so one run of
//! `nestci validate` reports all the mistakes in a file, not just the first.
//! Methods return `None` after recording an error; callers carry on with the
//! rest of the document.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::diag::{Diagnostic, did_you_mean};
use crate::model::{Env, Loc, Located};
use crate::yaml::{Mapping, Node, Span, Value};

pub struct Reader {
    pub file: Arc<PathBuf>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Reader {
    pub fn new(file: Arc<PathBuf>) -> Self {
        Reader {
            file,
            diagnostics: Vec::new(),
        }
    }

    pub fn loc(&self, span: Span) -> Loc {
        Loc::new(&self.file, span)
    }

    pub fn located<T>(&self, value: T, span: Span) -> Located<T> {
        Located::new(value, self.loc(span))
    }

    pub fn error(&mut self, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        let d = Diagnostic::error(message, Some(self.loc(span)));
        self.diagnostics.push(d);
        let last = self.diagnostics.len() - 1;
        &mut self.diagnostics[last]
    }

    pub fn warning(&mut self, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        let d = Diagnostic::warning(message, Some(self.loc(span)));
        self.diagnostics.push(d);
        let last = self.diagnostics.len() - 1;
        &mut self.diagnostics[last]
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    fn type_error(&mut self, node: &Node, what: &str, expected: &str) {
        self.error(
            node.span,
            format!("{what} must be {expected}, found {}", node.value.kind()),
        )
        .set_label(format!("expected {expected}"));
    }

    /// Report every key of `map` not in `allowed`, with a suggestion.
    pub fn check_keys(&mut self, map: &Mapping, allowed: &[&str], context: &str) {
        self.check_keys_except(map, allowed, context, |_| false);
    }

    /// Like [`Reader::check_keys`], but keys for which `skip` is true are
    /// allowed too.
    pub fn check_keys_except(
        &mut self,
        map: &Mapping,
        allowed: &[&str],
        context: &str,
        skip: impl Fn(&str) -> bool,
    ) {
        for (key, _) in map.iter() {
            if allowed.contains(&key.name.as_str()) || skip(&key.name) {
                continue;
            }
            let help = match did_you_mean(&key.name, allowed) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("{context} accepts: {}", allowed.join(", ")),
            };
            self.error(key.span, format!("unknown key `{}` in {context}", key.name))
                .set_label("unknown key")
                .set_help(help);
        }
    }

    pub fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n Mapping> {
        match &node.value {
            Value::Map(m) => Some(m),
            _ => {
                self.type_error(node, what, "a mapping");
                None
            }
        }
    }

    pub fn seq<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(s) => Some(s),
            _ => {
                self.type_error(node, what, "a list");
                None
            }
        }
    }

    /// A string; numbers and booleans are accepted as their text, as CI
    /// files commonly write `version: 18` or `RUST: 1.80`.
    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match node.scalar_text() {
            Some(s) => Some(s),
            None => {
                self.type_error(node, what, "a string");
                None
            }
        }
    }

    /// A non-empty string.
    pub fn nonempty_string(&mut self, node: &Node, what: &str) -> Option<String> {
        let s = self.string(node, what)?;
        if s.trim().is_empty() {
            self.error(node.span, format!("{what} must not be empty"));
            return None;
        }
        Some(s)
    }

    pub fn located_string(&mut self, node: &Node, what: &str) -> Option<Located<String>> {
        let s = self.nonempty_string(node, what)?;
        Some(self.located(s, node.span))
    }

    pub fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.type_error(node, what, "true or false");
                None
            }
        }
    }

    pub fn located_bool(&mut self, node: &Node, what: &str) -> Option<Located<bool>> {
        let b = self.bool(node, what)?;
        Some(self.located(b, node.span))
    }

    pub fn uint(&mut self, node: &Node, what: &str, max: u64) -> Option<u64> {
        match node.value {
            Value::Int(i) if i >= 0 && (i as u64) <= max => Some(i as u64),
            Value::Int(i) => {
                self.error(
                    node.span,
                    format!("{what} must be between 0 and {max}, found {i}"),
                );
                None
            }
            _ => {
                self.type_error(node, what, "a whole number");
                None
            }
        }
    }

    /// A list of strings; a single string is accepted as a one-item list.
    pub fn string_list(&mut self, node: &Node, what: &str) -> Vec<Located<String>> {
        match &node.value {
            Value::Seq(items) => items
                .iter()
                .filter_map(|item| self.located_string(item, what))
                .collect(),
            Value::Str(_) => self.located_string(node, what).into_iter().collect(),
            _ => {
                self.type_error(node, what, "a list of strings");
                Vec::new()
            }
        }
    }

    /// One of a fixed set of words.
    pub fn choice<T>(
        &mut self,
        node: &Node,
        what: &str,
        names: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<Located<T>> {
        let s = self.string(node, what)?;
        match parse(&s) {
            Some(v) => Some(self.located(v, node.span)),
            None => {
                let help = match did_you_mean(&s, names) {
                    Some(m) => format!("did you mean `{m}`?"),
                    None => format!("use one of: {}", names.join(", ")),
                };
                self.error(node.span, format!("`{s}` is not a valid {what}"))
                    .set_help(help);
                None
            }
        }
    }

    /// A duration written with units: `90s`, `10m`, `1h 30m`.
    pub fn duration(&mut self, node: &Node, what: &str) -> Option<Located<Duration>> {
        let text = match &node.value {
            Value::Str(s) => s.clone(),
            Value::Int(_) | Value::Float(_) => {
                self.error(node.span, format!("{what} needs a unit"))
                    .set_help("write a duration with a unit, e.g. `90s`, `10m` or `1h 30m`");
                return None;
            }
            _ => {
                self.type_error(node, what, "a duration such as `10m`");
                return None;
            }
        };
        match parse_duration(&text) {
            Ok(d) if d.is_zero() => {
                self.error(node.span, format!("{what} must be longer than zero"));
                None
            }
            Ok(d) => Some(self.located(d, node.span)),
            Err(e) => {
                self.error(node.span, format!("`{text}` is not a valid duration: {e}"))
                    .set_help("write a duration with a unit, e.g. `90s`, `10m` or `1h 30m`");
                None
            }
        }
    }

    /// A size in bytes: `512M`, `1G`, `256MiB`, `1048576`.
    pub fn size(&mut self, node: &Node, what: &str) -> Option<Located<u64>> {
        let parsed = match &node.value {
            Value::Int(i) if *i > 0 => Ok(*i as u64),
            Value::Str(s) => parse_size(s),
            _ => Err(format!(
                "expected a size such as `512M`, found {}",
                node.value.kind()
            )),
        };
        match parsed {
            Ok(n) => Some(self.located(n, node.span)),
            Err(e) => {
                self.error(node.span, format!("{what}: {e}"))
                    .set_help("write a size such as `512M`, `2G` or `256MiB`");
                None
            }
        }
    }

    /// `p` when it is a path inside the workspace (relative, without
    /// `..`), as artifact and cache paths must be; else an error.
    pub fn workspace_path(&mut self, p: Located<String>) -> Option<Located<String>> {
        let path = std::path::Path::new(&p.value);
        let escapes = path.is_absolute()
            || path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir));
        if escapes {
            self.diagnostics.push(
                Diagnostic::error(
                    format!("path `{}` leaves the workspace", p.value),
                    Some(p.loc.clone()),
                )
                .with_help("use a path relative to the workspace, without `..`"),
            );
            return None;
        }
        Some(p)
    }

    /// A mapping of variable names to scalar values.
    pub fn env(&mut self, node: &Node, what: &str) -> Env {
        let mut env = Env::new();
        let Some(map) = self.map(node, what) else {
            return env;
        };
        for (key, value) in map.iter() {
            if !is_env_name(&key.name) {
                self.error(
                    key.span,
                    format!("`{}` is not a valid variable name", key.name),
                )
                .set_help(
                    "variable names use letters, digits and `_`, and do not start with a digit",
                );
                continue;
            }
            let text = match &value.value {
                Value::Null => Some(String::new()),
                _ => self.string(value, &format!("the value of `{}`", key.name)),
            };
            if let Some(text) = text {
                env.set(key.name.clone(), text, Some(self.loc(key.span)));
            }
        }
        env
    }
}

pub fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Parse `90s`, `10m`, `1h30m`, `1h 30m`, `2 hours`. A bare number has no
/// unit and is refused: "10" could mean seconds or minutes.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("it is empty".into());
    }
    if t.chars().all(|c| c.is_ascii_digit()) {
        return Err("it has no unit".into());
    }
    humantime::parse_duration(t).map_err(|e| e.to_string())
}

/// Parse a byte size with an optional binary unit (K, M, G, T; `KiB`, `KB`,
/// `k`, ... all mean powers of 1024, as Docker reads `--memory`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("`{text}` is not a size"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => return Err(format!("`{other}` is not a size unit")),
    };
    let bytes = value * mult as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("`{text}` is out of range"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("10 parsecs").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn env_names() {
        assert!(is_env_name("RUST_1"));
        assert!(!is_env_name("1RUST"));
        assert!(!is_env_name("A-B"));
    }
}
