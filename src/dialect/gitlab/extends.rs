//! `extends`: a job inherits the configuration of one or more other jobs
//! (usually hidden `.templates`).
//!
//! GitLab's merge rules: mappings are merged key by key, recursively; any
//! other value — a list (`script`, `rules`), a string, a number — is
//! replaced whole by the more specific side. With several parents
//! (`extends: [.a, .b]`) they are merged in order, so `.b` wins over `.a`,
//! and the job's own keys win over all of them. Parents may extend further
//! parents (GitLab allows 11 levels); cycles are errors.

use std::collections::HashMap;

use super::super::reader::Reader;
use super::Ctx;
use crate::diag::did_you_mean;
use crate::yaml::{Mapping, Node, Value};

/// GitLab's nesting limit for `extends`.
const MAX_DEPTH: usize = 11;

/// `b` merged over `a`: mappings key by key, anything else replaced.
pub fn deep_merge(a: &Node, b: &Node) -> Node {
    match (&a.value, &b.value) {
        (Value::Map(ma), Value::Map(mb)) => Node {
            value: Value::Map(merge_maps(ma, mb)),
            tag: b.tag.clone(),
            span: b.span,
        },
        _ => b.clone(),
    }
}

/// `b` merged over `a`, keeping `a`'s key order and appending `b`'s new keys.
pub fn merge_maps(a: &Mapping, b: &Mapping) -> Mapping {
    let mut out = Mapping {
        entries: a.entries.clone(),
        duplicates: Vec::new(),
    };
    for (key, value) in &b.entries {
        match out.entries.iter_mut().find(|(k, _)| k.name == key.name) {
            Some(slot) => {
                slot.1 = deep_merge(&slot.1, value);
                slot.0.span = key.span;
            }
            None => out.entries.push((key.clone(), value.clone())),
        }
    }
    out
}

/// Replace every job's body by its body merged over its parents'.
pub fn resolve(top: &mut Mapping, r: &mut Reader, ctx: &Ctx) {
    if !top
        .entries
        .iter()
        .any(|(_, v)| v.as_map().is_some_and(|m| m.get("extends").is_some()))
    {
        return;
    }
    let original = top.clone();
    let mut memo: HashMap<String, Node> = HashMap::new();
    for i in 0..top.entries.len() {
        let name = top.entries[i].0.name.clone();
        if super::is_keyword(&name) || top.entries[i].1.as_map().is_none() {
            continue;
        }
        let mut stack = Vec::new();
        if let Some(node) = resolved(&name, &original, &mut memo, &mut stack, r, ctx) {
            top.entries[i].1 = node;
        }
    }
}

fn resolved(
    name: &str,
    original: &Mapping,
    memo: &mut HashMap<String, Node>,
    stack: &mut Vec<String>,
    r: &mut Reader,
    ctx: &Ctx,
) -> Option<Node> {
    if let Some(done) = memo.get(name) {
        return Some(done.clone());
    }
    let node = original.get(name)?;
    let Some(map) = node.as_map() else {
        return Some(node.clone());
    };
    let Some((ext_key, ext)) = map.entry("extends") else {
        return Some(node.clone());
    };
    let parents: Vec<_> = match &ext.value {
        Value::Seq(_) | Value::Str(_) => r.string_list(ext, "a job name in `extends`"),
        _ => {
            r.error(
                ext.span,
                format!(
                    "`extends` must be a job name or a list of them, found {}",
                    ext.value.kind()
                ),
            );
            Vec::new()
        }
    };
    stack.push(name.to_string());
    let mut base: Option<Node> = None;
    for parent in parents {
        if stack.contains(&parent.value) {
            r.error(
                ext_key.span,
                format!(
                    "`extends` forms a cycle: {} -> {}",
                    stack.join(" -> "),
                    parent.value
                ),
            )
            .set_help("a job cannot extend itself, directly or through its parents");
            continue;
        }
        if stack.len() >= MAX_DEPTH {
            r.error(
                ext_key.span,
                format!(
                    "`extends` nests more than {MAX_DEPTH} levels deep from `{}`",
                    stack[0]
                ),
            )
            .set_help("GitLab allows at most 11 levels of `extends`");
            continue;
        }
        let target = original.get(&parent.value);
        if target.is_none() || target.is_some_and(|t| t.as_map().is_none()) {
            let candidates: Vec<&str> = original
                .entries
                .iter()
                .filter(|(k, v)| !super::is_keyword(&k.name) && v.as_map().is_some())
                .map(|(k, _)| k.name.as_str())
                .collect();
            let help = match did_you_mean(&parent.value, &candidates) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "`extends` names a job or a hidden `.template` of this pipeline".into(),
            };
            let message = format!(
                "job `{name}` extends `{}`, which is not defined",
                parent.value
            );
            match &ctx.unresolved_include {
                Some(at) => {
                    r.warning(ext.span, message).set_help(format!(
                        "it may come from the include at {at} that nestci could not read; {help}"
                    ));
                }
                None => {
                    r.error(ext.span, message).set_help(help);
                }
            }
            continue;
        }
        if let Some(p) = resolved(&parent.value, original, memo, stack, r, ctx) {
            base = Some(match base {
                Some(b) => deep_merge(&b, &p),
                None => p,
            });
        }
    }
    stack.pop();
    let own = Node {
        value: Value::Map(Mapping {
            entries: map
                .entries
                .iter()
                .filter(|(k, _)| k.name != "extends")
                .cloned()
                .collect(),
            duplicates: Vec::new(),
        }),
        tag: node.tag.clone(),
        span: node.span,
    };
    let out = match base {
        Some(b) => deep_merge(&b, &own),
        None => own,
    };
    memo.insert(name.to_string(), out.clone());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Node {
        crate::yaml::parse(text).expect("yaml").root
    }

    #[test]
    fn maps_merge_deeply_and_lists_are_replaced() {
        let a = yaml("variables: {A: '1', B: '1'}\nscript: [a, b]\nimage: x\n");
        let b = yaml("variables: {B: '2', C: '2'}\nscript: [c]\n");
        let m = deep_merge(&a, &b);
        let map = m.as_map().expect("map");
        let vars = map.get("variables").and_then(Node::as_map).expect("vars");
        let pairs: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.name.clone(), v.scalar_text().unwrap_or_default()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("A".into(), "1".into()),
                ("B".into(), "2".into()),
                ("C".into(), "2".into())
            ]
        );
        let script = map.get("script").and_then(Node::as_seq).expect("seq");
        assert_eq!(script.len(), 1);
        assert_eq!(map.get("image").and_then(Node::as_str), Some("x"));
    }
}
