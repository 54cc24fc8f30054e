//! The files a step writes to pass values on ([`StepFiles`]): where they
//! live, and how they are read.
//!
//! Each step gets fresh, empty files under
//! `<workspace>/.nestci/steps/<run>/<job>/<step>/`, which the containers
//! see through the workspace mount at `/workspace/.nestci/...`; the
//! variables named in [`StepFiles`] hold those in-container paths. After
//! the step the runner reads them back:
//!
//! ```text
//! NAME=value                one variable (or output) per line
//! NAME<<EOF                 a value of several lines, up to the line
//! line 1                    that is exactly the delimiter
//! line 2
//! EOF
//! ```
//!
//! Empty lines are ignored; anything else is an error that fails the step,
//! as on GitHub. The path file holds one directory per line.

use std::path::{Path, PathBuf};

use crate::model::StepFiles;

/// A line of a step file that is not `NAME=value` nor a `NAME<<DELIM`
/// block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct FileError {
    /// Counted from 1.
    pub line: usize,
    pub message: String,
}

/// Parse `NAME=value` lines and `NAME<<DELIM` blocks, in order.
pub fn parse_pairs(text: &str) -> Result<Vec<(String, String)>, FileError> {
    let mut out = Vec::new();
    let mut lines = text.split('\n').enumerate();
    while let Some((i, raw)) = lines.next() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        let err = |message: String| FileError {
            line: i + 1,
            message,
        };
        // Whichever of `=` and `<<` comes first decides the form, so a
        // value may contain the other.
        let eq = line.find('=');
        let heredoc = line.find("<<");
        let (name, value) = match (eq, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => (&line[..e], line[e + 1..].to_string()),
            (_, Some(h)) => {
                let delimiter = &line[h + 2..];
                if delimiter.is_empty() {
                    return Err(err(format!(
                        "`{line}` has no delimiter after `<<`; write `NAME<<EOF`"
                    )));
                }
                let mut body: Vec<&str> = Vec::new();
                let mut closed = false;
                for (_, raw) in lines.by_ref() {
                    let l = raw.strip_suffix('\r').unwrap_or(raw);
                    if l == delimiter {
                        closed = true;
                        break;
                    }
                    body.push(l);
                }
                if !closed {
                    return Err(err(format!(
                        "the value started by `{line}` has no line `{delimiter}` that ends it"
                    )));
                }
                (&line[..h], body.join("\n"))
            }
            _ => {
                return Err(err(format!(
                    "`{line}` is neither `NAME=value` nor `NAME<<DELIMITER`"
                )));
            }
        };
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            return Err(err(format!(
                "`{name}` is not a valid name (in `{line}`); names have no spaces and are not empty"
            )));
        }
        out.push((name.to_string(), value));
    }
    Ok(out)
}

/// The directories of a path file: one per non-empty line.
pub fn parse_paths(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Which file of a step: the four kinds of [`StepFiles`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Env,
    Output,
    Path,
    Summary,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Env, Kind::Output, Kind::Path, Kind::Summary];

    fn file_name(self) -> &'static str {
        match self {
            Kind::Env => "env",
            Kind::Output => "output",
            Kind::Path => "path",
            Kind::Summary => "summary.md",
        }
    }

    /// The variable that names this file to the step, if offered.
    pub fn variable(self, files: &StepFiles) -> Option<&str> {
        match self {
            Kind::Env => files.env.as_deref(),
            Kind::Output => files.output.as_deref(),
            Kind::Path => files.path.as_deref(),
            Kind::Summary => files.summary.as_deref(),
        }
    }
}

/// One job's step files: the directory on the host and in the container.
#[derive(Debug, Clone)]
pub struct Dir {
    /// `<workspace>/.nestci/steps/<run>/<job>`.
    pub host: PathBuf,
    /// The same directory as the job's containers see it.
    pub container: String,
}

impl Dir {
    /// The directory of job `job_file_name` (a name safe as a file name).
    pub fn new(workspace: &Path, run_id: &str, job_file_name: &str) -> Dir {
        let rel = format!(".nestci/steps/{run_id}/{job_file_name}");
        Dir {
            host: workspace.join(&rel),
            container: format!("{}/{rel}", crate::backend::WORKSPACE),
        }
    }

