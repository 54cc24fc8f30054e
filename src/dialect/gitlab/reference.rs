//! `!reference [job, key, ...]`: reuse a piece of another job.
//!
//! Resolved after `extends` (as GitLab does), so a reference sees a job's
//! inherited keys. The referenced piece may itself hold references; GitLab
//! allows 10 levels. A reference inside a list that yields a list stays a
//! nested list here; `script`, `rules` and friends flatten it when read.

use super::super::reader::Reader;
use super::Ctx;
use crate::yaml::{Mapping, Node, Value};

const MAX_DEPTH: usize = 10;
const TAG: &str = "!reference";

/// Replace every `!reference` in `top` by what it names.
pub fn resolve(top: &mut Mapping, r: &mut Reader, ctx: &Ctx) {
    if !top.entries.iter().any(|(_, v)| has_reference(v)) {
        return;
    }
    let snapshot = top.clone();
    for (_, node) in &mut top.entries {
        resolve_node(node, &snapshot, r, ctx, 0);
    }
}

fn has_reference(node: &Node) -> bool {
    if node.tag.as_deref() == Some(TAG) {
        return true;
    }
    match &node.value {
        Value::Seq(items) => items.iter().any(has_reference),
        Value::Map(m) => m.entries.iter().any(|(_, v)| has_reference(v)),
        _ => false,
    }
}

fn resolve_node(node: &mut Node, top: &Mapping, r: &mut Reader, ctx: &Ctx, depth: usize) {
    if node.tag.as_deref() == Some(TAG) {
        *node = target(node, top, r, ctx, depth);
        return;
    }
    match &mut node.value {
        Value::Seq(items) => items
            .iter_mut()
            .for_each(|n| resolve_node(n, top, r, ctx, depth)),
        Value::Map(m) => m
            .entries
            .iter_mut()
            .for_each(|(_, n)| resolve_node(n, top, r, ctx, depth)),
        _ => {}
    }
}

/// What `reference` points at, with its own references resolved; an empty
/// list after an error so reading goes on.
fn target(reference: &Node, top: &Mapping, r: &mut Reader, ctx: &Ctx, depth: usize) -> Node {
    let empty = Node {
        value: Value::Seq(Vec::new()),
        tag: None,
        span: reference.span,
    };
    let path: Option<Vec<String>> = reference
        .as_seq()
        .map(|items| {
            items
                .iter()
                .map(Node::scalar_text)
                .collect::<Option<Vec<_>>>()
        })
        .unwrap_or(None)
        .filter(|p| !p.is_empty());
    let Some(path) = path else {
        r.error(
            reference.span,
            "`!reference` must be followed by a list of names",
        )
        .set_help("write it as `!reference [.job, key]` or `!reference [.job, key, subkey]`");
        return empty;
    };
    if depth >= MAX_DEPTH {
        r.error(
            reference.span,
            format!(
                "`!reference [{}]` nests more than {MAX_DEPTH} levels deep",
                path.join(", ")
            ),
        )
        .set_help("GitLab resolves at most 10 levels of nested `!reference`; check for a cycle");
        return empty;
    }
    let mut current: Option<&Node> = top.get(&path[0]);
    for (i, part) in path.iter().enumerate().skip(1) {
        current = current.and_then(Node::as_map).and_then(|m| m.get(part));
        if current.is_none() {
            let shown = path[..=i].join(", ");
            report_missing(
                reference,
                r,
                ctx,
                &format!(
                    "`{}` has no `{part}` (in `!reference [{shown}]`)",
                    path[i - 1]
                ),
            );
            return empty;
        }
    }
    let Some(found) = current else {
        report_missing(
            reference,
            r,
            ctx,
            &format!(
                "`!reference [{}]` names `{}`, which is not defined",
                path.join(", "),
                path[0]
            ),
        );
        return empty;
    };
    let mut out = found.clone();
    resolve_node(&mut out, top, r, ctx, depth + 1);
    out
}

fn report_missing(reference: &Node, r: &mut Reader, ctx: &Ctx, message: &str) {
    match &ctx.unresolved_include {
        Some(at) => {
            r.warning(reference.span, message.to_string())
                .set_help(format!(
                    "it may come from the include at {at} that nestci could not read; \
                 the reference is left empty"
                ));
        }
        None => {
            r.error(reference.span, message.to_string()).set_help(
                "`!reference` takes a job (or hidden `.template`) and the keys to follow",
            );
        }
    }
}
