//! Human output of a fleet run: one table line per target, then the errors, then a summary.

use super::Screen;
use super::model::FleetReport;
use super::table::table;
use crate::escape::inline;
use crate::fleet::ledger::Outcome;
use std::fmt::Write;

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::NotStarted => "not started",
        Outcome::Running => "running",
        Outcome::Ok => "ok",
        Outcome::Findings => "findings",
        Outcome::Failed => "FAILED",
        Outcome::Interrupted => "interrupted",
        Outcome::DoneEarlier => "done earlier",
    }
}

pub(super) fn fleet(r: &FleetReport, s: &Screen) -> String {
    let version = |v: Option<i32>| v.map_or("-".to_string(), |v| format!("V{v}"));
    let rows = r
        .targets
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.group.clone(),
                version(t.version_before),
                version(t.version_after),
                crate::units::ms(t.duration_ms as f64),
                outcome_word(t.outcome).to_string(),
                t.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut out = format!(
        "{} on {} target(s) from {}\n",
        r.target_command,
        r.targets.len(),
        inline(&r.source)
    );
    out.push_str(&table(
        s,
        &[
            "target", "group", "before", "after", "duration", "outcome", "error",
        ],
        rows,
    ));
    let counts: Vec<String> = [
        Outcome::Ok,
        Outcome::Findings,
        Outcome::Failed,
        Outcome::Interrupted,
        Outcome::NotStarted,
        Outcome::DoneEarlier,
    ]
    .iter()
    .filter(|o| r.count(**o) > 0)
    .map(|o| format!("{} {}", r.count(*o), outcome_word(*o)))
    .collect();
    let _ = writeln!(out, "{}", counts.join(", "));
    if let Some(why) = &r.stopped {
        let _ = writeln!(out, "stopped: {}", inline(why));
    }
    if let Some(path) = &r.ledger {
        let unfinished = r.targets.iter().any(|t| !t.outcome.finished());
        let hint = if unfinished {
            " (rerun with --resume to run only the targets that did not finish)"
        } else {
            ""
        };
        let _ = writeln!(out, "ledger: {}{hint}", path.display());
    }
    out
}
