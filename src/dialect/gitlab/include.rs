//! `include`: configuration from other files, merged under the main file.
//!
//! `include: local` (a path from the project root, with `*` and `**`
//! wildcards matched by the `glob` crate) is read, recursively. The kinds
//! that need a GitLab server or the network — `remote`, `project`,
//! `template`, `component` — are not fetched. Each can be mapped to a
//! local file:
//!
//! - `--include-dir DIR`: nestci looks for `DIR/<file name>` (and, for
//!   `project`, `DIR/<project>/<file>`);
//! - `.nestci/includes.yml` in the project: a mapping from what the include
//!   names (the URL, the template name, `group/project:path/file.yml`, the
//!   component) to a local path.
//!
//! An include that cannot be mapped is a warning at its location; `list`
//! and `validate` go on with what is local, and what may have come from the
//! missing file (an `extends` or `!reference` target) is then a warning too.
//!
//! Merging follows GitLab: included files in order, then the main file on
//! top, mappings merged deeply (a job partly redefined in the main file
//! keeps the included job's other keys).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::super::reader::Reader;
use super::extends::merge_maps;
use crate::diag::Diagnostic;
use crate::model::Loc;
use crate::yaml::{Mapping, Node, Value};

/// GitLab's limit on included files per pipeline.
const MAX_FILES: usize = 150;
const INCLUDE_KEYS: &[&str] = &[
    "local",
    "remote",
    "project",
    "file",
    "ref",
    "template",
    "component",
    "rules",
    "inputs",
    "cache",
    "integrity",
];

/// The configuration after includes.
pub struct Expanded {
    pub top: Mapping,
    /// Top-level keys that were defined in an included file (and not in
    /// the main one): which file, for locating errors in them.
    pub origins: HashMap<String, Arc<PathBuf>>,
    /// Where the first include that could not be read was written.
    pub unresolved: Option<Loc>,
}

struct State<'a> {
    project: &'a Path,
    dirs: &'a [PathBuf],
    seen: HashSet<PathBuf>,
    merged: Mapping,
    origins: HashMap<String, Arc<PathBuf>>,
    unresolved: Option<Loc>,
    mapping_file: Option<Option<HashMap<String, String>>>,
}

/// Read everything `top` includes and merge `top` over it.
pub fn expand(top: &Mapping, r: &mut Reader, project: &Path, dirs: &[PathBuf]) -> Expanded {
    let Some(include) = top.get("include") else {
        return Expanded {
            top: top.clone(),
            origins: HashMap::new(),
            unresolved: None,
        };
    };
    let mut state = State {
        project,
        dirs,
        seen: HashSet::new(),
        merged: Mapping::default(),
        origins: HashMap::new(),
        unresolved: None,
        mapping_file: None,
    };
    state.process(include, r);
    let own = Mapping {
        entries: top
            .entries
            .iter()
            .filter(|(k, _)| k.name != "include")
            .cloned()
            .collect(),
        duplicates: Vec::new(),
    };
    for (k, _) in &own.entries {
        state.origins.remove(&k.name);
    }
    Expanded {
        top: merge_maps(&state.merged, &own),
        origins: state.origins,
        unresolved: state.unresolved,
    }
}

enum Kind {
    Local(String),
    Remote(String),
    Project { project: String, files: Vec<String> },
    Template(String),
    Component(String),
}

