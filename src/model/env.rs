//! Ordered environment variables with override semantics.

use super::Loc;

/// One variable and, when it came from a file, where it was set.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
    pub loc: Option<Loc>,
}

/// Variables in the order they were first set; setting a name again
/// replaces its value in place.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Env {
    vars: Vec<EnvVar>,
}

impl Env {
    pub fn new() -> Self {
        Env::default()
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>, loc: Option<Loc>) {
        let name = name.into();
        let value = value.into();
        match self.vars.iter_mut().find(|v| v.name == name) {
            Some(var) => {
                var.value = value;
                var.loc = loc;
            }
            None => self.vars.push(EnvVar { name, value, loc }),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|v| v.name == name)
            .map(|v| v.value.as_str())
    }

    pub fn var(&self, name: &str) -> Option<&EnvVar> {
        self.vars.iter().find(|v| v.name == name)
    }

    /// Overlay `other` on top of `self`: its values win.
    pub fn overlay(&mut self, other: &Env) {
        for v in &other.vars {
            self.set(v.name.clone(), v.value.clone(), v.loc.clone());
        }
    }

    /// `self` with `other` on top, as a new Env.
    pub fn with(&self, other: &Env) -> Env {
        let mut merged = self.clone();
        merged.overlay(other);
        merged
    }

    pub fn iter(&self) -> impl Iterator<Item = &EnvVar> {
        self.vars.iter()
    }

    pub fn len(&self) -> usize {
        self.vars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// `NAME=value` strings, as a process environment wants them.
    pub fn to_pairs(&self) -> Vec<String> {
        self.vars
            .iter()
            .map(|v| format!("{}={}", v.name, v.value))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_layers_win_and_order_is_kept() {
        let mut a = Env::new();
        a.set("A", "1", None);
        a.set("B", "1", None);
        let mut b = Env::new();
        b.set("B", "2", None);
        b.set("C", "2", None);
        let m = a.with(&b);
        assert_eq!(m.to_pairs(), vec!["A=1", "B=2", "C=2"]);
    }
}
