//! Evaluation of a parsed expression against the contexts, and the
//! built-in functions.

use serde_json::{Map, Value};
use std::cmp::Ordering;

use super::parser::{Cmp, Expr};
use super::value::{compare, loose_eq, to_number, to_string, truthy};
use super::{Contexts, ExprError, JobStatus};

pub fn eval(e: &Expr, cx: &Contexts) -> Result<Value, ExprError> {
    Ok(match e {
        Expr::Literal(v) => v.clone(),
        Expr::Context(name) => cx.values.get(name).cloned().unwrap_or(Value::Null),
        Expr::Property(inner, name) => property(&eval(inner, cx)?, name),
        Expr::Index(inner, index) => {
            let target = eval(inner, cx)?;
            let index = eval(index, cx)?;
            match (&target, &index) {
                (Value::Array(items), _) => {
                    let n = to_number(&index);
                    if n.is_finite() && n >= 0.0 {
                        items.get(n as usize).cloned().unwrap_or(Value::Null)
                    } else {
                        Value::Null
                    }
                }
                _ => property(&target, &to_string(&index)),
            }
        }
        Expr::Star(inner) => match eval(inner, cx)? {
            Value::Array(items) => Value::Array(items),
            Value::Object(map) => Value::Array(map.into_iter().map(|(_, v)| v).collect()),
            _ => Value::Array(Vec::new()),
        },
        Expr::Not(inner) => Value::Bool(!truthy(&eval(inner, cx)?)),
        Expr::And(a, b) => {
            let left = eval(a, cx)?;
            if truthy(&left) { eval(b, cx)? } else { left }
        }
        Expr::Or(a, b) => {
            let left = eval(a, cx)?;
            if truthy(&left) { left } else { eval(b, cx)? }
        }
        Expr::Compare(op, a, b) => {
            let (x, y) = (eval(a, cx)?, eval(b, cx)?);
            Value::Bool(match op {
                Cmp::Eq => loose_eq(&x, &y),
                Cmp::Ne => !loose_eq(&x, &y),
                Cmp::Lt => compare(&x, &y) == Some(Ordering::Less),
                Cmp::Le => matches!(compare(&x, &y), Some(Ordering::Less | Ordering::Equal)),
                Cmp::Gt => compare(&x, &y) == Some(Ordering::Greater),
                Cmp::Ge => matches!(compare(&x, &y), Some(Ordering::Greater | Ordering::Equal)),
            })
        }
        Expr::Call(name, args) => call(name, args, cx)?,
    })
}

/// `value.name`: a case-insensitive key of an object; on an array (after
/// a `*` filter) the property of every element that has it.
fn property(value: &Value, name: &str) -> Value {
    match value {
        Value::Object(map) => lookup(map, name),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter_map(|i| match i {
                    Value::Object(m) => Some(lookup(m, name)).filter(|v| !v.is_null()),
                    _ => None,
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

fn lookup(map: &Map<String, Value>, name: &str) -> Value {
    map.get(name)
        .or_else(|| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .cloned()
        .unwrap_or(Value::Null)
}

fn call(name: &str, args: &[Expr], cx: &Contexts) -> Result<Value, ExprError> {
    let arg = |i: usize| -> Result<Value, ExprError> { eval(&args[i], cx) };
    Ok(match name {
        "success" => Value::Bool(cx.status == JobStatus::Success),
        "failure" => Value::Bool(cx.status == JobStatus::Failure),
        "cancelled" => Value::Bool(cx.status == JobStatus::Cancelled),
        "always" => Value::Bool(true),
        "contains" => {
            let (hay, needle) = (arg(0)?, arg(1)?);
            Value::Bool(match &hay {
                Value::Array(items) => items.iter().any(|i| loose_eq(i, &needle)),
                _ => to_string(&hay)
                    .to_lowercase()
                    .contains(&to_string(&needle).to_lowercase()),
            })
        }
        "startswith" => {
            let (s, p) = (to_string(&arg(0)?), to_string(&arg(1)?));
            Value::Bool(s.to_lowercase().starts_with(&p.to_lowercase()))
        }
        "endswith" => {
            let (s, p) = (to_string(&arg(0)?), to_string(&arg(1)?));
            Value::Bool(s.to_lowercase().ends_with(&p.to_lowercase()))
        }
        "format" => {
            let fmt = to_string(&arg(0)?);
            let values = (1..args.len())
                .map(|i| arg(i).map(|v| to_string(&v)))
                .collect::<Result<Vec<_>, _>>()?;
            Value::String(format(&fmt, &values)?)
        }
        "join" => {
            let sep = if args.len() > 1 {
                to_string(&arg(1)?)
            } else {
                ",".into()
            };
            match arg(0)? {
                Value::Array(items) => {
                    Value::String(items.iter().map(to_string).collect::<Vec<_>>().join(&sep))
                }
                other => Value::String(to_string(&other)),
            }
        }
        "tojson" => {
            Value::String(serde_json::to_string_pretty(&arg(0)?).unwrap_or_else(|_| "null".into()))
        }
        "fromjson" => {
            let text = to_string(&arg(0)?);
            serde_json::from_str::<Value>(text.trim()).map_err(|e| {
                ExprError::new(0, format!("fromJSON: `{text}` is not valid JSON: {e}"))
            })?
        }
        "hashfiles" => {
            let patterns = (0..args.len())
                .map(|i| arg(i).map(|v| to_string(&v)))
                .collect::<Result<Vec<_>, _>>()?;
            Value::String(super::hash_files(cx.workspace.as_deref(), &patterns))
        }
        other => return Err(ExprError::new(0, format!("unknown function `{other}`"))),
    })
}

/// `format('{0} and {1}', a, b)`; `{{` and `}}` are literal braces.
fn format(fmt: &str, values: &[String]) -> Result<String, ExprError> {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut digits = String::new();
                for d in chars.by_ref() {
                    if d == '}' {
                        break;
                    }
                    digits.push(d);
                }
                let index: usize = digits.parse().map_err(|_| {
                    ExprError::new(
                        0,
                        format!("format: `{{{digits}}}` is not an argument index"),
                    )
                })?;
                let value = values.get(index).ok_or_else(|| {
                    ExprError::new(0, format!("format: there is no argument {{{index}}}"))
                })?;
                out.push_str(value);
            }
            '}' => {
                return Err(ExprError::new(0, "format: a lone `}` must be written `}}`"));
            }
            other => out.push(other),
        }
    }
    Ok(out)
}
