//! The `if:` condition language: parse once, evaluate against variables.
//!
//! This is the expression language of GitLab's `rules: - if:`, which the
//! native dialect uses for a job's `if:` too. A condition is small:
//!
//! ```text
//! $CI_COMMIT_BRANCH == "main" && ($DEPLOY || $FORCE != null)
//! $CI_COMMIT_TAG =~ /^v\d+/i
//! !$SKIP_TESTS
//! ```
//!
//! # The language
//!
//! | form                      | meaning                                              |
//! |---------------------------|------------------------------------------------------|
//! | `$VAR`, `${VAR}`          | the variable's value; an unset variable is `null`     |
//! | `'text'`, `"text"`        | a string (`\'`, `\"` and `\\` escape inside)          |
//! | `null`                    | no value                                             |
//! | `a == b`, `a != b`        | equality; `null` equals only `null`                  |
//! | `a =~ /re/i`, `a !~ /re/` | regex search (unanchored); flags `i`, `m`, `s`, `x`  |
//! | `!e`                      | negation                                             |
//! | `e && e`, `e \|\| e`      | `&&` binds tighter than `\|\|`                       |
//! | `( e )`                   | grouping                                             |
//!
//! An operand on its own is a truth test: a variable is true when it is set
//! and not empty, a string when it is not empty, `null` never. The right
//! side of `=~` may also be a variable or a string (GitLab 15.x): its value
//! is the pattern, written with or without the surrounding `/.../flags`.
//! `null =~ /x/` is false and `null !~ /x/` is true.
//!
//! `!` binds looser than a comparison, so `!$A == 'x'` means
//! `!($A == 'x')`.
//!
//! # How it is built
//!
//! Three small stages, each in a few dozen lines, so each is easy to check:
//!
//! 1. [`lex`] turns the text into [`Token`]s, each with the 1-based column
//!    where it starts, so every error can point at a character;
//! 2. a recursive-descent [`Parser`] builds an [`Expr`] tree, one function
//!    per precedence level (`or` → `and` → `not` → `comparison`), and
//!    compiles regex literals right away so a bad pattern is a parse error;
//! 3. [`Condition::eval`] walks the tree with a lookup function for
//!    variables. Evaluation can only fail when a pattern comes from a
//!    variable and does not compile.
//!
//! Parse a condition once ([`Condition::parse`]) and evaluate it for many
//! jobs: that is what the planner does for the jobs of a matrix, which
//! share one `if:` text.

use std::fmt;

use regex::{Regex, RegexBuilder};

use crate::model::Env;

/// A malformed condition, or one whose pattern did not compile.
///
/// `column` counts characters from 1 in the condition's text; it is the
/// position of the token that is wrong, or one past the end when the text
/// stopped too early.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ConditionError {
    pub column: usize,
    pub message: String,
}

impl ConditionError {
    fn new(column: usize, message: impl Into<String>) -> Self {
        ConditionError {
            column,
            message: message.into(),
        }
    }
}

/// A parsed condition, ready to evaluate any number of times.
#[derive(Debug, Clone)]
pub struct Condition {
    source: String,
    expr: Expr,
}

impl Condition {
    /// Parse `source`. Regex literals are compiled here, so an invalid one
    /// is reported now, at its column.
    pub fn parse(source: &str) -> Result<Condition, ConditionError> {
        let tokens = lex(source)?;
        let mut parser = Parser { tokens, pos: 0 };
        let expr = parser.expression()?;
        match parser.peek() {
            (Token::End, _) => {}
            (Token::RParen, col) => {
                return Err(ConditionError::new(col, "unmatched `)`"));
            }
            (tok, col) => {
                return Err(ConditionError::new(
                    col,
                    format!("expected `&&`, `||` or the end of the condition, found {tok}"),
                ));
            }
        }
        Ok(Condition {
            source: source.to_string(),
            expr,
        })
    }

    /// The text the condition was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluate with `lookup` giving each variable's value (`None`: unset).
    pub fn eval<'v>(
        &self,
        lookup: &dyn Fn(&str) -> Option<&'v str>,
    ) -> Result<bool, ConditionError> {
        eval(&self.expr, lookup)
    }

    /// Evaluate against `env`.
    pub fn eval_env(&self, env: &Env) -> Result<bool, ConditionError> {
        self.eval(&|name| env.get(name))
    }
}

