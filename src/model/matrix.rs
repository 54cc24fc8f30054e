//! Matrix combinations and the names of the jobs they expand into.

/// One combination of matrix values, in the order the axes were declared.
pub type MatrixCombo = Vec<(String, String)>;

/// The name of a job expanded from `template` with `combo`:
/// `test [OS=linux, RUST=1.80]`. An empty combination keeps the name.
pub fn expand_name(template: &str, combo: &[(String, String)]) -> String {
    if combo.is_empty() {
        return template.to_string();
    }
    let values: Vec<String> = combo.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{template} [{}]", values.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(expand_name("test", &[]), "test");
        let combo = vec![("RUST".to_string(), "1.80".to_string())];
        assert_eq!(expand_name("test", &combo), "test [RUST=1.80]");
    }
}
