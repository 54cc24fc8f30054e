//! Source locations carried by every model node.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::yaml::Span;

/// A place in a pipeline file: `file:line:col`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Loc {
    pub file: Arc<PathBuf>,
    pub span: Span,
}

impl Loc {
    pub fn new(file: &Arc<PathBuf>, span: Span) -> Loc {
        Loc {
            file: Arc::clone(file),
            span,
        }
    }

    /// A location for values that came from the command line or defaults.
    pub fn synthetic(what: &str) -> Loc {
        Loc {
            file: Arc::new(PathBuf::from(what)),
            span: Span::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.file
    }

    pub fn line(&self) -> u32 {
        self.span.line
    }

    pub fn col(&self) -> u32 {
        self.span.col
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.span.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(
                f,
                "{}:{}:{}",
                self.file.display(),
                self.span.line,
                self.span.col
            )
        }
    }
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    pub value: T,
    pub loc: Loc,
}

impl<T> Located<T> {
    pub fn new(value: T, loc: Loc) -> Self {
        Located { value, loc }
    }
}

impl<T> std::ops::Deref for Located<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}
