//! Printing diagnostics and loading pipelines for the subcommands.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::OnceLock;

use crate::cli::{ColorChoice, EXIT_USAGE, FileArg};
use crate::diag::Diagnostic;
use crate::dialect::{self, LoadOptions, Loaded};
use crate::secrets::Masker;

/// Writes diagnostics to stderr, with snippets and colour when wanted.
pub struct Reporter {
    pub color_stderr: bool,
    pub color_stdout: bool,
    /// Masks the secrets once a pipeline is loaded with them: diagnostics
    /// and every command's output go through it.
    masker: OnceLock<Masker>,
}

impl Reporter {
    pub fn new(choice: ColorChoice) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let decide = |tty: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        Reporter {
            color_stderr: decide(std::io::stderr().is_terminal()),
            color_stdout: decide(std::io::stdout().is_terminal()),
            masker: OnceLock::new(),
        }
    }

    /// The masker for the secrets given (none before a pipeline is loaded).
    pub fn masker(&self) -> Masker {
        self.masker.get().cloned().unwrap_or_default()
    }

    pub fn diagnostic(&self, d: &Diagnostic, source: Option<&str>) {
        let text = d.render(source, self.color_stderr);
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{}\n", self.masker().mask(&text));
    }

    /// Command output on stdout, with the secrets masked.
    pub fn print(&self, text: &str) -> i32 {
        super::print(&self.masker().mask(text))
    }

    pub fn diagnostics(&self, ds: &[Diagnostic], source: Option<&str>) {
        for d in ds {
            self.diagnostic(d, source);
        }
    }

    /// A one-line error with an optional hint, for problems outside a file.
    pub fn error(&self, message: &str, help: Option<&str>) {
        let mut d = Diagnostic::error(message, None);
        d.help = help.map(str::to_string);
        self.diagnostic(&d, None);
    }

    /// Find and load the pipeline named by `arg`. On failure the problems
    /// are already printed; the caller returns the exit code given.
    pub fn load(&self, arg: &FileArg) -> Result<Loaded, i32> {
        let options = self.options(arg)?;
        self.load_with(arg, options)
    }

    /// The load options of `arg`, with its secrets read.
    pub fn options(&self, arg: &FileArg) -> Result<LoadOptions, i32> {
        arg.dialect.options().map_err(|e| {
            self.error(&e.to_string(), Some(e.help()));
            EXIT_USAGE
        })
    }

    /// [`Reporter::load`] with options (`--env` for GitLab rules, ...).
    pub fn load_with(&self, arg: &FileArg, options: LoadOptions) -> Result<Loaded, i32> {
        match Masker::new(options.secrets.iter().map(|v| v.value.as_str())) {
            Ok(masker) => {
                let _ = self.masker.set(masker);
            }
            Err(e) => {
                // Fail closed: without a masker every line could leak.
                self.error(
                    &format!("cannot build the masker for the secrets: {e}"),
                    Some("pass fewer or shorter secrets"),
                );
                return Err(EXIT_USAGE);
            }
        }
        let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
        let path = match dialect::discover(arg.file.as_deref(), &cwd) {
            Ok(p) => p,
            Err(e) => {
                self.error(&e.to_string(), Some(e.help()));
                return Err(EXIT_USAGE);
            }
        };
        let shown = display_path(&path, &cwd);
        match dialect::load_with(&shown, &options) {
            Ok(loaded) => {
                self.diagnostics(&loaded.warnings, Some(&loaded.text));
                Ok(loaded)
            }
            Err(e) => {
                self.diagnostics(&e.diagnostics, e.text.as_deref());
                if e.diagnostics.iter().filter(|d| d.is_error()).count() > 1 {
                    let mut err = std::io::stderr().lock();
                    let _ = writeln!(err, "{e}");
                }
                Err(EXIT_USAGE)
            }
        }
    }
}

/// Paths in messages are relative to the working directory when they can be.
fn display_path(path: &Path, cwd: &Path) -> std::path::PathBuf {
    path.strip_prefix(cwd)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}
