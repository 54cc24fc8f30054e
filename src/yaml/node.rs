//! The spanned YAML tree and its construction from serde-saphyr's events.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Spanned, Tagged};

use super::YamlWarning;

/// A position in a source file; both numbers start at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    pub line: u32,
    pub col: u32,
}

impl Span {
    /// The first character of a file.
    pub const START: Span = Span { line: 1, col: 1 };

    pub(crate) fn from_location(loc: &serde_saphyr::Location) -> Option<Span> {
        let line = u32::try_from(loc.line()).ok()?;
        let col = u32::try_from(loc.column()).ok()?;
        (line > 0).then_some(Span {
            line,
            col: col.max(1),
        })
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One YAML value with where it was written and the tag it carried.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    /// A custom tag such as `!reference`, without the core-schema tags.
    pub tag: Option<String>,
    pub span: Span,
}

/// The shape of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Mapping),
}

/// A mapping key: its text (scalars of any type are keyed by their text)
/// and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

/// An ordered mapping. Keys are unique: a repeated key replaced the earlier
/// value in place and left a note in `duplicates`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mapping {
    pub entries: Vec<(Key, Node)>,
    /// (earlier, later) occurrences of repeated keys.
    pub duplicates: Vec<(Key, Key)>,
}

impl Mapping {
    pub fn get(&self, name: &str) -> Option<&Node> {
        self.entry(name).map(|(_, v)| v)
    }

    pub fn entry(&self, name: &str) -> Option<(&Key, &Node)> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(k, v)| (k, v))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Node)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Insert with last-wins semantics, keeping the first key's position.
    pub fn insert(&mut self, key: Key, value: Node) {
        if let Some(slot) = self.entries.iter_mut().find(|(k, _)| k.name == key.name) {
            self.duplicates.push((slot.0.clone(), key.clone()));
            slot.0.span = key.span;
            slot.1 = value;
        } else {
            self.entries.push((key, value));
        }
    }
}

impl Value {
    /// A short name of the kind of value, for "expected X, found Y" errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    pub fn as_map(&self) -> Option<&Mapping> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The text of a scalar as a user wrote it for string-like settings
    /// (`VERSION: 1.80` is the string "1.8" in YAML 1.2, as in GitLab and
    /// GitHub; quote it to keep the zero). `None` for collections and null.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    pub(super) fn collect_duplicates(&self, out: &mut Vec<YamlWarning>) {
        match &self.value {
            Value::Map(m) => {
                for (first, second) in &m.duplicates {
                    out.push(YamlWarning {
                        message: format!(
                            "key `{}` appears twice (lines {} and {}); the later value is used",
                            second.name, first.span.line, second.span.line
                        ),
                        span: second.span,
                        help: Some(format!(
                            "remove one of the two `{}` keys to make the intent explicit",
                            second.name
                        )),
                    });
                }
                for (_, v) in &m.entries {
                    v.collect_duplicates(out);
                }
            }
            Value::Seq(items) => items.iter().for_each(|v| v.collect_duplicates(out)),
            _ => {}
        }
        out.sort_by_key(|w| w.span);
    }
}

// ---------------------------------------------------------------------------
// Construction from serde-saphyr.
//
// `Spanned<T>` and `Tagged<T>` are serde-saphyr's wrappers that capture a
// node's location and tag; the innermost `RawValue` is an ordinary
// `deserialize_any` visitor that recurses through `Node` again, so every
// level of the tree gets its own span and tag.
// ---------------------------------------------------------------------------

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Tagged<RawValue>>::deserialize(deserializer)?;
        // `defined` points at the text that produced the value, which for an
        // alias or a merged entry is the anchored definition: that is the
        // text a user must edit to fix an error in it.
        let span = Span::from_location(&spanned.defined)
            .or_else(|| Span::from_location(&spanned.referenced))
            .unwrap_or_default();
        let Tagged(RawValue(value), tag) = spanned.value;
        Ok(Node {
            value,
            tag: tag.filter(|t| !is_core_tag(t)),
            span,
        })
    }
}

/// `!!str`, `!!int`, ... select a core type; they are not custom tags.
fn is_core_tag(tag: &str) -> bool {
    tag.starts_with("!!") || tag.starts_with("tag:yaml.org,2002:")
}

struct RawValue(Value);

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor).map(RawValue)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Str(v.to_string()),
        })
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Str(v.to_string()),
        })
    }
    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Str(v.to_string()),
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        String::from_utf8(v.to_vec())
            .map(Value::Str)
            .map_err(|_| E::custom("binary values are not supported"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(node) = seq.next_element::<Node>()? {
            items.push(node);
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut mapping = Mapping::default();
        while let Some(key) = map.next_key::<Node>()? {
            let name = match key.scalar_text() {
                Some(name) => name,
                None if key.value == Value::Null => String::new(),
                None => {
                    return Err(de::Error::custom(format!(
                        "a mapping key must be a plain value, not {}",
                        key.value.kind()
                    )));
                }
            };
            let value = map.next_value::<Node>()?;
            mapping.insert(
                Key {
                    name,
                    span: key.span,
                },
                value,
            );
        }
        Ok(Value::Map(mapping))
    }
}
