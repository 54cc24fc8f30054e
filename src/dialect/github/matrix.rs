//! `strategy.matrix`: the product of the axes, minus `exclude`, plus
//! `include`, as GitHub documents it:
//!
//! - an `exclude` entry removes every combination that matches all of its
//!   keys (a partial entry removes many);
//! - an `include` entry is added to every combination whose original
//!   values it does not contradict (it may add keys, and overwrite keys
//!   added by earlier includes); an entry that fits no combination becomes
//!   a combination of its own.
//!
//! Values stay JSON values, since `matrix.config.os` may name an object.

use serde_json::{Map, Value};

use super::super::reader::Reader;
use crate::yaml::{Node, Value as Y};

/// GitHub's limit on matrix jobs per workflow run.
pub const MAX_JOBS: usize = 256;

/// One combination, in axis order (a JSON map would sort the keys).
pub type Combo = Vec<(String, Value)>;

fn get<'c>(c: &'c Combo, key: &str) -> Option<&'c Value> {
    c.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn insert(c: &mut Combo, key: &str, value: Value) {
    match c.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => c.push((key.to_string(), value)),
    }
}

/// A combination as the `matrix` context.
pub fn context(c: &Combo) -> Value {
    Value::Object(c.iter().cloned().collect::<Map<String, Value>>())
}

/// Convert a YAML node to JSON (the matrix and `with:` values).
pub fn to_json(node: &Node) -> Value {
    match &node.value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Int(i) => Value::from(*i),
        Y::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Y::Str(s) => Value::String(s.clone()),
        Y::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Y::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.name.clone(), to_json(v)))
                .collect(),
        ),
    }
}

/// Expand `matrix:`; an empty list means "no matrix".
pub fn expand(node: &Node, r: &mut Reader) -> Vec<Combo> {
    let Some(map) = r.map(node, "`strategy.matrix`") else {
        return Vec::new();
    };
    let mut combos: Vec<Combo> = vec![Vec::new()];
    let mut axes: Vec<String> = Vec::new();
    for (key, values) in map.iter() {
        if key.name == "include" || key.name == "exclude" {
            continue;
        }
        let values: Vec<Value> = match &values.value {
            Y::Seq(items) => items.iter().map(to_json).collect(),
            Y::Str(s) if s.contains("${{") => {
                r.warning(
                    values.span,
                    format!(
                        "matrix axis `{}` is an expression; nestci cannot expand it before the run",
                        key.name
                    ),
                );
                continue;
            }
            _ => {
                r.error(
                    values.span,
                    format!("matrix axis `{}` must be a list of values", key.name),
                );
                continue;
            }
        };
        if values.is_empty() {
            r.error(
                key.span,
                format!("matrix axis `{}` has no values", key.name),
            );
            continue;
        }
        if combos.len() * values.len() > MAX_JOBS {
            r.error(
                key.span,
                format!("the matrix makes more than {MAX_JOBS} jobs"),
            )
            .set_help("GitHub allows at most 256 jobs per matrix");
            return Vec::new();
        }
        axes.push(key.name.clone());
        combos = combos
            .iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    insert(&mut c, &key.name, v.clone());
                    c
                })
            })
            .collect();
    }
    if axes.is_empty() {
        combos.clear();
    }
    if let Some(ex) = map.get("exclude") {
        let entries = entries(ex, r, "exclude");
        combos.retain(|c| {
            !entries
                .iter()
                .any(|e| e.iter().all(|(k, v)| get(c, k) == Some(v)))
        });
    }
    if let Some(inc) = map.get("include") {
        for entry in entries(inc, r, "include") {
            let mut fitted = false;
            for c in combos.iter_mut() {
                let fits = entry
                    .iter()
                    .all(|(k, v)| !axes.contains(k) || get(c, k) == Some(v));
                if fits && !axes.is_empty() {
                    for (k, v) in &entry {
                        if !axes.contains(k) {
                            insert(c, k, v.clone());
                        }
                    }
                    fitted = true;
                }
            }
            if !fitted {
                combos.push(entry);
            }
        }
    }
    if combos.len() > MAX_JOBS {
        r.error(
            node.span,
            format!(
                "the matrix makes {} jobs, more than {MAX_JOBS}",
                combos.len()
            ),
        );
        combos.truncate(MAX_JOBS);
    }
    combos
}

fn entries(node: &Node, r: &mut Reader, what: &str) -> Vec<Combo> {
    let Some(items) = r.seq(node, &format!("`matrix.{what}`")) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|i| match to_json(i) {
            Value::Object(_) => match &i.value {
                Y::Map(m) => Some(
                    m.iter()
                        .map(|(k, v)| (k.name.clone(), to_json(v)))
                        .collect(),
                ),
                _ => None,
            },
            _ => {
                r.error(i.span, format!("a `matrix.{what}` entry must be a mapping"));
                None
            }
        })
        .collect()
}

/// GitHub's display name of a matrix job: `test (ubuntu-latest, 20)`.
pub fn job_name(base: &str, combo: &Combo) -> String {
    if combo.is_empty() {
        return base.to_string();
    }
    let values: Vec<String> = combo
        .iter()
        .map(|(_, v)| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    format!("{base} ({})", values.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    fn run(yaml: &str) -> Vec<String> {
        let doc = crate::yaml::parse(yaml).expect("yaml");
        let mut r = Reader::new(Arc::new(PathBuf::from("m.yml")));
        let combos = expand(&doc.root, &mut r);
        assert!(!r.has_errors(), "{:?}", r.diagnostics);
        combos.iter().map(|c| job_name("t", c)).collect()
    }

    #[test]
    fn product_exclude_and_include() {
        let names = run(
            "os: [ubuntu, windows]\nnode: [18, 20]\nexclude:\n  - os: windows\n    node: 18\n\
             include:\n  - os: ubuntu\n    experimental: true\n  - os: macos\n    node: 22\n",
        );
        assert_eq!(
            names,
            [
                "t (ubuntu, 18, true)",
                "t (ubuntu, 20, true)",
                "t (windows, 20)",
                "t (macos, 22)"
            ]
        );
    }

    #[test]
    fn include_only() {
        assert_eq!(run("include:\n  - a: 1\n  - a: 2\n"), ["t (1)", "t (2)"]);
    }
}
