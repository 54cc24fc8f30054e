//! `nestci validate`: parse and plan a pipeline, report every problem.

use crate::cli::{EXIT_USAGE, FileArg, Reporter};
use crate::plan::{self, PlanOptions};

pub fn validate(args: &FileArg, reporter: &Reporter) -> i32 {
    let loaded = match reporter.load(args) {
        Ok(l) => l,
        Err(code) => return code,
    };
    // Planning finds what the file alone cannot show: cycles in `needs`
    // and conditions that do not parse.
    match plan::build(&loaded.pipeline, &PlanOptions::default()) {
        Ok(_) => {
            let p = &loaded.pipeline;
            let steps: usize = p.jobs.iter().map(|j| j.steps.len()).sum();
            super::print(&format!(
                "{}: ok\n — pipeline `{}` ({}), {} job{}, {} step{}",
                p.file.display(),
                p.name,
                p.dialect.as_str(),
                p.jobs.len(),
                if p.jobs.len() == 1 { "" } else { "s" },
                steps,
                if steps == 1 { "" } else { "s" },
            ))
        }
        Err(diags) => {
            reporter.diagnostics(&diags, Some(&loaded.text));
            EXIT_USAGE
        }
    }
}
