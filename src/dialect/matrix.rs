//! Matrix axes shared by the dialects: `{A: [1, 2], B: x}` is the product
//! of its axes, in the order they are written. Native `matrix:` and
//! GitLab's `parallel: matrix:` entries are read here; GitHub's
//! `strategy.matrix` has its own include/exclude rules on top.

use super::reader::{Reader, is_env_name};
use crate::model::MatrixCombo;
use crate::yaml::{Mapping, Value};

/// The combinations of one mapping of axes, at most `max` of them. Each
/// axis is a variable name and a list of scalars (a single scalar is a
/// one-value axis). Problems are reported on `r` and the axis is skipped;
/// past `max` the whole mapping is refused.
pub fn product(map: &Mapping, r: &mut Reader, max: usize) -> Vec<MatrixCombo> {
    let mut combos: Vec<MatrixCombo> = vec![Vec::new()];
    for (key, values) in map.iter() {
        if !is_env_name(&key.name) {
            r.error(
                key.span,
                format!("`{}` is not a valid matrix variable name", key.name),
            )
            .set_help("matrix names become environment variables: letters, digits and `_`");
            continue;
        }
        let values: Vec<String> = match &values.value {
            Value::Seq(items) => items
                .iter()
                .filter_map(|v| r.string(v, &format!("a value of `{}`", key.name)))
                .collect(),
            _ => r
                .string(values, &format!("`{}`", key.name))
                .into_iter()
                .collect(),
        };
        if values.is_empty() {
            r.error(
                key.span,
                format!("matrix variable `{}` has no values", key.name),
            )
            .set_help(format!(
                "list at least one value, e.g. `{}: ['a', 'b']`",
                key.name
            ));
            continue;
        }
        if combos.len() * values.len() > max {
            r.error(
                key.span,
                format!("the matrix expands into more than {max} jobs"),
            );
            return Vec::new();
        }
        combos = combos
            .iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((key.name.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    combos.retain(|c| !c.is_empty());
    combos
}
