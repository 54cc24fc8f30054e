//! Precedence, coercion and every function, against GitHub's documented
//! behaviour.

use serde_json::{Value, json};

use super::*;

fn cx() -> Contexts {
    let mut c = Contexts::default();
    c.set(
        "github",
        json!({
            "event_name": "push",
            "ref": "refs/heads/main",
            "event": {
                "commits": [{"message": "fix: a"}, {"message": "feat: b"}],
                "head_commit": {"message": "Fix the [skip ci] thing"}
            }
        }),
    );
    c.set("env", json!({"NAME": "World", "EMPTY": "", "NUM": "42"}));
    c.set("matrix", json!({"os": "ubuntu-latest", "node": 20}));
    c.set(
        "needs",
        json!({"build": {"result": "success", "outputs": {"version": "1.2.3"}}}),
    );
    c.set("steps", json!({"my-step": {"outputs": {"ok": "true"}}}));
    c
}

fn ev(src: &str) -> Value {
    match evaluate(src, &cx()) {
        Ok(v) => v,
        Err(e) => panic!("{src}: column {}: {}", e.column, e.message),
    }
}

#[test]
fn literals() {
    assert_eq!(ev("null"), Value::Null);
    assert_eq!(ev("true"), json!(true));
    assert_eq!(ev("0xff"), json!(255));
    assert_eq!(ev("-2.5"), json!(-2.5));
    assert_eq!(ev("1e3"), json!(1000));
    assert_eq!(ev("'it''s'"), json!("it's"));
}

#[test]
fn contexts_and_property_access() {
    assert_eq!(ev("github.event_name"), json!("push"));
    assert_eq!(ev("GITHUB.EVENT_NAME"), json!("push"), "names ignore case");
    assert_eq!(ev("env['NAME']"), json!("World"));
    assert_eq!(ev("matrix.node"), json!(20));
    assert_eq!(ev("needs.build.outputs.version"), json!("1.2.3"));
    assert_eq!(ev("steps.my-step.outputs.ok"), json!("true"));
    assert_eq!(ev("github.event.nothing.deeper"), Value::Null);
    assert_eq!(
        ev("github.event.commits.*.message"),
        json!(["fix: a", "feat: b"])
    );
    assert_eq!(ev("github.event.commits[1].message"), json!("feat: b"));
}

#[test]
fn precedence() {
    // `&&` binds tighter than `||`; `!` tighter than comparison.
    assert_eq!(ev("true || false && false"), json!(true));
    assert_eq!(ev("(true || false) && false"), json!(false));
    assert_eq!(ev("!false == true"), json!(true));
    assert_eq!(ev("1 < 2 == true"), json!(true));
    // && and || return operands, not booleans.
    assert_eq!(ev("env.EMPTY || 'fallback'"), json!("fallback"));
    assert_eq!(ev("env.NAME && 'yes'"), json!("yes"));
    assert_eq!(ev("env.EMPTY && 'yes'"), json!(""));
}

#[test]
fn loose_equality_coercion() {
    assert_eq!(ev("'ABC' == 'abc'"), json!(true), "strings ignore case");
    assert_eq!(ev("env.NUM == 42"), json!(true), "string to number");
    assert_eq!(ev("null == 0"), json!(true));
    assert_eq!(ev("true == 1"), json!(true));
    assert_eq!(ev("'' == 0"), json!(true));
    assert_eq!(ev("'abc' == 0"), json!(false), "NaN equals nothing");
    assert_eq!(ev("'abc' != 'abc '"), json!(true));
    assert!(
        Expression::parse("NaN").is_err(),
        "JSON values hold no NaN literal"
    );
    assert_eq!(ev("'b' > 'A'"), json!(true));
    assert_eq!(ev("2 >= '2'"), json!(true));
    assert_eq!(ev("null == null"), json!(true));
    assert_eq!(ev("github.event.commits == 0"), json!(false));
}

#[test]
fn truthiness() {
    for falsy in ["0", "''", "null", "false", "-0"] {
        assert!(!truthy(&ev(falsy)), "{falsy}");
    }
    for t in [
        "1",
        "'0'",
        "'false'",
        "github.event",
        "github.event.commits",
    ] {
        assert!(truthy(&ev(t)), "{t}");
    }
}

