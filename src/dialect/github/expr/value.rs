//! GitHub's value rules: truthiness, string and number casts, and the
//! loose equality used by `==`, `<` and `contains`.
//!
//! From GitHub's "Evaluate expressions" reference:
//! - falsy: `false`, `0`, `-0`, `""`, `null`, `NaN`; everything else is truthy;
//! - comparing values of different types casts both to numbers: `null` is
//!   0, `true` 1, `false` 0, a string is parsed as a number (`""` is 0,
//!   anything unparseable NaN), arrays and objects are NaN;
//! - strings compare ignoring case; `NaN` is unequal to everything, itself too;
//! - arrays and objects are equal only to the very same value.

use serde_json::Value;
use std::cmp::Ordering;

/// A number as JSON holds it: whole numbers as integers so they print
/// without `.0`.
pub fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// The number a value casts to.
pub fn to_number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                0.0
            } else {
                super::lexer::parse_number(t).unwrap_or(f64::NAN)
            }
        }
        Value::Array(_) | Value::Object(_) => f64::NAN,
    }
}

/// The string a value casts to (`format`, `join`, `${{ }}` in text).
pub fn to_string(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() == 0.0 && f.abs() < 1e15 {
                    format!("{}", f as i64)
                } else {
                    format!("{f}")
                }
            }
        },
        Value::String(s) => s.clone(),
        Value::Array(_) => "Array".into(),
        Value::Object(_) => "Object".into(),
    }
}

/// Compare with GitHub's coercion; `None` when the values are unordered
/// (NaN, arrays, objects).
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.to_lowercase().cmp(&y.to_lowercase())),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => None,
        _ => {
            let (x, y) = (to_number(a), to_number(b));
            x.partial_cmp(&y)
        }
    }
}

/// `a == b` as GitHub evaluates it.
pub fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        // The same instance cannot be told apart here; equal content is the
        // closest local reading.
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => a == b,
        _ => compare(a, b) == Some(Ordering::Equal),
    }
}
