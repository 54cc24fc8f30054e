//! What the local git repository says about the commit being run, read
//! straight from `.git` (no `git` process: loading a pipeline stays in the
//! millisecond range).
//!
//! Dialects turn this into their predefined variables (GitLab's
//! `CI_COMMIT_SHA`, `CI_COMMIT_BRANCH`, ...). Anything that cannot be read
//! (no repository, a packed or unusual layout) is simply left out.
//!
//! Two questions need git's object database, which `.git` alone does not
//! answer without a zlib and pack-file reader: what the commit says (its
//! message, the tags on it — [`commit`]) and which files changed
//! ([`changed_files`]). For those nestci runs the `git` program, only
//! when a dialect asks (GitLab does, for its variables and
//! `rules:changes`), and treats a missing `git` like a missing repository.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The commit checked out in the repository around a pipeline file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitInfo {
    /// The working tree's top directory.
    pub root: Option<PathBuf>,
    /// The full commit id of `HEAD`.
    pub sha: Option<String>,
    /// The branch `HEAD` points at; `None` when detached.
    pub branch: Option<String>,
    /// The remote's default branch (`origin/HEAD`), else `main` or
    /// `master` when such a branch exists.
    pub default_branch: Option<String>,
}

/// What `HEAD`'s commit says, read with `git log` (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commit {
    /// The full message.
    pub message: String,
    /// The tags pointing exactly at `HEAD` (lightweight or annotated),
    /// sorted by name.
    pub tags: Vec<String>,
}

/// Read `HEAD`'s commit of the repository at `root`; `None` when there is
/// no `git`, no repository or no commit yet.
pub fn commit(root: &Path) -> Option<Commit> {
    // `%D`: the refs on the commit (`HEAD -> main, tag: v1, origin/main`);
    // NUL separates them from the message, which may contain anything else.
    let out = git(
        root,
        &["log", "-1", "--no-color", "--format=%D%x00%B", "HEAD"],
    )
    .ok()?;
    let (refs, message) = out.split_once('\0')?;
    let mut tags: Vec<String> = refs
        .split(", ")
        .filter_map(|r| r.trim().strip_prefix("tag: "))
        .map(str::to_string)
        .collect();
    tags.sort();
    Some(Commit {
        message: message.trim_end().to_string(),
        tags,
    })
}

/// The files, relative to `dir`, that changed locally: with `compare_to`,
/// every difference between that revision and the working tree; without,
/// the uncommitted changes (working tree and index against `HEAD`) plus
/// the files the `HEAD` commit itself changed. Untracked files (not
/// ignored) count as changed in both cases. `Ok(None)` when `dir` is not
/// in a git repository (or there is no `git`); `Err` with git's own words
/// when `compare_to` names no revision.
pub fn changed_files(dir: &Path, compare_to: Option<&str>) -> Result<Option<Vec<String>>, String> {
    if inspect(dir).root.is_none() || git(dir, &["--version"]).is_err() {
        return Ok(None);
    }
    let mut files = Vec::new();
    let mut add = |out: String| {
        files.extend(
            out.split('\0')
                .filter(|f| !f.is_empty())
                .map(str::to_string),
        )
    };
    match compare_to {
        Some(base) => {
            // `--end-of-options`: a ref from the file is never an option.
            let rev = format!("{base}^{{commit}}");
            git(
                dir,
                &["rev-parse", "--verify", "--quiet", "--end-of-options", &rev],
            )
            .map_err(|_| format!("`{base}` is not a branch, tag or commit of this repository"))?;
            add(git(
                dir,
                &[
                    "diff",
                    "--name-only",
                    "-z",
                    "--relative",
                    "--end-of-options",
                    &rev,
                ],
            )?);
        }
        None => {
            // No commit yet: everything is new, and `ls-files` below lists it.
            if git(dir, &["rev-parse", "--verify", "--quiet", "HEAD"]).is_ok() {
                add(git(
                    dir,
                    &["diff", "--name-only", "-z", "--relative", "HEAD"],
                )?);
                add(git(
                    dir,
                    &[
                        "diff-tree",
                        "--no-commit-id",
                        "--name-only",
                        "-z",
                        "-r",
                        "--root",
                        "--relative",
                        "HEAD",
                    ],
                )?);
            }
        }
    }
    add(git(
        dir,
        &["ls-files", "--others", "--exclude-standard", "-z"],
    )?);
    files.sort();
    files.dedup();
    Ok(Some(files))
}

