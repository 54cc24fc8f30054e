//! Secrets: values given on the command line (`--secret K=V`) or in a
//! dotenv file (`--secret-file PATH`), and the [`Masker`] that keeps them
//! out of everything nestci prints or saves.
//!
//! Where secrets go depends on the dialect (the dialect parsers decide):
//! a GitHub workflow reads them through the `secrets` context; GitLab and
//! native pipelines see them as variables, as a masked CI/CD variable is
//! in GitLab. Whatever the dialect, every value is masked as `***` in the
//! live output, the job logs, the summary and `list`/`--dry-run`.

mod dotenv;
mod mask;

pub use dotenv::{DotenvError, parse_dotenv, read_dotenv};
pub use mask::Masker;
