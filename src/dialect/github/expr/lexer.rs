//! Tokens of a GitHub Actions expression, each with its 1-based column.

use super::ExprError;

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Null,
    Bool(bool),
    Number(f64),
    /// A `'single quoted'` string, `''` unescaped.
    Str(String),
    /// A context or function name (`github`, `contains`); also a property
    /// name after `.`. GitHub allows `-` inside names (`steps.my-step`).
    Ident(String),
    Dot,
    Star,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Not,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
    End,
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::Null => write!(f, "`null`"),
            Token::Bool(b) => write!(f, "`{b}`"),
            Token::Number(n) => write!(f, "the number {n}"),
            Token::Str(s) => write!(f, "the string '{s}'"),
            Token::Ident(s) => write!(f, "`{s}`"),
            Token::Dot => write!(f, "`.`"),
            Token::Star => write!(f, "`*`"),
            Token::LBracket => write!(f, "`[`"),
            Token::RBracket => write!(f, "`]`"),
            Token::LParen => write!(f, "`(`"),
            Token::RParen => write!(f, "`)`"),
            Token::Comma => write!(f, "`,`"),
            Token::Not => write!(f, "`!`"),
            Token::Lt => write!(f, "`<`"),
            Token::Le => write!(f, "`<=`"),
            Token::Gt => write!(f, "`>`"),
            Token::Ge => write!(f, "`>=`"),
            Token::Eq => write!(f, "`==`"),
            Token::Ne => write!(f, "`!=`"),
            Token::And => write!(f, "`&&`"),
            Token::Or => write!(f, "`||`"),
            Token::End => write!(f, "the end of the expression"),
        }
    }
}

/// Split `src` into tokens; the list ends with [`Token::End`].
pub fn lex(src: &str) -> Result<Vec<(Token, usize)>, ExprError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        let next = chars.get(i + 1).copied();
        let two = |t: Token| (t, 2);
        let (token, len) = match c {
            ' ' | '\t' | '\n' | '\r' => {
                i += 1;
                continue;
            }
            '.' if !next.is_some_and(|n| n.is_ascii_digit()) => (Token::Dot, 1),
            '*' => (Token::Star, 1),
            '[' => (Token::LBracket, 1),
            ']' => (Token::RBracket, 1),
            '(' => (Token::LParen, 1),
            ')' => (Token::RParen, 1),
            ',' => (Token::Comma, 1),
            '!' if next == Some('=') => two(Token::Ne),
            '!' => (Token::Not, 1),
            '<' if next == Some('=') => two(Token::Le),
            '<' => (Token::Lt, 1),
            '>' if next == Some('=') => two(Token::Ge),
            '>' => (Token::Gt, 1),
            '=' if next == Some('=') => two(Token::Eq),
            '&' if next == Some('&') => two(Token::And),
            '|' if next == Some('|') => two(Token::Or),
            '=' | '&' | '|' => {
                return Err(ExprError::new(
                    col,
                    format!("`{c}` alone is not an operator; did you mean `{c}{c}`?"),
                ));
            }
            '\'' => {
                let mut s = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => {
                            return Err(ExprError::new(
                                col,
                                "unterminated string (strings use single quotes; write '' for a quote inside)",
                            ));
                        }
                        Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                            s.push('\'');
                            j += 2;
                        }
                        Some('\'') => break,
                        Some(ch) => {
                            s.push(*ch);
                            j += 1;
                        }
                    }
                }
                (Token::Str(s), j + 1 - i)
            }
            '"' => {
                return Err(ExprError::new(
                    col,
                    "strings in expressions use single quotes: 'text'",
                ));
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                let mut j = i + 1;
                while j < chars.len()
                    && (chars[j].is_ascii_alphanumeric()
                        || chars[j] == '.'
                        || ((chars[j] == '-' || chars[j] == '+')
                            && matches!(chars[j - 1], 'e' | 'E')))
                {
                    j += 1;
                }
                let text: String = chars[i..j].iter().collect();
                match parse_number(&text) {
                    Some(n) => (Token::Number(n), j - i),
                    None => {
                        return Err(ExprError::new(col, format!("`{text}` is not a number")));
                    }
                }
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut j = i + 1;
                while j < chars.len()
                    && (chars[j].is_alphanumeric() || chars[j] == '_' || chars[j] == '-')
                {
                    j += 1;
                }
                let word: String = chars[i..j].iter().collect();
                let token = match word.as_str() {
                    "null" => Token::Null,
                    "true" => Token::Bool(true),
                    "false" => Token::Bool(false),
                    // Values are JSON values, which cannot hold these.
                    "NaN" | "Infinity" => {
                        return Err(ExprError::new(
                            col,
                            format!("the literal `{word}` is not supported by nestci"),
                        ));
                    }
                    _ => Token::Ident(word),
                };
                (token, j - i)
            }
            other => {
                return Err(ExprError::new(
                    col,
                    format!("unexpected character `{other}`"),
                ));
            }
        };
        out.push((token, col));
        i += len;
    }
    out.push((Token::End, chars.len() + 1));
    Ok(out)
}

/// Numbers as GitHub reads them: decimal, `1e3`, `0x1F`, `-2.5`.
pub fn parse_number(text: &str) -> Option<f64> {
    let t = text.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let value = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()? as f64
    } else if let Some(oct) = body.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()? as f64
    } else if body.is_empty() || !body.chars().next()?.is_ascii_digit() && !body.starts_with('.') {
        return match body {
            "Infinity" => Some(if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }),
            _ => None,
        };
    } else {
        body.parse::<f64>().ok()?
    };
    Some(if neg { -value } else { value })
}
