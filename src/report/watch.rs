//! Human output of `watch`: the statements of the last sample against their budgets, then
//! index health.

use super::Screen;
use super::model::WatchReport;
use super::table::table;
use crate::units::ms;
use std::fmt::Write;

pub(super) fn watch(r: &WatchReport, s: &Screen) -> String {
    let mut out = server(r, s);
    for replica in &r.replicas {
        let _ = writeln!(
            out,
            "\non replica {}:",
            crate::escape::inline(&replica.server)
        );
        if let Some(error) = &replica.error {
            let _ = writeln!(out, "ERROR: not sampled: {}", crate::escape::inline(error));
        }
        let one = WatchReport {
            database: replica.database.clone(),
            samples: replica.samples,
            once: r.once,
            last: replica.last.clone(),
            replicas: Vec::new(),
        };
        out.push_str(&server(&one, s));
    }
    out
}

/// One server's last sample.
fn server(r: &WatchReport, s: &Screen) -> String {
    let mut out = format!("database {}\n", r.database);
    let Some(sample) = &r.last else {
        out.push_str("no sample taken\n");
        return out;
    };
    if sample.baseline_only {
        out.push_str("first sample (or a stats reset): figures from the next interval on\n");
    }
    let rows = sample
        .statements
        .iter()
        .map(|st| {
            let verdict = match (st.over_budget, st.regressed) {
                (true, true) => "OVER, REGRESSED",
                (true, false) => "OVER",
                (false, true) => "REGRESSED",
                (false, false) => "ok",
            };
            vec![
                st.label.clone(),
                st.calls.to_string(),
                ms(st.mean_ms),
                ms(st.budget_ms),
                st.baseline_ms.map(ms).unwrap_or_else(|| "-".into()),
                verdict.to_string(),
                st.text.clone(),
            ]
        })
        .collect();
    out.push_str(&table(
        s,
        &[
            "query",
            "calls",
            "mean",
            "budget",
            "baseline",
            "verdict",
            "statement",
        ],
        rows,
    ));
    for st in sample
        .statements
        .iter()
        .filter(|s| s.over_budget || s.regressed)
    {
        if let Some(plan) = &st.plan {
            let _ = writeln!(
                out,
                "plan of {}{}: {}",
                crate::escape::inline(&st.label),
                if st.plan_changed { " (changed)" } else { "" },
                crate::escape::inline(plan)
            );
        }
    }
    if sample.hidden_statements > 0 {
        let _ = writeln!(
            out,
            "note: {} statement(s) of other roles are hidden from this role and were not judged; `GRANT pg_read_all_stats TO <this role>` shows them",
            sample.hidden_statements
        );
    }
    for p in &sample.match_problems {
        let _ = writeln!(
            out,
            "note: {} (left out; the other queries are watched)",
            crate::escape::inline(p)
        );
    }
    for name in &sample.unmatched {
        let _ = writeln!(
            out,
            "note: query {} has no entry in pg_stat_statements (not run since the last reset, or run by a role whose statements this role cannot see)",
            crate::escape::inline(name)
        );
    }
    let h = &sample.health;
    for i in &h.invalid_indexes {
        let _ = writeln!(out, "INVALID index {}", crate::escape::inline(i));
    }
    for b in &h.builds {
        let _ = writeln!(
            out,
            "index build {}: {}{}",
            crate::escape::inline(&b.index),
            b.phase,
            b.ratio
                .map(|r| format!(", {:.0}%", r * 100.0))
                .unwrap_or_default()
        );
    }
    for w in &h.long_waits {
        let _ = writeln!(
            out,
            "pid {} has waited {} for a lock held by {:?}: {}",
            w.pid,
            ms(w.waiting_seconds * 1000.0),
            w.blocked_by,
            crate::escape::inline(&w.blocker_query)
        );
    }
    let over = sample.statements.iter().filter(|s| s.over_budget).count();
    let regressed = sample.statements.iter().filter(|s| s.regressed).count();
    let _ = writeln!(
        out,
        "{} statement(s), {over} over budget, {regressed} regressed; {} INVALID index(es), {} session(s) waiting on a lock; {} sample(s)",
        sample.statements.len(),
        h.invalid_indexes.len(),
        h.lock_waiters,
        r.samples
    );
    out
}