    /// Create empty files for step `n` (from 1); return the host path and
    /// container path of each offered kind.
    pub fn create(
        &self,
        n: usize,
        files: &StepFiles,
    ) -> std::io::Result<Vec<(Kind, PathBuf, String)>> {
        use std::os::unix::fs::PermissionsExt;
        let host_dir = self.host.join(n.to_string());
        std::fs::create_dir_all(&host_dir)?;
        // Steps may run as any user of the image: let them write.
        std::fs::set_permissions(&host_dir, std::fs::Permissions::from_mode(0o777))?;
        let mut out = Vec::new();
        for kind in Kind::ALL {
            if kind.variable(files).is_none() {
                continue;
            }
            let host = host_dir.join(kind.file_name());
            std::fs::write(&host, b"")?;
            std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o666))?;
            let container = format!("{}/{n}/{}", self.container, kind.file_name());
            out.push((kind, host, container));
        }
        Ok(out)
    }

    /// Remove the job's directory, and the run's and `steps` directories
    /// when nothing else is left in them.
    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.host);
        if let Some(run) = self.host.parent() {
            let _ = std::fs::remove_dir(run);
            if let Some(steps) = run.parent() {
                let _ = std::fs::remove_dir(steps);
            }
        }
    }
}

/// The `PATH` a step gets once earlier steps added `dirs` (the newest
/// first): in front of `current`, or of the usual Linux default when the
/// job sets none (the image's own `PATH` is not known here).
pub fn path_with(dirs: &[String], current: Option<&str>) -> String {
    const DEFAULT: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    let mut parts: Vec<&str> = dirs.iter().rev().map(String::as_str).collect();
    parts.push(current.unwrap_or(DEFAULT));
    parts.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        match parse_pairs(text) {
            Ok(p) => p,
            Err(e) => panic!("{text:?}: {e}"),
        }
    }

    #[test]
    fn simple_lines_in_order_with_blank_lines_ignored() {
        assert_eq!(
            pairs("A=1\n\nB=two words\r\nC=\nD=x=y<<z\n"),
            [
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), String::new()),
                ("D".into(), "x=y<<z".into()),
            ]
        );
    }

    #[test]
    fn heredoc_values_span_lines_up_to_the_delimiter() {
        assert_eq!(
            pairs("NOTES<<EOF\nline 1\n\nline=3\nEOF\nNEXT=1\n"),
            [
                ("NOTES".into(), "line 1\n\nline=3".into()),
                ("NEXT".into(), "1".into()),
            ]
        );
        // An empty block is an empty value; `<<` before `=` is a heredoc.
        assert_eq!(
            pairs("E<<ghadelimiter_1\nghadelimiter_1\nJ<<X=Y\na\nX=Y\n"),
            [("E".into(), String::new()), ("J".into(), "a".into())]
        );
    }

    #[test]
    fn malformed_lines_are_errors_with_their_line() {
        let e = parse_pairs("A=1\njust words\n").err();
        assert_eq!(e.as_ref().map(|e| e.line), Some(2), "{e:?}");
        assert!(
            e.is_some_and(|e| e.message.contains("neither `NAME=value`")),
            "message"
        );
        let open = parse_pairs("A<<EOF\nno end\n").err();
        assert_eq!(open.as_ref().map(|e| e.line), Some(1));
        assert!(open.is_some_and(|e| e.message.contains("no line `EOF`")));
        assert!(parse_pairs("=value\n").is_err(), "empty name");
        assert!(parse_pairs("A B=1\n").is_err(), "space in name");
        assert!(parse_pairs("A<<\n").is_err(), "no delimiter");
    }

    #[test]
    fn paths_go_in_front_newest_first() {
        let dirs = parse_paths("/opt/a\n\n/opt/b\n");
        assert_eq!(dirs, ["/opt/a", "/opt/b"]);
        assert_eq!(path_with(&dirs, Some("/bin")), "/opt/b:/opt/a:/bin");
        assert!(path_with(&[], None).ends_with(":/bin"));
    }

    #[test]
    fn files_are_created_empty_and_named_for_the_container() {
        let ws = tempfile::tempdir().expect("tempdir");
        let dir = Dir::new(ws.path(), "r1", "build");
        let files = StepFiles {
            env: Some("E".into()),
            output: Some("O".into()),
            path: None,
            summary: Some("S".into()),
        };
        let made = dir.create(2, &files).expect("create");
        let kinds: Vec<Kind> = made.iter().map(|(k, _, _)| *k).collect();
        assert_eq!(kinds, [Kind::Env, Kind::Output, Kind::Summary]);
        assert_eq!(made[0].2, "/workspace/.nestci/steps/r1/build/2/env");
        assert_eq!(std::fs::read(&made[1].1).ok(), Some(Vec::new()));
        dir.remove();
        assert!(
            !ws.path().join(".nestci/steps").exists(),
            "empty parents are removed"
        );
    }
}
