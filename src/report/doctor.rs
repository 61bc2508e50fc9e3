//! Human output of `doctor`: one row per capability, the fix beside each gap.

use super::Screen;
use super::model::DoctorReport;
use super::table::table;
use crate::doctor::Status;
use std::fmt::Write;

pub(super) fn doctor(r: &DoctorReport, s: &Screen) -> String {
    let mut out = format!(
        "database {}\nserver {} as {}{}\n",
        crate::escape::inline(&r.database),
        crate::escape::inline(&r.server.version),
        crate::escape::inline(&r.server.user),
        if r.server.superuser {
            " (superuser)"
        } else {
            ""
        }
    );
    let rows = r
        .checks
        .iter()
        .map(|c| {
            let status = match c.status {
                Status::Ok => "ok",
                Status::Limited => "LIMITED",
                Status::Note => "note",
            };
            let mut text = c.detail.clone();
            if !c.affects.is_empty() {
                let _ = write!(text, "; limits {}", c.affects.join(", "));
            }
            if let Some(fix) = &c.fix {
                let _ = write!(text, "; fix: {fix}");
            }
            vec![c.capability.clone(), status.to_string(), text]
        })
        .collect();
    out.push_str(&table(
        s,
        &["capability", "status", "found, and the fix"],
        rows,
    ));
    let count = |st: Status| r.checks.iter().filter(|c| c.status == st).count();
    let mut limited: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| c.status == Status::Limited)
        .flat_map(|c| c.affects.iter().map(String::as_str))
        .collect();
    limited.sort();
    limited.dedup();
    let _ = writeln!(
        out,
        "{} ok, {} limited{}, {} note(s)",
        count(Status::Ok),
        count(Status::Limited),
        if limited.is_empty() {
            String::new()
        } else {
            format!(" ({})", limited.join(", "))
        },
        count(Status::Note)
    );
    out
}