/// The files of the project under `dir`, relative to it, as GitLab's
/// `rules:exists` sees a repository: tracked files plus untracked ones that
/// are not ignored (so `target/` and the like are not searched). `None`
/// outside a git repository.
pub fn project_files(dir: &Path) -> Option<Vec<String>> {
    inspect(dir).root.as_ref()?;
    let out = git(
        dir,
        &[
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "-z",
        ],
    )
    .ok()?;
    Some(
        out.split('\0')
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

/// Run `git` in `dir`; its standard output, or its standard error as the
/// reason it failed.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "core.quotePath=false"])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Look for a repository at `start` or above it and read its `HEAD`.
pub fn inspect(start: &Path) -> GitInfo {
    let Some((root, git_dir)) = find_git_dir(start) else {
        return GitInfo::default();
    };
    // A linked worktree keeps HEAD in its own git dir and the refs in the
    // common dir named by `commondir`.
    let common = std::fs::read_to_string(git_dir.join("commondir"))
        .ok()
        .map(|c| git_dir.join(c.trim()))
        .unwrap_or_else(|| git_dir.clone());
    let head = std::fs::read_to_string(git_dir.join("HEAD")).unwrap_or_default();
    let head = head.trim();
    let (sha, branch) = match head.strip_prefix("ref: ") {
        Some(reference) => {
            let branch = reference.strip_prefix("refs/heads/").map(str::to_string);
            (resolve_ref(&git_dir, &common, reference), branch)
        }
        None if is_sha(head) => (Some(head.to_string()), None),
        None => (None, None),
    };
    let default_branch = default_branch(&git_dir, &common);
    GitInfo {
        root: Some(root),
        sha,
        branch,
        default_branch,
    }
}

/// `origin/HEAD`'s target, else `main` or `master` if that branch exists.
fn default_branch(git_dir: &Path, common: &Path) -> Option<String> {
    let origin = std::fs::read_to_string(common.join("refs/remotes/origin/HEAD")).ok();
    if let Some(branch) = origin
        .as_deref()
        .and_then(|t| t.trim().strip_prefix("ref: refs/remotes/origin/"))
    {
        return Some(branch.to_string());
    }
    ["main", "master"]
        .into_iter()
        .find(|b| resolve_ref(git_dir, common, &format!("refs/heads/{b}")).is_some())
        .map(str::to_string)
}

fn find_git_dir(start: &Path) -> Option<(PathBuf, PathBuf)> {
    let start = start.canonicalize().ok()?;
    for dir in start.ancestors() {
        let dot_git = dir.join(".git");
        if dot_git.is_dir() {
            return Some((dir.to_path_buf(), dot_git));
        }
        if dot_git.is_file() {
            let text = std::fs::read_to_string(&dot_git).ok()?;
            let target = text.trim().strip_prefix("gitdir:")?.trim();
            return Some((dir.to_path_buf(), dir.join(target)));
        }
    }
    None
}

fn resolve_ref(git_dir: &Path, common: &Path, reference: &str) -> Option<String> {
    for dir in [git_dir, common] {
        if let Ok(text) = std::fs::read_to_string(dir.join(reference)) {
            let sha = text.trim();
            if is_sha(sha) {
                return Some(sha.to_string());
            }
        }
    }
    let packed = std::fs::read_to_string(common.join("packed-refs")).ok()?;
    packed.lines().find_map(|line| {
        let (sha, name) = line.split_once(' ')?;
        (name == reference && is_sha(sha)).then(|| sha.to_string())
    })
}

fn is_sha(s: &str) -> bool {
    s.len() >= 40 && s.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_branch_and_sha_of_a_worktree_layout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let git = dir.path().join(".git");
        std::fs::create_dir_all(git.join("refs/heads")).expect("mkdir");
        std::fs::write(git.join("HEAD"), "ref: refs/heads/feature/x\n").expect("write");
        std::fs::create_dir_all(git.join("refs/heads/feature")).expect("mkdir");
        let sha = "0123456789abcdef0123456789abcdef01234567";
        std::fs::write(git.join("refs/heads/feature/x"), format!("{sha}\n")).expect("write");
        let sub = dir.path().join("sub");
        std::fs::create_dir_all(&sub).expect("mkdir");
        let info = inspect(&sub);
        assert_eq!(info.branch.as_deref(), Some("feature/x"));
        assert_eq!(info.sha.as_deref(), Some(sha));
    }

    #[test]
    fn packed_refs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let git = dir.path().join(".git");
        std::fs::create_dir_all(&git).expect("mkdir");
        std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").expect("write");
        let sha = "89abcdef0123456789abcdef0123456789abcdef";
        std::fs::write(
            git.join("packed-refs"),
            format!("# pack\n{sha} refs/heads/main\n"),
        )
        .expect("write");
        assert_eq!(inspect(dir.path()).sha.as_deref(), Some(sha));
    }
}
