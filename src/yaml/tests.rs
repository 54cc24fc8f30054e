use super::*;

fn map(doc: &Document) -> &Mapping {
    doc.root.as_map().expect("root is a mapping")
}

#[test]
fn spans_point_at_values_and_keys() {
    let doc = parse("name: demo\njobs:\n  build:\n    steps: []\n").unwrap();
    let m = map(&doc);
    let (k, v) = m.entry("name").unwrap();
    assert_eq!(k.span, Span { line: 1, col: 1 });
    assert_eq!(v.span, Span { line: 1, col: 7 });
    let jobs = m.get("jobs").unwrap().as_map().unwrap();
    let (bk, _) = jobs.entry("build").unwrap();
    assert_eq!(bk.span, Span { line: 3, col: 3 });
}

#[test]
fn merge_keys_one_or_several() {
    let text = "\
a: &a {x: 1, y: 1}
b: &b {y: 2, z: 2}
one:
  <<: *a
  x: 9
several:
  <<: [*a, *b]
twice:
  <<: *a
  <<: *b
";
    let doc = parse(text).unwrap();
    let m = map(&doc);
    let one = m.get("one").unwrap().as_map().unwrap();
    assert_eq!(one.get("x").unwrap().value, Value::Int(9));
    assert_eq!(one.get("y").unwrap().value, Value::Int(1));
    let several = m.get("several").unwrap().as_map().unwrap();
    // In `<<: [*a, *b]` the first source wins for a shared key.
    assert_eq!(several.get("y").unwrap().value, Value::Int(1));
    assert_eq!(several.get("z").unwrap().value, Value::Int(2));
    let twice = m.get("twice").unwrap().as_map().unwrap();
    assert!(twice.get("x").is_some(), "{twice:?}");
    assert!(twice.get("z").is_some(), "{twice:?}");
}

#[test]
fn custom_tags_are_kept() {
    let doc = parse("script: !reference [.setup, script]\n").unwrap();
    let node = map(&doc).get("script").unwrap();
    assert_eq!(node.tag.as_deref(), Some("!reference"));
    assert_eq!(node.as_seq().unwrap().len(), 2);
}

#[test]
fn duplicate_keys_last_wins_with_warning() {
    let doc = parse("a: 1\nb: 2\na: 3\n").unwrap();
    let m = map(&doc);
    assert_eq!(m.get("a").unwrap().value, Value::Int(3));
    assert_eq!(m.len(), 2);
    assert_eq!(doc.warnings.len(), 1);
    let w = &doc.warnings[0];
    assert!(w.message.contains("lines 1 and 3"), "{}", w.message);
    assert_eq!(w.span.line, 3);
}

#[test]
fn yaml_1_2_scalars() {
    let doc = parse("on: push\nv: 3.10\ns: '3.10'\nyes_: yes\n").unwrap();
    let m = map(&doc);
    assert!(m.get("on").is_some(), "`on` is a string key in YAML 1.2");
    assert_eq!(m.get("v").unwrap().value, Value::Float(3.1));
    assert_eq!(m.get("s").unwrap().value, Value::Str("3.10".into()));
}

#[test]
fn alias_bomb_is_refused() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        let items = [prev.as_str(); 10].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{items}]\n"));
    }
    let err = parse(&text).unwrap_err();
    assert!(
        err.help.unwrap_or_default().contains("alias"),
        "{}",
        err.message
    );
}

#[test]
fn syntax_errors_have_locations() {
    let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
    assert!(err.span.is_some(), "{err:?}");
}

#[test]
fn empty_document_is_null() {
    assert_eq!(parse("# nothing\n").unwrap().root.value, Value::Null);
}

#[test]
fn merge_keys_are_found_for_dialects_that_refuse_them() {
    let with = "a: &a {x: 1}\nb:\n  y: 2\n  <<: *a\n";
    assert_eq!(find_merge_key(with), Some(Span { line: 4, col: 3 }));
    let aliases_only = "a: &a {x: 1}\nb: *a\nc: 'x << y'\n";
    assert_eq!(find_merge_key(aliases_only), None);
}
