//! Human output of `apply --plan FILE`: what was verified, the verdict, and what ran.

use super::Screen;
use super::indexes::diff_lines;
use super::migrate::apply_run;
use super::model::{PlanVerdict, ReviewedApplyReport};
use crate::escape::inline;
use std::fmt::Write;

pub(super) fn apply_plan(r: &ReviewedApplyReport, s: &Screen) -> String {
    let mut out = format!("database {}\n", r.database);
    let _ = writeln!(
        out,
        "plan {}{} (made on {} at {})",
        short(&r.plan_id),
        r.plan_file
            .as_ref()
            .map(|p| format!(" from {}", p.display()))
            .unwrap_or_default(),
        r.made_on,
        inline(&r.made_at)
    );
    let v = r.verified;
    let _ = writeln!(
        out,
        "fingerprint: {} table(s) the plan touches, {} index(es) on them, {} applied migration(s)",
        v.tables, v.indexes, v.migrations
    );
    let verdict = match r.verdict {
        PlanVerdict::Matches => "matches",
        PlanVerdict::Resumed => {
            "resuming an interrupted run: differences only on the plan's own indexes"
        }
        PlanVerdict::AlreadyApplied => {
            "already applied: its migration is recorded in this database's history"
        }
        PlanVerdict::Refused => "REFUSED: the database no longer matches; nothing was applied",
    };
    let _ = writeln!(out, "verdict: {verdict}");
    for d in &r.differences {
        let _ = writeln!(out, "  {}", inline(&d.to_string()));
    }
    if matches!(
        r.verdict,
        PlanVerdict::Refused | PlanVerdict::AlreadyApplied
    ) {
        return out;
    }
    if r.changes.is_empty() {
        out.push_str("the plan has no changes: nothing to do\n");
        return out;
    }
    out.push_str(if r.dry_run {
        "would apply (dry run: nothing was changed):\n"
    } else {
        "applied:\n"
    });
    out.push_str(&diff_lines(&r.changes, s.colour));
    if let Some(path) = &r.migration {
        let how = if r.migration_reused {
            ", reused: written by an earlier run of this plan"
        } else {
            ""
        };
        let _ = writeln!(out, "recorded as {}{how}", path.display());
    }
    if let Some(run) = &r.run {
        out.push_str(&apply_run(run, s, true));
    }
    out
}

/// The first 12 hex digits of an id: enough to tell plans apart on screen (JSON has it whole).
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
