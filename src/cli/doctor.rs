//! `nestci doctor`: what this host supports, and what a missing piece costs.

use crate::doctor::{self, Status};

/// Exit code when dind cannot run here.
pub const EXIT_NO_DIND: i32 = 1;

pub fn doctor() -> i32 {
    let facilities = doctor::check();
    let width = facilities.iter().map(|f| f.name.len()).max().unwrap_or(0);
    let mut text = String::new();
    for f in &facilities {
        let mark = match f.status {
            Status::Ok => "ok     ",
            Status::Missing => "missing",
        };
        text.push_str(&format!("{:width$}  {mark}  {}\n", f.name, f.detail));
        if !f.cost.is_empty() {
            text.push_str(&format!("{:width$}           → {}\n", "", f.cost));
        }
    }
    let can = doctor::dind_can_run(&facilities);
    text.push_str(if can {
        "\ndind can run here (the default mode).\n"
    } else {
        "\ndind cannot run here; see the missing items above, or use --mode dood.\n"
    });
    let code = super::print(&text);
    if code != 0 {
        code
    } else if can {
        0
    } else {
        EXIT_NO_DIND
    }
}