impl State<'_> {
    fn process(&mut self, include: &Node, r: &mut Reader) {
        let items: Vec<&Node> = match &include.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![include],
        };
        for item in items {
            let Some(kind) = self.kind(item, r) else {
                continue;
            };
            match kind {
                Kind::Local(pattern) => self.local(&pattern, item, r),
                other => self.external(other, item, r),
            }
        }
    }

    fn kind(&mut self, item: &Node, r: &mut Reader) -> Option<Kind> {
        match &item.value {
            Value::Str(s) if s.starts_with("https://") || s.starts_with("http://") => {
                Some(Kind::Remote(s.clone()))
            }
            Value::Str(s) => Some(Kind::Local(s.clone())),
            Value::Map(m) => {
                r.check_keys(m, INCLUDE_KEYS, "an `include`");
                for key in ["rules", "inputs"] {
                    if let Some((k, _)) = m.entry(key) {
                        r.warning(k.span, format!("`include: {key}` is not supported yet; the file is included unconditionally"));
                    }
                }
                let text = |r: &mut Reader, key: &str| {
                    m.get(key)
                        .and_then(|n| r.nonempty_string(n, &format!("`include: {key}`")))
                };
                if let Some(s) = text(r, "local") {
                    Some(Kind::Local(s))
                } else if let Some(s) = text(r, "remote") {
                    Some(Kind::Remote(s))
                } else if let Some(s) = text(r, "template") {
                    Some(Kind::Template(s))
                } else if let Some(s) = text(r, "component") {
                    Some(Kind::Component(s))
                } else if let Some(project) = text(r, "project") {
                    let files = m
                        .get("file")
                        .map(|n| r.string_list(n, "a file of `include: project`"))
                        .unwrap_or_default()
                        .into_iter()
                        .map(|f| f.value)
                        .collect();
                    Some(Kind::Project { project, files })
                } else {
                    r.error(item.span, "an `include` names no file").set_help(
                        "use `local`, `remote`, `project` + `file`, `template` or `component`",
                    );
                    None
                }
            }
            _ => {
                r.error(
                    item.span,
                    format!(
                        "an `include` must be a path or a mapping, found {}",
                        item.value.kind()
                    ),
                );
                None
            }
        }
    }

    fn local(&mut self, pattern: &str, item: &Node, r: &mut Reader) {
        let relative = pattern.trim_start_matches('/');
        let full = self.project.join(relative);
        if pattern.contains('*') {
            let matches: Vec<PathBuf> = match glob::glob(&full.to_string_lossy()) {
                Ok(paths) => paths
                    .filter_map(Result::ok)
                    .filter(|p| p.is_file())
                    .collect(),
                Err(e) => {
                    r.error(
                        item.span,
                        format!("`{pattern}` is not a valid wildcard: {e}"),
                    );
                    return;
                }
            };
            if matches.is_empty() {
                r.warning(item.span, format!("`include: {pattern}` matches no file"));
            }
            for path in matches {
                self.read_file(&path, item, r);
            }
        } else if full.is_file() {
            self.read_file(&full, item, r);
        } else {
            r.error(
                item.span,
                format!("included file `{pattern}` does not exist"),
            )
            .set_help(format!(
                "local includes are read from the project root ({})",
                self.project.display()
            ));
        }
    }

    fn external(&mut self, kind: Kind, item: &Node, r: &mut Reader) {
        let (what, keys, names): (String, Vec<String>, Vec<String>) = match &kind {
            Kind::Remote(url) => (
                format!("remote `{url}`"),
                vec![url.clone()],
                vec![last_segment(url)],
            ),
            Kind::Template(t) => (
                format!("template `{t}`"),
                vec![t.clone()],
                vec![last_segment(t)],
            ),
            Kind::Component(c) => {
                let base = c.split('@').next().unwrap_or(c);
                (
                    format!("component `{c}`"),
                    vec![c.clone(), base.to_string()],
                    vec![format!("{}.yml", last_segment(base))],
                )
            }
            Kind::Project { project, files } => (
                format!("project `{project}`"),
                files
                    .iter()
                    .map(|f| format!("{project}:{}", f.trim_start_matches('/')))
                    .collect(),
                files
                    .iter()
                    .map(|f| format!("{project}/{}", f.trim_start_matches('/')))
                    .chain(files.iter().map(|f| last_segment(f)))
                    .collect(),
            ),
            Kind::Local(_) => return,
        };
        let mut found = Vec::new();
        let mapping = self.mapping_file(r).cloned().unwrap_or_default();
        for key in &keys {
            if let Some(path) = mapping.get(key) {
                found.push(self.project.join(path));
            }
        }
        if found.is_empty() {
            for dir in self.dirs {
                for name in &names {
                    let p = dir.join(name);
                    if p.is_file() && !found.contains(&p) {
                        found.push(p);
                    }
                }
            }
        }
        if found.is_empty() {
            let loc = r.loc(item.span);
            r.warning(
                item.span,
                format!("the included {what} is not fetched: nestci reads only local files, so its jobs are not in this pipeline"),
            )
            .set_help(format!(
                "save the file locally and pass `--include-dir DIR` (nestci looks for DIR/{}), \
                 or map it in .nestci/includes.yml: `\"{}\": path/to/file.yml`",
                names.first().map(String::as_str).unwrap_or("<file>"),
                keys.first().map(String::as_str).unwrap_or("")
            ));
            self.unresolved.get_or_insert(loc);
            return;
        }
        for path in found {
            self.read_file(&path, item, r);
        }
    }

    fn mapping_file(&mut self, r: &mut Reader) -> Option<&HashMap<String, String>> {
        if self.mapping_file.is_none() {
            let path = self.project.join(".nestci/includes.yml");
            let parsed = std::fs::read_to_string(&path).ok().map(|text| {
                let mut out = HashMap::new();
                match crate::yaml::parse(&text) {
                    Ok(doc) => {
                        for (k, v) in doc
                            .root
                            .as_map()
                            .map(|m| m.entries.clone())
                            .unwrap_or_default()
                        {
                            if let Some(target) = v.scalar_text() {
                                out.insert(k.name, target);
                            }
                        }
                    }
                    Err(e) => r.diagnostics.push(Diagnostic::warning(
                        format!(
                            "{} is not valid YAML ({}); include mappings in it are ignored",
                            path.display(),
                            e.message
                        ),
                        None,
                    )),
                }
                out
            });
            self.mapping_file = Some(parsed);
        }
        self.mapping_file.as_ref().and_then(Option::as_ref)
    }

    fn read_file(&mut self, path: &Path, item: &Node, r: &mut Reader) {
        let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if !self.seen.insert(key) {
            // GitLab includes a file once, however many times it is named.
            return;
        }
        if self.seen.len() > MAX_FILES {
            r.error(
                item.span,
                format!("more than {MAX_FILES} files are included"),
            )
            .set_help("GitLab allows at most 150 included files; check for an include loop");
            return;
        }
        let shown = path.to_path_buf();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                r.error(
                    item.span,
                    format!("cannot read included file {}: {e}", shown.display()),
                );
                return;
            }
        };
        let doc = match crate::yaml::parse(&text) {
            Ok(d) => d,
            Err(e) => {
                let at = e
                    .span
                    .map(|s| format!(":{}:{}", s.line, s.col))
                    .unwrap_or_default();
                r.error(
                    item.span,
                    format!(
                        "included file {}{at} is not valid YAML: {}",
                        shown.display(),
                        e.message
                    ),
                );
                return;
            }
        };
        let file = Arc::new(shown);
        for w in &doc.warnings {
            let mut d = Diagnostic::warning(w.message.clone(), Some(Loc::new(&file, w.span)));
            d.help = w.help.clone();
            r.diagnostics.push(d);
        }
        let Some(map) = doc.root.as_map() else {
            if doc.root.value != Value::Null {
                r.error(
                    item.span,
                    format!(
                        "included file {} is not a mapping of jobs and settings",
                        file.display()
                    ),
                );
            }
            return;
        };
        if let Some(nested) = map.get("include") {
            let saved = std::mem::replace(&mut r.file, Arc::clone(&file));
            self.process(nested, r);
            r.file = saved;
        }
        let own = Mapping {
            entries: map
                .entries
                .iter()
                .filter(|(k, _)| k.name != "include")
                .cloned()
                .collect(),
            duplicates: Vec::new(),
        };
        for (k, _) in &own.entries {
            self.origins.insert(k.name.clone(), Arc::clone(&file));
        }
        self.merged = merge_maps(&self.merged, &own);
    }
}

fn last_segment(s: &str) -> String {
    s.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(s)
        .to_string()
}
