//! The GitLab dialect against a real git repository (made with the `git`
//! program in a temporary directory): the commit variables
//! (`CI_COMMIT_TAG`, `CI_COMMIT_TITLE`, ...) and `rules:exists` /
//! `rules:changes`, whose local meaning is documented in
//! `src/dialect/gitlab/rules.rs`.

use std::path::Path;
use std::process::Command;

use nestci::dialect::{self, LoadOptions};
use nestci::model::{Pipeline, When};

/// Run `git` in `dir` with a fixed identity; panics with git's words.
fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(["-c", "tag.gpgsign=false"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("git {args:?}: {e}"));
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
    }
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// A repository with two commits: `src/lib.rs` and `docs/a/b/guide.md`
/// first, then `README.md` alone (message "Second\n\nWith a body.").
fn repo() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let dir = tmp.path();
    git(dir, &["init", "-q"]);
    write(dir, "src/lib.rs", "// lib\n");
    write(dir, "docs/a/b/guide.md", "# guide\n");
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "First"]);
    write(dir, "README.md", "hello\n");
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "Second\n\nWith a body."]);
    tmp
}

fn load(dir: &Path, yaml: &str) -> Pipeline {
    write(dir, ".gitlab-ci.yml", yaml);
    match dialect::load_with(&dir.join(".gitlab-ci.yml"), &LoadOptions::default()) {
        Ok(l) => l.pipeline,
        Err(e) => panic!("{:#?}", e.diagnostics),
    }
}

/// Whether job `name` is in the pipeline with these files: not `never`.
fn runs(p: &Pipeline, name: &str) -> bool {
    let job = p
        .job(name)
        .unwrap_or_else(|| panic!("no job {name}: {:#?}", p.jobs));
    job.when != When::Never && job.condition.is_none()
}

const VARS: &str = "
show:
  script: [env]
";

#[test]
fn commit_variables_follow_head() {
    let tmp = repo();
    let dir = tmp.path();
    let p = load(dir, VARS);
    let env = &p.jobs[0].env;
    assert_eq!(env.get("CI_COMMIT_TITLE"), Some("Second"));
    assert_eq!(env.get("CI_COMMIT_MESSAGE"), Some("Second\n\nWith a body."));
    assert_eq!(env.get("CI_COMMIT_DESCRIPTION"), Some("With a body."));
    assert_eq!(env.get("CI_COMMIT_BRANCH"), Some("main"));
    assert_eq!(env.get("CI_DEFAULT_BRANCH"), Some("main"));
    assert_eq!(env.get("CI_COMMIT_TAG"), None, "HEAD is at no tag");

    // An annotated tag on HEAD, detached: a tag pipeline.
    git(dir, &["tag", "-a", "v1.0", "-m", "release"]);
    git(dir, &["checkout", "-q", "--detach"]);
    let p = load(dir, VARS);
    let env = &p.jobs[0].env;
    assert_eq!(env.get("CI_COMMIT_TAG"), Some("v1.0"));
    assert_eq!(env.get("CI_COMMIT_REF_NAME"), Some("v1.0"));
    assert_eq!(env.get("CI_COMMIT_BRANCH"), None);

    // One commit later the tag is no longer at HEAD.
    write(dir, "more.txt", "more\n");
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "Third"]);
    let p = load(dir, VARS);
    assert_eq!(p.jobs[0].env.get("CI_COMMIT_TAG"), None);
    assert_eq!(p.jobs[0].env.get("CI_COMMIT_TITLE"), Some("Third"));
}

const RULES: &str = r#"
exists-deep:
  script: [x]
  rules:
    - exists: ["docs/**/*.md"]
exists-star-stays-in-its-directory:
  script: [x]
  rules:
    - exists: ["docs/*.md"]
exists-map:
  script: [x]
  rules:
    - exists: {paths: [src/lib.rs]}
exists-ignored:
  script: [x]
  rules:
    - exists: ["target/**/*.o"]
readme-changed:
  script: [x]
  rules:
    - changes: [README.md]
src-changed:
  script: [x]
  rules:
    - changes: ["src/**/*"]
src-changed-since-first:
  script: [x]
  rules:
    - changes:
        paths: ["src/**/*"]
        compare_to: first
never-when-readme-changed:
  script: [x]
  rules:
    - changes: [README.md]
      when: never
    - when: on_success
"#;

#[test]
fn exists_and_changes_follow_the_checkout() {
    let tmp = repo();
    let dir = tmp.path();
    git(dir, &["tag", "first", "HEAD~1"]);
    // Ignored files are not the repository's: `exists` does not see them.
    write(dir, ".git/info/exclude", "target/\n");
    write(dir, "target/debug/x.o", "");
    let p = load(dir, RULES);
    assert!(!runs(&p, "exists-ignored"));
    assert!(runs(&p, "exists-deep"), "`**` crosses directories");
    assert!(!runs(&p, "exists-star-stays-in-its-directory"));
    assert!(runs(&p, "exists-map"));
    // HEAD changed README.md only; nothing is uncommitted (but the
    // pipeline file itself, which is untracked).
    assert!(runs(&p, "readme-changed"));
    assert!(!runs(&p, "src-changed"));
    assert!(!runs(&p, "src-changed-since-first"));
    assert!(!runs(&p, "never-when-readme-changed"));

    // An uncommitted change counts.
    write(dir, "src/lib.rs", "// changed\n");
    let p = load(dir, RULES);
    assert!(runs(&p, "src-changed"));
    assert!(runs(&p, "src-changed-since-first"));
}

#[test]
fn compare_to_must_name_a_revision() {
    let tmp = repo();
    let dir = tmp.path();
    write(
        dir,
        ".gitlab-ci.yml",
        "job:\n  script: [x]\n  rules:\n    - changes:\n        paths: [src/*]\n        compare_to: no-such-branch\n",
    );
    let err = match dialect::load_with(&dir.join(".gitlab-ci.yml"), &LoadOptions::default()) {
        Ok(_) => panic!("a missing compare_to ref must be an error"),
        Err(e) => e,
    };
    let text: Vec<String> = err.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(
        text.iter().any(
            |d| d.contains("`no-such-branch` is not a branch, tag or commit")
                && d.contains(":6:21")
        ),
        "{text:#?}"
    );
}

#[test]
fn outside_a_repository_changes_is_true_and_exists_looks_at_the_directory() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    write(tmp.path(), "a/b/c.txt", "");
    let p = load(
        tmp.path(),
        "\
changed:
  script: [x]
  rules:
    - changes: [nothing/*]
deep:
  script: [x]
  rules:
    - exists: [\"**/c.txt\"]
shallow:
  script: [x]
  rules:
    - exists: [\"*/c.txt\"]
",
    );
    assert!(
        runs(&p, "changed"),
        "GitLab: changes is true without a push to compare"
    );
    assert!(runs(&p, "deep"));
    assert!(!runs(&p, "shallow"), "`*` stays within one directory");
}