/// Parse and evaluate in one go, for one-off checks.
pub fn evaluate<'v>(
    source: &str,
    lookup: &dyn Fn(&str) -> Option<&'v str>,
) -> Result<bool, ConditionError> {
    Condition::parse(source)?.eval(lookup)
}

// ---------------------------------------------------------------------------
// Tokens

/// One lexical unit of a condition.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Var(String),
    Str(String),
    Null,
    /// `/pattern/flags`, as written between the slashes.
    Regex {
        pattern: String,
        flags: String,
    },
    Eq,
    Ne,
    Match,
    NoMatch,
    And,
    Or,
    Not,
    LParen,
    RParen,
    End,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Var(name) => write!(f, "`${name}`"),
            Token::Str(s) => write!(f, "the string {s:?}"),
            Token::Null => write!(f, "`null`"),
            Token::Regex { pattern, flags } => write!(f, "the pattern `/{pattern}/{flags}`"),
            Token::Eq => write!(f, "`==`"),
            Token::Ne => write!(f, "`!=`"),
            Token::Match => write!(f, "`=~`"),
            Token::NoMatch => write!(f, "`!~`"),
            Token::And => write!(f, "`&&`"),
            Token::Or => write!(f, "`||`"),
            Token::Not => write!(f, "`!`"),
            Token::LParen => write!(f, "`(`"),
            Token::RParen => write!(f, "`)`"),
            Token::End => write!(f, "the end of the condition"),
        }
    }
}