#[test]
fn functions() {
    assert_eq!(ev("contains('Hello world', 'WORLD')"), json!(true));
    assert_eq!(
        ev("contains(github.event.commits.*.message, 'FEAT: B')"),
        json!(true)
    );
    assert_eq!(ev("contains(fromJSON('[1, 2]'), '2')"), json!(true));
    assert_eq!(ev("startsWith(github.ref, 'refs/heads/')"), json!(true));
    assert_eq!(ev("endsWith(github.ref, '/MAIN')"), json!(true));
    assert_eq!(
        ev("format('Hello {0}, {1}! {{x}}', env.NAME, matrix.node)"),
        json!("Hello World, 20! {x}")
    );
    assert_eq!(
        ev("join(github.event.commits.*.message, '; ')"),
        json!("fix: a; feat: b")
    );
    assert_eq!(ev("join(fromJSON('[1,true,null]'))"), json!("1,true,"));
    assert_eq!(
        ev("toJSON(matrix)"),
        json!("{\n  \"node\": 20,\n  \"os\": \"ubuntu-latest\"\n}")
    );
    assert_eq!(ev("fromJSON('{\"a\": [1]}').a[0]"), json!(1));
    assert_eq!(ev("fromJSON('true')"), json!(true));
    assert_eq!(
        ev("hashFiles('**/package-lock.json')"),
        json!(""),
        "no workspace: empty"
    );
    assert_eq!(ev("success()"), json!(true));
    assert_eq!(ev("failure()"), json!(false));
    assert_eq!(ev("always()"), json!(true));
    assert_eq!(ev("cancelled()"), json!(false));
}

#[test]
fn hash_files_hashes_matching_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.lock"), "one").expect("write");
    std::fs::write(dir.path().join("b.lock"), "two").expect("write");
    let mut c = cx();
    c.workspace = Some(dir.path().to_path_buf());
    let both = evaluate("hashFiles('*.lock')", &c).expect("eval");
    let one = evaluate("hashFiles('*.lock', '!b.lock')", &c).expect("eval");
    assert_eq!(both.as_str().map(str::len), Some(64));
    assert_ne!(both, one);
    std::fs::write(dir.path().join("b.lock"), "changed").expect("write");
    assert_ne!(evaluate("hashFiles('*.lock')", &c).expect("eval"), both);
}

#[test]
fn status_functions_and_implicit_success() {
    let mut c = cx();
    assert!(condition("github.event_name == 'push'", &c).expect("ok"));
    c.status = JobStatus::Failure;
    assert!(!condition("github.event_name == 'push'", &c).expect("ok"));
    assert!(condition("${{ failure() && github.event_name == 'push' }}", &c).expect("ok"));
    assert!(condition("always()", &c).expect("ok"));
    c.status = JobStatus::Cancelled;
    assert!(condition("cancelled()", &c).expect("ok"));
    assert!(!condition("success()", &c).expect("ok"));
}

#[test]
fn interpolation() {
    let c = cx();
    assert_eq!(
        interpolate("Hi ${{ env.NAME }} on ${{ matrix.os }} (${{ '}}' }})", &c).expect("ok"),
        "Hi World on ubuntu-latest (}})"
    );
    assert_eq!(
        interpolate("no expressions", &c).expect("ok"),
        "no expressions"
    );
    assert!(interpolate("${{ env.NAME", &c).is_err());
}

#[test]
fn errors_point_at_columns() {
    let e = Expression::parse("env.A = 'x'").expect_err("single =");
    assert_eq!(e.column, 7);
    let e = Expression::parse("contians('a', 'b')").expect_err("typo");
    assert!(
        e.message.contains("did you mean `contains`"),
        "{}",
        e.message
    );
    let e = Expression::parse("githb.ref").expect_err("typo");
    assert!(e.message.contains("did you mean `github`"), "{}", e.message);
    let e = Expression::parse("startsWith('a')").expect_err("arity");
    assert!(e.message.contains("takes 2"), "{}", e.message);
    let e = Expression::parse("\"double\"").expect_err("quotes");
    assert!(e.message.contains("single quotes"), "{}", e.message);
    let e = Expression::parse("(1 == 1").expect_err("paren");
    assert_eq!(e.column, 8);
    assert!(
        Expression::parse(&"!".repeat(500)).is_err(),
        "bounded depth"
    );
}
