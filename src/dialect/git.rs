//! What the local git repository says about the commit being run, read
//! straight from `.git` (no `git` process: loading a pipeline stays in the
//! millisecond range).
//!
//! Dialects turn this into their predefined variables (GitLab's
//! `CI_COMMIT_SHA`, `CI_COMMIT_BRANCH`, ...). Anything that cannot be read
//! (no repository, a packed or unusual layout) is simply left out.

use std::path::{Path, PathBuf};

/// The commit checked out in the repository around a pipeline file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitInfo {
    /// The working tree's top directory.
    pub root: Option<PathBuf>,
    /// The full commit id of `HEAD`.
    pub sha: Option<String>,
    /// The branch `HEAD` points at; `None` when detached.
    pub branch: Option<String>,
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
    GitInfo {
        root: Some(root),
        sha,
        branch,
    }
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
