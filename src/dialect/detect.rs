//! Which dialect a file is written in, and which file to read when the user
//! names none.

use std::path::{Path, PathBuf};

use crate::model::Dialect;
use crate::yaml::{Node, Value};

/// Tell a file's dialect from its path first (`.gitlab-ci.yml`,
/// `.github/workflows/`), then from its shape: GitHub workflows have `on`
/// and jobs with `runs-on`; native pipelines have `jobs` whose entries have
/// `steps`; anything else is taken as GitLab (jobs at the top level).
pub fn detect(path: &Path, root: &Node) -> Dialect {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name == ".gitlab-ci.yml" || name.ends_with(".gitlab-ci.yml") {
        return Dialect::GitLab;
    }
    let in_workflows = path
        .parent()
        .is_some_and(|p| p.ends_with(".github/workflows"));
    if in_workflows {
        return Dialect::GitHub;
    }
    let Some(top) = root.as_map() else {
        return Dialect::Native;
    };
    if top.get("on").is_some() {
        return Dialect::GitHub;
    }
    match top.get("jobs").map(|j| &j.value) {
        Some(Value::Map(jobs)) => {
            let github = jobs
                .iter()
                .any(|(_, j)| j.as_map().is_some_and(|m| m.get("runs-on").is_some()));
            if github {
                Dialect::GitHub
            } else {
                Dialect::Native
            }
        }
        Some(_) => Dialect::Native,
        None if top.get("stages").is_some()
            || top
                .iter()
                .any(|(_, v)| v.as_map().is_some_and(|m| m.get("script").is_some())) =>
        {
            Dialect::GitLab
        }
        None => Dialect::Native,
    }
}

/// No pipeline file could be chosen.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoverError {
    #[error("no pipeline file found in {}", .0.display())]
    NotFound(PathBuf),
    #[error("{} holds several pipelines: {}", .dir.display(), list(.candidates))]
    Ambiguous {
        dir: PathBuf,
        candidates: Vec<PathBuf>,
    },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl DiscoverError {
    pub fn help(&self) -> &'static str {
        match self {
            DiscoverError::NotFound(_) => {
                "name a file (nestci run path/to/pipeline.yml), or add .gitlab-ci.yml, \
                 .github/workflows/*.yml or pipelines/*.yml"
            }
            DiscoverError::Ambiguous { .. } => "name the one to use: nestci run <file>",
        }
    }
}

/// Find the pipeline file the way users expect: an explicit path (a file,
/// or a directory to search), else `.gitlab-ci.yml`, else the one workflow
/// in `.github/workflows/`, else `pipelines/` (its `ci.yml` when there are
/// several).
pub fn discover(explicit: Option<&Path>, cwd: &Path) -> Result<PathBuf, DiscoverError> {
    let dir = match explicit {
        Some(p) if !p.is_dir() => return Ok(p.to_path_buf()),
        Some(p) => p.to_path_buf(),
        None => cwd.to_path_buf(),
    };
    let gitlab = dir.join(".gitlab-ci.yml");
    if gitlab.is_file() {
        return Ok(gitlab);
    }
    for (sub, preferred) in [(".github/workflows", None), ("pipelines", Some("ci.yml"))] {
        let files = yaml_files(&dir.join(sub));
        match files.len() {
            0 => continue,
            1 => return Ok(files[0].clone()),
            _ => {
                if let Some(p) = preferred.map(|p| dir.join(sub).join(p))
                    && files.contains(&p)
                {
                    return Ok(p);
                }
                return Err(DiscoverError::Ambiguous {
                    dir: dir.join(sub),
                    candidates: files,
                });
            }
        }
    }
    Err(DiscoverError::NotFound(dir))
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yml") | Some("yaml")
                )
        })
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn d(path: &str, text: &str) -> Dialect {
        detect(Path::new(path), &parse(text).unwrap().root)
    }

    #[test]
    fn dialects() {
        assert_eq!(d("x/.gitlab-ci.yml", "a: 1"), Dialect::GitLab);
        assert_eq!(d("r/.github/workflows/ci.yml", "jobs: {}"), Dialect::GitHub);
        assert_eq!(d("p.yml", "on: push\njobs: {}"), Dialect::GitHub);
        assert_eq!(d("p.yml", "jobs: {a: {steps: [x]}}"), Dialect::Native);
        assert_eq!(d("p.yml", "stages: [a]\nj: {script: [x]}"), Dialect::GitLab);
    }

    #[test]
    fn discovery_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert!(matches!(
            discover(None, root),
            Err(DiscoverError::NotFound(_))
        ));
        std::fs::create_dir_all(root.join("pipelines")).unwrap();
        std::fs::write(root.join("pipelines/a.yml"), "").unwrap();
        std::fs::write(root.join("pipelines/b.yml"), "").unwrap();
        assert!(matches!(
            discover(None, root),
            Err(DiscoverError::Ambiguous { .. })
        ));
        std::fs::write(root.join("pipelines/ci.yml"), "").unwrap();
        assert_eq!(discover(None, root).unwrap(), root.join("pipelines/ci.yml"));
        std::fs::create_dir_all(root.join(".github/workflows")).unwrap();
        std::fs::write(root.join(".github/workflows/w.yml"), "").unwrap();
        assert_eq!(
            discover(None, root).unwrap(),
            root.join(".github/workflows/w.yml")
        );
        std::fs::write(root.join(".gitlab-ci.yml"), "").unwrap();
        assert_eq!(discover(None, root).unwrap(), root.join(".gitlab-ci.yml"));
        let explicit = root.join("pipelines/a.yml");
        assert_eq!(discover(Some(&explicit), root).unwrap(), explicit);
    }
}