/// Split `src` into tokens, each paired with its 1-based column. The list
/// always ends with [`Token::End`] at one past the last character.
fn lex(src: &str) -> Result<Vec<(Token, usize)>, ConditionError> {
    let chars: Vec<char> = src.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        let next = chars.get(i + 1).copied();
        let two = |tok: Token, tokens: &mut Vec<(Token, usize)>| {
            tokens.push((tok, col));
            2
        };
        let advance = match (c, next) {
            (c, _) if c.is_whitespace() => 1,
            ('=', Some('=')) => two(Token::Eq, &mut tokens),
            ('=', Some('~')) => two(Token::Match, &mut tokens),
            ('!', Some('=')) => two(Token::Ne, &mut tokens),
            ('!', Some('~')) => two(Token::NoMatch, &mut tokens),
            ('&', Some('&')) => two(Token::And, &mut tokens),
            ('|', Some('|')) => two(Token::Or, &mut tokens),
            ('=', _) => return Err(ConditionError::new(col, "`=` alone: did you mean `==`?")),
            ('&', _) => return Err(ConditionError::new(col, "`&` alone: did you mean `&&`?")),
            ('|', _) => return Err(ConditionError::new(col, "`|` alone: did you mean `||`?")),
            ('!', _) => {
                tokens.push((Token::Not, col));
                1
            }
            ('(', _) => {
                tokens.push((Token::LParen, col));
                1
            }
            (')', _) => {
                tokens.push((Token::RParen, col));
                1
            }
            ('$', _) => {
                let (name, len) = lex_var(&chars[i..], col)?;
                tokens.push((Token::Var(name), col));
                len
            }
            ('\'' | '"', _) => {
                let (s, len) = lex_string(&chars[i..], col)?;
                tokens.push((Token::Str(s), col));
                len
            }
            ('/', _) => {
                let (pattern, flags, len) = lex_regex(&chars[i..], col)?;
                tokens.push((Token::Regex { pattern, flags }, col));
                len
            }
            (c, _) if c.is_ascii_alphabetic() => {
                let len = chars[i..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                    .count();
                let word: String = chars[i..i + len].iter().collect();
                if word == "null" {
                    tokens.push((Token::Null, col));
                    len
                } else {
                    return Err(ConditionError::new(
                        col,
                        format!(
                            "unexpected word `{word}`: variables start with `$` and strings are quoted"
                        ),
                    ));
                }
            }
            (c, _) => {
                return Err(ConditionError::new(
                    col,
                    format!("unexpected character `{c}`"),
                ));
            }
        };
        i += advance;
    }
    tokens.push((Token::End, chars.len() + 1));
    Ok(tokens)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `$NAME` or `${NAME}` at the start of `s` (which starts with `$`): the
/// name and how many characters were used.
fn lex_var(s: &[char], col: usize) -> Result<(String, usize), ConditionError> {
    if s.get(1) == Some(&'{') {
        let name_len = s[2..].iter().take_while(|c| is_name_char(**c)).count();
        let close = 2 + name_len;
        if name_len == 0 || !s.get(2).copied().is_some_and(is_name_start) {
            return Err(ConditionError::new(
                col + 2,
                "expected a variable name after `${`",
            ));
        }
        if s.get(close) != Some(&'}') {
            return Err(ConditionError::new(
                col + close,
                "expected `}` to close `${`",
            ));
        }
        Ok((s[2..close].iter().collect(), close + 1))
    } else {
        if !s.get(1).copied().is_some_and(is_name_start) {
            return Err(ConditionError::new(
                col,
                "expected a variable name after `$`",
            ));
        }
        let len = 1 + s[1..].iter().take_while(|c| is_name_char(**c)).count();
        Ok((s[1..len].iter().collect(), len))
    }
}

/// A quoted string at the start of `s`: its value and its length in
/// characters, quotes included.
fn lex_string(s: &[char], col: usize) -> Result<(String, usize), ConditionError> {
    let quote = s[0];
    let mut value = String::new();
    let mut i = 1;
    while let Some(&c) = s.get(i) {
        match c {
            '\\' if matches!(s.get(i + 1), Some(&n) if n == quote || n == '\\') => {
                value.push(s[i + 1]);
                i += 2;
            }
            c if c == quote => return Ok((value, i + 1)),
            c => {
                value.push(c);
                i += 1;
            }
        }
    }
    Err(ConditionError::new(
        col,
        format!("this string has no closing {quote}"),
    ))
}

/// A `/pattern/flags` literal at the start of `s`. `\/` inside stands for
/// a slash; every other backslash is kept for the regex engine.
fn lex_regex(s: &[char], col: usize) -> Result<(String, String, usize), ConditionError> {
    let mut pattern = String::new();
    let mut i = 1;
    loop {
        match s.get(i) {
            None => {
                return Err(ConditionError::new(col, "this pattern has no closing `/`"));
            }
            Some('\\') if s.get(i + 1) == Some(&'/') => {
                pattern.push('/');
                i += 2;
            }
            Some('\\') => {
                pattern.push('\\');
                if let Some(&n) = s.get(i + 1) {
                    pattern.push(n);
                }
                i += 2;
            }
            Some('/') => break,
            Some(&c) => {
                pattern.push(c);
                i += 1;
            }
        }
    }
    i += 1;
    let flags_len = s[i..]
        .iter()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let flags: String = s[i..i + flags_len].iter().collect();
    Ok((pattern, flags, i + flags_len))
}

// ---------------------------------------------------------------------------
// Syntax tree and parser

/// A value in a condition: a variable, a literal or `null`.
#[derive(Debug, Clone)]
enum Operand {
    Var(String),
    Str(String),
    Null,
}

/// The right side of `=~` / `!~`.
#[derive(Debug, Clone)]
enum Pattern {
    /// A literal, compiled at parse time.
    Literal(Regex),
    /// A variable or string whose value is the pattern, compiled when
    /// evaluated; `col` is where it was written, for errors.
    Dynamic { operand: Operand, col: usize },
}

#[derive(Debug, Clone)]
enum Expr {
    /// An operand on its own: true when it has a non-empty value.
    Truthy(Operand),
    Eq(Operand, Operand),
    Ne(Operand, Operand),
    Match(Operand, Pattern),
    NoMatch(Operand, Pattern),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// Recursive descent over the token list, one method per precedence level.
struct Parser {
    tokens: Vec<(Token, usize)>,
    pos: usize,
}

impl Parser {
    /// The current token and its column. The list ends with `End`, and the
    /// parser never moves past it, so there is always one.
    fn peek(&self) -> (&Token, usize) {
        match self.tokens.get(self.pos).or(self.tokens.last()) {
            Some((tok, col)) => (tok, *col),
            None => (&Token::End, 1),
        }
    }

    fn bump(&mut self) -> (Token, usize) {
        let (tok, col) = self.peek();
        let out = (tok.clone(), col);
        if self.pos < self.tokens.len().saturating_sub(1) {
            self.pos += 1;
        }
        out
    }

    /// `expression := and ('||' and)*`
    fn expression(&mut self) -> Result<Expr, ConditionError> {
        if let (Token::End, col) = self.peek() {
            return Err(ConditionError::new(col, "the condition is empty"));
        }
        let mut left = self.and()?;
        while let (Token::Or, _) = self.peek() {
            self.bump();
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// `and := not ('&&' not)*`
    fn and(&mut self) -> Result<Expr, ConditionError> {
        let mut left = self.not()?;
        while let (Token::And, _) = self.peek() {
            self.bump();
            let right = self.not()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// `not := '!' not | '(' expression ')' | comparison`
    fn not(&mut self) -> Result<Expr, ConditionError> {
        match self.peek() {
            (Token::Not, _) => {
                self.bump();
                Ok(Expr::Not(Box::new(self.not()?)))
            }
            (Token::LParen, open) => {
                self.bump();
                let inner = self.expression()?;
                match self.bump() {
                    (Token::RParen, _) => Ok(inner),
                    (tok, col) => Err(ConditionError::new(
                        col,
                        format!("expected `)` to close the `(` at column {open}, found {tok}"),
                    )),
                }
            }
            _ => self.comparison(),
        }
    }

    /// `comparison := operand (('==' | '!=') operand | ('=~' | '!~') pattern)?`
    fn comparison(&mut self) -> Result<Expr, ConditionError> {
        let left = self.operand()?;
        let expr = match self.peek().0 {
            Token::Eq => {
                self.bump();
                Expr::Eq(left, self.operand()?)
            }
            Token::Ne => {
                self.bump();
                Expr::Ne(left, self.operand()?)
            }
            Token::Match => {
                self.bump();
                Expr::Match(left, self.pattern()?)
            }
            Token::NoMatch => {
                self.bump();
                Expr::NoMatch(left, self.pattern()?)
            }
            _ => Expr::Truthy(left),
        };
        Ok(expr)
    }

    fn operand(&mut self) -> Result<Operand, ConditionError> {
        match self.bump() {
            (Token::Var(name), _) => Ok(Operand::Var(name)),
            (Token::Str(s), _) => Ok(Operand::Str(s)),
            (Token::Null, _) => Ok(Operand::Null),
            (Token::Regex { .. }, col) => Err(ConditionError::new(
                col,
                "a pattern can only follow `=~` or `!~`",
            )),
            (tok, col) => Err(ConditionError::new(
                col,
                format!("expected a variable, a string or `null`, found {tok}"),
            )),
        }
    }

    fn pattern(&mut self) -> Result<Pattern, ConditionError> {
        match self.bump() {
            (Token::Regex { pattern, flags }, col) => {
                Ok(Pattern::Literal(compile(&pattern, &flags, col)?))
            }
            (Token::Var(name), col) => Ok(Pattern::Dynamic {
                operand: Operand::Var(name),
                col,
            }),
            (Token::Str(s), col) => Ok(Pattern::Dynamic {
                operand: Operand::Str(s),
                col,
            }),
            (tok, col) => Err(ConditionError::new(
                col,
                format!("expected a pattern such as `/^main$/`, found {tok}"),
            )),
        }
    }
}

/// Compile `pattern` with GitLab-style `flags`.
fn compile(pattern: &str, flags: &str, col: usize) -> Result<Regex, ConditionError> {
    let mut builder = RegexBuilder::new(pattern);
    for flag in flags.chars() {
        match flag {
            'i' => builder.case_insensitive(true),
            'm' => builder.multi_line(true),
            's' => builder.dot_matches_new_line(true),
            'x' => builder.ignore_whitespace(true),
            other => {
                return Err(ConditionError::new(
                    col,
                    format!("unknown pattern flag `{other}` (known: i, m, s, x)"),
                ));
            }
        };
    }
    builder.build().map_err(|e| {
        // The regex crate's message spans several lines with its own
        // caret; its last line says what is wrong.
        let text = e.to_string();
        let why = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("invalid pattern")
            .trim()
            .trim_start_matches("error: ");
        ConditionError::new(col, format!("invalid pattern `/{pattern}/`: {why}"))
    })
}

// ---------------------------------------------------------------------------
// Evaluation

fn value<'a>(op: &'a Operand, lookup: &dyn Fn(&str) -> Option<&'a str>) -> Option<&'a str> {
    match op {
        Operand::Var(name) => lookup(name),
        Operand::Str(s) => Some(s),
        Operand::Null => None,
    }
}

fn eval<'v>(expr: &Expr, lookup: &dyn Fn(&str) -> Option<&'v str>) -> Result<bool, ConditionError> {
    // Narrow the lookup's lifetime to this call so that operands owned by
    // the tree and values owned by the caller share one lifetime.
    fn go<'a>(
        expr: &'a Expr,
        lookup: &dyn Fn(&str) -> Option<&'a str>,
    ) -> Result<bool, ConditionError> {
        Ok(match expr {
            Expr::Truthy(op) => value(op, lookup).is_some_and(|v| !v.is_empty()),
            Expr::Eq(a, b) => value(a, lookup) == value(b, lookup),
            Expr::Ne(a, b) => value(a, lookup) != value(b, lookup),
            Expr::Match(a, p) => matches(value(a, lookup), p, lookup)?,
            Expr::NoMatch(a, p) => !matches(value(a, lookup), p, lookup)?,
            Expr::Not(e) => !go(e, lookup)?,
            Expr::And(a, b) => go(a, lookup)? && go(b, lookup)?,
            Expr::Or(a, b) => go(a, lookup)? || go(b, lookup)?,
        })
    }
    go(expr, &|name| lookup(name))
}

/// Whether `subject` matches `pattern`; `null` matches nothing.
fn matches<'a>(
    subject: Option<&'a str>,
    pattern: &'a Pattern,
    lookup: &dyn Fn(&str) -> Option<&'a str>,
) -> Result<bool, ConditionError> {
    let Some(subject) = subject else {
        return Ok(false);
    };
    match pattern {
        Pattern::Literal(re) => Ok(re.is_match(subject)),
        Pattern::Dynamic { operand, col } => {
            let Some(text) = value(operand, lookup) else {
                return Ok(false);
            };
            // `/re/flags` as a value works like the literal; anything else
            // is the pattern itself.
            let (pattern, flags) = match text.strip_prefix('/').and_then(|t| t.rsplit_once('/')) {
                Some((p, f)) if f.chars().all(|c| c.is_ascii_alphabetic()) => (p, f),
                _ => (text, ""),
            };
            Ok(compile(pattern, flags, *col)?.is_match(subject))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(src: &str, vars: &[(&str, &str)]) -> bool {
        let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        match evaluate(src, &lookup) {
            Ok(b) => b,
            Err(e) => panic!("{src}: {e}"),
        }
    }

    fn error(src: &str) -> ConditionError {
        match Condition::parse(src) {
            Ok(c) => panic!("{src} parsed as {:?}", c.expr),
            Err(e) => e,
        }
    }

    #[test]
    fn variables_and_truthiness() {
        assert!(check("$A", &[("A", "x")]));
        assert!(!check("$A", &[("A", "")]));
        assert!(!check("$A", &[]));
        assert!(check("${A}", &[("A", "x")]));
        assert!(check("!$A", &[]));
        assert!(check("'x'", &[]));
        assert!(!check("''", &[]));
        assert!(!check("null", &[]));
    }

    #[test]
    fn equality_and_null() {
        let vars = [("BRANCH", "main"), ("EMPTY", "")];
        assert!(check("$BRANCH == 'main'", &vars));
        assert!(check("$BRANCH == \"main\"", &vars));
        assert!(check("'main' == $BRANCH", &vars));
        assert!(check("$BRANCH != 'dev'", &vars));
        assert!(check("$UNSET == null", &vars));
        assert!(!check("$UNSET == ''", &vars));
        assert!(check("$EMPTY == ''", &vars));
        assert!(check("$EMPTY != null", &vars));
        assert!(check("${BRANCH} == $BRANCH", &vars));
    }

    #[test]
    fn regex_matching() {
        let vars = [("TAG", "v1.2.3"), ("RE", "/^V1/i"), ("PLAIN", "^v")];
        assert!(check("$TAG =~ /^v\\d+/", &vars));
        assert!(!check("$TAG =~ /^V\\d+/", &vars));
        assert!(check("$TAG =~ /^V\\d+/i", &vars));
        assert!(check("$TAG !~ /^release/", &vars));
        assert!(!check("$UNSET =~ /.*/", &vars));
        assert!(check("$UNSET !~ /.*/", &vars));
        assert!(check("'a/b' =~ /a\\/b/", &vars));
        assert!(check("$TAG =~ $RE", &vars));
        assert!(check("$TAG =~ $PLAIN", &vars));
        assert!(check("$TAG =~ '/2\\.3$/'", &vars));
        assert!(!check("$TAG =~ $UNSET", &vars));
    }

    #[test]
    fn precedence_and_grouping() {
        let t = [("T", "1")];
        // && binds tighter: true || (false && false)
        assert!(check("$T || $F && $F", &t));
        assert!(!check("($T || $F) && $F", &t));
        assert!(check("!($F || $F)", &t));
        assert!(check("!$T == '2'", &t));
        assert!(check("!!$T", &t));
        assert!(check("$T == '1' && ($F || $T != null)", &t));
    }

    #[test]
    fn strings_with_escapes() {
        assert!(check(r#""a\"b" == 'a"b'"#, &[]));
        assert!(check(r#"'it\'s' == "it's""#, &[]));
        assert!(check(r"'a\\b' =~ /\\/", &[]));
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = error("$A = 'x'");
        assert_eq!(e.column, 4);
        assert!(e.message.contains("`==`"), "{e}");

        let e = error("$A == ");
        assert_eq!(e.column, 7);
        assert!(e.message.contains("the end of the condition"), "{e}");

        let e = error("$A == 'x");
        assert_eq!(e.column, 7);
        assert!(e.message.contains("no closing"), "{e}");

        let e = error("($A || $B");
        assert_eq!(e.column, 10);
        assert!(e.message.contains("column 1"), "{e}");

        let e = error("$A)");
        assert_eq!((e.column, e.message.as_str()), (3, "unmatched `)`"));

        let e = error("$A $B");
        assert_eq!(e.column, 4);

        let e = error("main == $A");
        assert_eq!(e.column, 1);
        assert!(e.message.contains("`main`"), "{e}");

        let e = error("$A =~ /(/");
        assert_eq!(e.column, 7);
        assert!(e.message.contains("invalid pattern"), "{e}");

        let e = error("$A =~ /x/q");
        assert!(e.message.contains("flag `q`"), "{e}");

        let e = error("$A =~ 'x' == 'y'");
        assert_eq!(e.column, 11);

        let e = error("   ");
        assert!(e.message.contains("empty"), "{e}");

        let e = error("${");
        assert_eq!(e.column, 3);
        let e = error("${A");
        assert_eq!(e.column, 4);
        let e = error("$");
        assert_eq!(e.column, 1);
        let e = error("/x/");
        assert!(e.message.contains("only follow"), "{e}");
    }

    #[test]
    fn dynamic_pattern_errors_at_eval() {
        let c = match Condition::parse("$A =~ $RE") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let lookup = |name: &str| match name {
            "A" => Some("x"),
            "RE" => Some("/(/"),
            _ => None,
        };
        let e = c.eval(&lookup).expect_err("bad dynamic regex");
        assert_eq!(e.column, 7);
    }

    #[test]
    fn columns_count_characters() {
        let e = error("'é' == ");
        assert_eq!(e.column, 8);
    }

    #[test]
    fn env_evaluation() {
        let mut env = Env::new();
        env.set("CI", "true", None);
        let c = Condition::parse("$CI == 'true'").expect("parses");
        assert_eq!(c.eval_env(&env), Ok(true));
        assert_eq!(c.source(), "$CI == 'true'");
    }
}
