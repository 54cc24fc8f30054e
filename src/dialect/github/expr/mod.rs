//! GitHub Actions expressions: `${{ ... }}`.
//!
//! A real parser and evaluator, in three parts:
//!
//! - [`lexer`]: tokens with columns (literals `null`, `true`, `false`,
//!   numbers incl. `0xff` and `1e3`, `'strings'` with `''` escapes);
//! - [`parser`]: GitHub's precedence, loosest first `||`, `&&`,
//!   `==`/`!=`, `<`/`<=`/`>`/`>=`, `!`, then property access (`a.b`,
//!   `a['b']`, `a.*.b` filters), calls and grouping;
//! - [`eval`] with [`value`]: GitHub's truthiness and loose-equality
//!   coercion, `&&`/`||` returning an operand, and the functions
//!   `contains`, `startsWith`, `endsWith`, `format`, `join`, `toJSON`,
//!   `fromJSON`, `hashFiles`, `success`, `failure`, `always`, `cancelled`.
//!
//! Values are JSON values ([`serde_json::Value`]), as GitHub's are, so
//! contexts such as `github.event` are just a parsed payload.
//!
//! [`interpolate`] replaces every `${{ }}` in a string; [`condition`]
//! evaluates an `if:`, adding GitHub's implicit `success() &&` when the
//! condition names no status function.

mod eval;
mod lexer;
mod parser;
mod value;

pub use lexer::parse_number;
pub use parser::{CONTEXTS, Expr};
pub use value::{loose_eq, number, to_string, truthy};

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// A malformed expression or a failed evaluation. `column` counts
/// characters from 1 in the expression's text (0 when it is about the
/// whole expression, for errors found while evaluating).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub column: usize,
    pub message: String,
}

impl ExprError {
    fn new(column: usize, message: impl Into<String>) -> Self {
        ExprError {
            column,
            message: message.into(),
        }
    }
}

/// How the job's steps have gone so far, for the status functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobStatus {
    #[default]
    Success,
    Failure,
    Cancelled,
}

/// What an expression can see.
#[derive(Debug, Clone, Default)]
pub struct Contexts {
    /// `github`, `env`, `matrix`, ... by (lower-case) name.
    pub values: Map<String, Value>,
    pub status: JobStatus,
    /// Where `hashFiles` looks; without one it returns `""`.
    pub workspace: Option<PathBuf>,
}

impl Contexts {
    /// Set a context (`github`, `env`, ...).
    pub fn set(&mut self, name: &str, value: Value) {
        self.values.insert(name.to_ascii_lowercase(), value);
    }
}

/// A parsed expression.
#[derive(Debug, Clone)]
pub struct Expression {
    expr: Expr,
    /// The status functions it calls (`success()`, ...), for `if:`.
    pub uses_status: bool,
}

impl Expression {
    pub fn parse(src: &str) -> Result<Expression, ExprError> {
        let tokens = lexer::lex(src)?;
        let mut p = parser::Parser {
            tokens,
            pos: 0,
            depth: 0,
        };
        let expr = p.expression()?;
        let (t, col) = p.peek().clone();
        if t != lexer::Token::End {
            return Err(ExprError::new(
                col,
                format!("expected an operator or the end of the expression, found {t}"),
            ));
        }
        let uses_status = calls_status(&expr);
        Ok(Expression { expr, uses_status })
    }

    pub fn eval(&self, cx: &Contexts) -> Result<Value, ExprError> {
        eval::eval(&self.expr, cx)
    }

    /// The contexts it reads, each with the property read from it when
    /// that is a plain name: `steps.build.outputs.v` gives
    /// `("steps", Some("build"))`, `toJSON(steps)` gives `("steps", None)`.
    pub fn references(&self) -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        references(&self.expr, &mut out);
        out
    }
}

fn references(e: &Expr, out: &mut Vec<(String, Option<String>)>) {
    match e {
        Expr::Context(c) => out.push((c.clone(), None)),
        Expr::Property(inner, name) => match &**inner {
            Expr::Context(c) => out.push((c.clone(), Some(name.clone()))),
            other => references(other, out),
        },
        Expr::Index(inner, index) => {
            match (&**inner, &**index) {
                (Expr::Context(c), Expr::Literal(Value::String(name))) => {
                    out.push((c.clone(), Some(name.clone())))
                }
                (other, _) => references(other, out),
            }
            references(index, out);
        }
        Expr::Star(a) | Expr::Not(a) => references(a, out),
        Expr::Compare(_, a, b) | Expr::And(a, b) | Expr::Or(a, b) => {
            references(a, out);
            references(b, out);
        }
        Expr::Call(_, args) => args.iter().for_each(|a| references(a, out)),
        Expr::Literal(_) => {}
    }
}

/// The contexts read by the `${{ }}` placeholders of `text` (see
/// [`Expression::references`]).
pub fn text_references(text: &str) -> Result<Vec<(String, Option<String>)>, ExprError> {
    let mut out = Vec::new();
    for (_, _, inner) in placeholders(text)? {
        out.extend(Expression::parse(inner)?.references());
    }
    Ok(out)
}

