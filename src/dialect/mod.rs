//! Pipeline dialects: find the pipeline file, tell its format, and parse it
//! into the [`model`](crate::model).
//!
//! Each dialect lives in its own module and produces a [`Pipeline`]; nothing
//! after this layer knows which format a pipeline was written in.

mod detect;
pub mod git;
pub mod github;
pub mod gitlab;
mod matrix;
pub mod native;
pub mod reader;

pub use detect::{DiscoverError, detect, discover};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::Diagnostic;
use crate::model::{Dialect, Env, Loc, Located, Pipeline};

/// What the command line tells the dialect parsers (the native dialect
/// needs none of it).
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--env K=V`: variables above every level the file sets. GitLab
    /// `rules`, `workflow:rules` and variable expansion see them.
    pub env: Env,
    /// `--include-dir DIR`: where GitLab `include: remote/project/template/
    /// component` files are looked up, since nestci does not fetch them.
    pub include_dirs: Vec<PathBuf>,
    /// `--event NAME`: the event that started the pipeline (GitLab's
    /// `CI_PIPELINE_SOURCE`, GitHub's `github.event_name`; default `push`).
    pub event: Option<String>,
    /// `--event-file PATH`: the event's payload (a JSON object), for
    /// GitHub's `github.event` and a `workflow_dispatch`'s `inputs`.
    pub event_payload: Option<serde_json::Value>,
    /// `--platform LABEL=IMAGE`: GitHub `runs-on` labels to images.
    pub platforms: Vec<(String, String)>,
    /// `--host-path DIR`: host directories every job of the `host` image
    /// sees read-only, added to each job's `host_paths` whatever the
    /// dialect, so the policy engine judges them like the file's own.
    pub host_paths: Vec<String>,
    /// `--secret K=V` and `--secret-file`: a GitHub workflow's `secrets`
    /// context; GitLab (and native) pipelines see them as variables,
    /// below `--env`, like GitLab's masked project variables.
    pub secrets: Env,
}

impl LoadOptions {
    /// The variables a GitLab or native pipeline gets from the command
    /// line: the secrets, with `--env` over them.
    pub fn variables(&self) -> Env {
        self.secrets.with(&self.env)
    }
}

/// A pipeline read from a file, with the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub pipeline: Pipeline,
    pub warnings: Vec<Diagnostic>,
    /// The file's text, for rendering diagnostics with snippets.
    pub text: Arc<str>,
}

/// A pipeline that could not be read: every error found, plus warnings.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} in {}", count(.diagnostics), .file.display())]
pub struct LoadError {
    pub file: PathBuf,
    pub diagnostics: Vec<Diagnostic>,
    /// The file's text when it could be read.
    pub text: Option<Arc<str>>,
}

fn count(diagnostics: &[Diagnostic]) -> String {
    let n = diagnostics.iter().filter(|d| d.is_error()).count();
    if n == 1 {
        "1 error".into()
    } else {
        format!("{n} errors")
    }
}

/// Read and parse the pipeline file at `path`.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    load_with(path, &LoadOptions::default())
}

/// Read and parse the pipeline file at `path` with command-line options.
pub fn load_with(path: &Path, options: &LoadOptions) -> Result<Loaded, LoadError> {
    match std::fs::read_to_string(path) {
        Ok(text) => load_str_with(path, &text, options),
        Err(e) => Err(LoadError {
            file: path.to_path_buf(),
            diagnostics: vec![Diagnostic::error(
                format!("cannot read {}: {e}", path.display()),
                None,
            )
            .with_help("check the path; without one nestci looks for .gitlab-ci.yml, .github/workflows/ and pipelines/")],
            text: None,
        }),
    }
}

/// Parse pipeline text as if it were read from `path`.
pub fn load_str(path: &Path, text: &str) -> Result<Loaded, LoadError> {
    load_str_with(path, text, &LoadOptions::default())
}

/// Parse pipeline text as if it were read from `path`, with options.
pub fn load_str_with(path: &Path, text: &str, options: &LoadOptions) -> Result<Loaded, LoadError> {
    let file = Arc::new(path.to_path_buf());
    let source: Arc<str> = Arc::from(text);
    let fail = |diagnostics: Vec<Diagnostic>| LoadError {
        file: path.to_path_buf(),
        diagnostics,
        text: Some(Arc::clone(&source)),
    };

    let doc = match crate::yaml::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let loc = e.span.map(|s| Loc::new(&file, s));
            let mut d = Diagnostic::error(format!("invalid YAML: {}", e.message), loc);
            d.help = e.help;
            return Err(fail(vec![d]));
        }
    };

    let mut reader = reader::Reader::new(Arc::clone(&file));
    for w in &doc.warnings {
        let mut d = Diagnostic::warning(w.message.clone(), Some(reader.loc(w.span)));
        d.help = w.help.clone();
        reader.diagnostics.push(d);
    }

    let pipeline =
        match detect(path, &doc.root) {
            Dialect::Native => native::parse(&doc.root, &mut reader),
            Dialect::GitLab => {
                let options = LoadOptions {
                    env: options.variables(),
                    ..options.clone()
                };
                gitlab::parse(&doc.root, &mut reader, &options)
            }
            Dialect::GitHub => {
                // GitHub reads anchors and aliases (since September 2025) but
                // refuses merge keys; a file that uses one fails there.
                if let Some(span) = crate::yaml::find_merge_key(text) {
                    reader
                    .error(span, "GitHub Actions does not support YAML merge keys (`<<`)")
                    .set_label("merge key")
                    .set_help(
                        "GitHub accepts anchors (`&name`) and aliases (`*name`) for whole values, \
                         not merging one mapping into another: use `*name` for the whole value, \
                         or write the keys out",
                    );
                }
                github::parse(&doc.root, &mut reader, options)
            }
        };

    let mut pipeline = pipeline;
    if let Some(pipeline) = &mut pipeline {
        for job in &mut pipeline.jobs {
            for dir in &options.host_paths {
                if !job.host_paths.iter().any(|h| &h.value == dir) {
                    let loc = Loc::synthetic(&format!("--host-path {dir}"));
                    job.host_paths.push(Located::new(dir.clone(), loc));
                }
            }
        }
    }

    let (mut errors, mut warnings): (Vec<_>, Vec<_>) = reader
        .diagnostics
        .into_iter()
        .partition(Diagnostic::is_error);
    // Report in file order; a warning at the very place of an error (a
    // repeated job name is both) says nothing the error does not.
    let at = |d: &Diagnostic| d.loc.as_ref().map(|l| l.span);
    errors.sort_by_key(at);
    warnings.sort_by_key(at);
    warnings.retain(|w| !errors.iter().any(|e| e.loc.is_some() && e.loc == w.loc));
    match pipeline {
        Some(pipeline) if errors.is_empty() => Ok(Loaded {
            pipeline,
            warnings,
            text: source,
        }),
        _ => {
            let mut all = errors;
            all.extend(warnings);
            Err(fail(all))
        }
    }
}
