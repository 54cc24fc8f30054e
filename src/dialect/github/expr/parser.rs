//! Recursive descent over GitHub's precedence levels, loosest first:
//! `||` → `&&` → `==` `!=` → `<` `<=` `>` `>=` → `!` → postfix
//! (`.name`, `[index]`, `.*`) → primary (literal, context, call, group).

use super::ExprError;
use super::lexer::Token;
use serde_json::Value;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Value),
    /// A top-level context name (`github`, `env`, `matrix`, ...).
    Context(String),
    Property(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    /// `.*` / `[*]`: the object filter.
    Star(Box<Expr>),
    Call(String, Vec<Expr>),
    Not(Box<Expr>),
    Compare(Cmp, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The contexts an expression may name.
pub const CONTEXTS: &[&str] = &[
    "github", "env", "vars", "secrets", "matrix", "needs", "steps", "job", "jobs", "runner",
    "inputs", "strategy",
];

/// Functions with their (min, max) argument counts.
pub const FUNCTIONS: &[(&str, usize, usize)] = &[
    ("contains", 2, 2),
    ("startswith", 2, 2),
    ("endswith", 2, 2),
    ("format", 1, usize::MAX),
    ("join", 1, 2),
    ("tojson", 1, 1),
    ("fromjson", 1, 1),
    ("hashfiles", 1, usize::MAX),
    ("success", 0, 0),
    ("failure", 0, 0),
    ("always", 0, 0),
    ("cancelled", 0, 0),
];

/// GitHub limits nesting to keep evaluation bounded.
const MAX_DEPTH: usize = 50;

pub struct Parser {
    pub tokens: Vec<(Token, usize)>,
    pub pos: usize,
    pub depth: usize,
}

impl Parser {
    pub fn peek(&self) -> &(Token, usize) {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> (Token, usize) {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn eat(&mut self, token: &Token) -> bool {
        if &self.peek().0 == token {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: Token, context: &str) -> Result<(), ExprError> {
        let (t, col) = self.next();
        if t == token {
            Ok(())
        } else {
            Err(ExprError::new(
                col,
                format!("expected {token} {context}, found {t}"),
            ))
        }
    }

    pub fn expression(&mut self) -> Result<Expr, ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::new(
                self.peek().1,
                "the expression nests too deeply",
            ));
        }
        let e = self.or();
        self.depth -= 1;
        e
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.and()?;
        while self.eat(&Token::Or) {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.equality()?;
        while self.eat(&Token::And) {
            left = Expr::And(Box::new(left), Box::new(self.equality()?));
        }
        Ok(left)
    }

    fn equality(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.comparison()?;
        loop {
            let op = match self.peek().0 {
                Token::Eq => Cmp::Eq,
                Token::Ne => Cmp::Ne,
                _ => return Ok(left),
            };
            self.pos += 1;
            left = Expr::Compare(op, Box::new(left), Box::new(self.comparison()?));
        }
    }

    fn comparison(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek().0 {
                Token::Lt => Cmp::Lt,
                Token::Le => Cmp::Le,
                Token::Gt => Cmp::Gt,
                Token::Ge => Cmp::Ge,
                _ => return Ok(left),
            };
            self.pos += 1;
            left = Expr::Compare(op, Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.eat(&Token::Not) {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(ExprError::new(
                    self.peek().1,
                    "the expression nests too deeply",
                ));
            }
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.primary()?;
        loop {
            if self.eat(&Token::Dot) {
                let (t, col) = self.next();
                e = match t {
                    Token::Ident(name) => Expr::Property(Box::new(e), name),
                    Token::Star => Expr::Star(Box::new(e)),
                    // `github.event.true` and friends: keywords are names here.
                    Token::Null => Expr::Property(Box::new(e), "null".into()),
                    Token::Bool(b) => Expr::Property(Box::new(e), b.to_string()),
                    other => {
                        return Err(ExprError::new(
                            col,
                            format!("expected a property name after `.`, found {other}"),
                        ));
                    }
                };
            } else if self.eat(&Token::LBracket) {
                if self.eat(&Token::Star) {
                    self.expect(Token::RBracket, "after `[*`")?;
                    e = Expr::Star(Box::new(e));
                } else {
                    let index = self.expression()?;
                    self.expect(Token::RBracket, "to close `[`")?;
                    e = Expr::Index(Box::new(e), Box::new(index));
                }
            } else {
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let (t, col) = self.next();
        match t {
            Token::Null => Ok(Expr::Literal(Value::Null)),
            Token::Bool(b) => Ok(Expr::Literal(Value::Bool(b))),
            Token::Number(n) => Ok(Expr::Literal(super::value::number(n))),
            Token::Str(s) => Ok(Expr::Literal(Value::String(s))),
            Token::LParen => {
                let e = self.expression()?;
                self.expect(Token::RParen, "to close `(`")?;
                Ok(e)
            }
            Token::Ident(name) if self.peek().0 == Token::LParen => {
                self.pos += 1;
                let lower = name.to_ascii_lowercase();
                let Some(&(_, min, max)) = FUNCTIONS.iter().find(|(f, _, _)| *f == lower) else {
                    let names: Vec<&str> = FUNCTIONS.iter().map(|(f, _, _)| *f).collect();
                    let help = crate::diag::did_you_mean(&lower, &names)
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                    return Err(ExprError::new(
                        col,
                        format!("unknown function `{name}`{help}"),
                    ));
                };
                let mut args = Vec::new();
                if !self.eat(&Token::RParen) {
                    loop {
                        args.push(self.expression()?);
                        if self.eat(&Token::Comma) {
                            continue;
                        }
                        self.expect(Token::RParen, "to close the arguments")?;
                        break;
                    }
                }
                if args.len() < min || args.len() > max {
                    let wanted = if min == max {
                        format!("{min}")
                    } else if max == usize::MAX {
                        format!("at least {min}")
                    } else {
                        format!("{min} or {max}")
                    };
                    return Err(ExprError::new(
                        col,
                        format!("`{name}` takes {wanted} argument(s), found {}", args.len()),
                    ));
                }
                Ok(Expr::Call(lower, args))
            }
            Token::Ident(name) => {
                let lower = name.to_ascii_lowercase();
                if CONTEXTS.contains(&lower.as_str()) {
                    Ok(Expr::Context(lower))
                } else {
                    let help = crate::diag::did_you_mean(&lower, CONTEXTS)
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_else(|| format!("; the contexts are {}", CONTEXTS.join(", ")));
                    Err(ExprError::new(col, format!("unknown name `{name}`{help}")))
                }
            }
            other => Err(ExprError::new(
                col,
                format!("expected a value, found {other}"),
            )),
        }
    }
}