/// The contexts read by an `if:` condition.
pub fn condition_references(src: &str) -> Result<Vec<(String, Option<String>)>, ExprError> {
    Ok(Expression::parse(condition_text(src))?.references())
}

fn calls_status(e: &Expr) -> bool {
    match e {
        Expr::Call(name, args) => {
            matches!(
                name.as_str(),
                "success" | "failure" | "always" | "cancelled"
            ) || args.iter().any(calls_status)
        }
        Expr::Property(a, _) | Expr::Star(a) | Expr::Not(a) => calls_status(a),
        Expr::Index(a, b) | Expr::Compare(_, a, b) | Expr::And(a, b) | Expr::Or(a, b) => {
            calls_status(a) || calls_status(b)
        }
        Expr::Literal(_) | Expr::Context(_) => false,
    }
}

/// Parse and evaluate `src` once.
pub fn evaluate(src: &str, cx: &Contexts) -> Result<Value, ExprError> {
    Expression::parse(src)?.eval(cx)
}

/// The text of an `if:`: with or without `${{ }}` around it.
pub fn condition_text(src: &str) -> &str {
    let t = src.trim();
    match t.strip_prefix("${{").and_then(|r| r.strip_suffix("}}")) {
        Some(inner) if !inner.contains("${{") => inner.trim(),
        _ => t,
    }
}

/// Evaluate an `if:` as GitHub does: without a status function it means
/// `success() && (condition)`.
pub fn condition(src: &str, cx: &Contexts) -> Result<bool, ExprError> {
    let e = Expression::parse(condition_text(src))?;
    if !e.uses_status && cx.status != JobStatus::Success {
        return Ok(false);
    }
    Ok(truthy(&e.eval(cx)?))
}

/// Where each `${{ }}` in `text` is: (start of `${{`, end after `}}`,
/// the expression inside). Quotes inside an expression may hold `}}`.
pub fn placeholders(text: &str) -> Result<Vec<(usize, usize, &str)>, ExprError> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(rel) = text[from..].find("${{") {
        let start = from + rel;
        let body = start + 3;
        let mut in_string = false;
        let mut end = None;
        let bytes = text.as_bytes();
        let mut i = body;
        while i < bytes.len() {
            match bytes[i] {
                b'\'' => in_string = !in_string,
                b'}' if !in_string && bytes.get(i + 1) == Some(&b'}') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        let Some(end) = end else {
            return Err(ExprError::new(
                text[..start].chars().count() + 1,
                "`${{` is not closed by `}}`",
            ));
        };
        out.push((start, end + 2, text[body..end].trim()));
        from = end + 2;
    }
    Ok(out)
}

/// Replace every `${{ expr }}` in `text` by its value as a string.
pub fn interpolate(text: &str, cx: &Contexts) -> Result<String, ExprError> {
    interpolate_keeping(text, cx, &[])
}

/// Like [`interpolate`], but a placeholder that reads one of the contexts
/// in `keep` stays as written: what `nestci list` shows for a value that
/// is only known at run time.
pub fn interpolate_keeping(text: &str, cx: &Contexts, keep: &[&str]) -> Result<String, ExprError> {
    let spots = placeholders(text)?;
    if spots.is_empty() {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end, inner) in spots {
        out.push_str(&text[last..start]);
        let e = Expression::parse(inner)?;
        if !keep.is_empty()
            && e.references()
                .iter()
                .any(|(c, _)| keep.contains(&c.as_str()))
        {
            out.push_str(&text[start..end]);
        } else {
            out.push_str(&to_string(&e.eval(cx)?));
        }
        last = end;
    }
    out.push_str(&text[last..]);
    Ok(out)
}

/// `hashFiles(patterns)`: SHA-256 over the SHA-256 of every matching file
/// in the workspace, in path order; `""` when nothing matches. A pattern
/// starting with `!` excludes.
pub fn hash_files(workspace: Option<&Path>, patterns: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let Some(root) = workspace else {
        return String::new();
    };
    let mut files = Vec::new();
    for p in patterns.iter().filter(|p| !p.starts_with('!')) {
        let full = root.join(p.trim_start_matches("./"));
        if let Ok(paths) = glob::glob(&full.to_string_lossy()) {
            files.extend(paths.filter_map(Result::ok).filter(|f| f.is_file()));
        }
    }
    let excluded: Vec<glob::Pattern> = patterns
        .iter()
        .filter_map(|p| p.strip_prefix('!'))
        .filter_map(|p| glob::Pattern::new(&root.join(p).to_string_lossy()).ok())
        .collect();
    files.retain(|f| !excluded.iter().any(|e| e.matches_path(f)));
    files.sort();
    files.dedup();
    if files.is_empty() {
        return String::new();
    }
    let mut outer = Sha256::new();
    for f in files {
        if let Ok(bytes) = std::fs::read(&f) {
            outer.update(Sha256::digest(&bytes));
        }
    }
    outer
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests;
