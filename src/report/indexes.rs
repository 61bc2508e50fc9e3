//! Human output of the index commands: advise, plan and apply.

use super::Screen;
use super::migrate::apply_run;
use super::model::*;
use super::table::table;
use crate::escape::{COLOUR_END, COLOUR_START, inline};
use std::fmt::Write;

pub(super) fn advise(r: &AdviseReport, s: &Screen) -> String {
    let a = &r.advice;
    let mut out = format!(
        "database {}\nworkload: {}\nevaluation: {}\n",
        r.database,
        inline(&r.workload),
        inline(&a.evaluation)
    );
    for skipped in &r.skipped {
        let _ = writeln!(out, "left out of the workload: {}", inline(skipped));
    }
    out.push_str(&stats_statements(r, s));
    if a.proposals.is_empty() {
        out.push_str("no index proposed\n");
    } else {
        let rows = a
            .proposals
            .iter()
            .map(|p| {
                vec![
                    p.name.clone(),
                    format!("{}({})", p.table, p.columns.join(", ")),
                    format!("{:?}", p.method).to_lowercase(),
                    crate::units::bytes(p.size_bytes as f64),
                    format!("{} ({}%)", p.serves.join(", "), p.gain_share_pct),
                    format!("{}/min", crate::units::ms(p.write_overhead_ms_per_min)),
                    p.why.clone(),
                ]
            })
            .collect();
        out.push_str(&table(
            s,
            &[
                "proposal",
                "on",
                "method",
                "size",
                "serves (share of the time saved)",
                "write overhead",
                "why (before -> after)",
            ],
            rows,
        ));
        out.push_str("\nwrite overhead from:\n");
        for p in &a.proposals {
            let _ = writeln!(
                out,
                "  {}: {}",
                inline(&p.name),
                inline(&p.write_cost.describe())
            );
            if let Some(note) = p.write_cost_note() {
                let _ = writeln!(out, "    {}", inline(&note));
            }
        }
        out.push_str("\ndry-run diff:\n");
        for p in &a.proposals {
            let _ = writeln!(out, "+ {};", inline(&p.ddl));
        }
    }
    if !a.rejected.is_empty() {
        out.push_str("\nconsidered and not proposed:\n");
        for rj in &a.rejected {
            let _ = writeln!(out, "  {} -- {}", inline(&rj.ddl), inline(&rj.reason));
        }
    }
    let rows = a
        .queries
        .iter()
        .map(|q| {
            let verdict = |ms: f64| if ms <= q.budget_ms { "ok" } else { "OVER" };
            vec![
                q.name.clone(),
                format!("{} {}", crate::units::ms(q.before_ms), verdict(q.before_ms)),
                format!("{} {}", crate::units::ms(q.after_ms), verdict(q.after_ms)),
                format!(
                    "{}/min ({})",
                    crate::units::number(q.weight),
                    q.weight_source.label()
                ),
                q.note.clone().unwrap_or_default(),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&table(
        s,
        &["query", "before", "with the proposals", "calls", "note"],
        rows,
    ));
    let within = |f: fn(&crate::advisor::QueryOutcome) -> f64| {
        a.queries.iter().filter(|q| f(q) <= q.budget_ms).count()
    };
    let _ = writeln!(
        out,
        "{} index(es) proposed; within budget: {} of {} queries now, {} with the proposals ({})",
        a.proposals.len(),
        within(|q| q.before_ms),
        a.queries.len(),
        within(|q| q.after_ms),
        crate::units::ms(r.duration_ms as f64)
    );
    if let Some(path) = &r.migration {
        let _ = writeln!(
            out,
            "wrote {}; run `pgwarden migrate apply` to build the indexes",
            path.display()
        );
    }
    out
}

/// `--from-stats`: each top statement, advised (with where its values came from) or skipped
/// (with the reason), and what was left out before the top ones were taken.
fn stats_statements(r: &AdviseReport, s: &Screen) -> String {
    use crate::advisor::statement::{StatementStatus, ValueSource};
    let mut out = String::new();
    if let Some(x) = &r.excluded {
        let _ = writeln!(
            out,
            "left out of pg_stat_statements: {} of pgwarden's own, {} not a plain SELECT, {} reading no table",
            x.pgwarden, x.not_select, x.no_table
        );
    }
    if r.statements.is_empty() {
        return out;
    }
    let rows = r
        .statements
        .iter()
        .map(|st| {
            let status = match (st.status, st.values) {
                (StatementStatus::Skipped, _) => "skipped",
                (_, Some(ValueSource::PgQualstats)) => "advised (pg_qualstats values)",
                (_, Some(ValueSource::PgStats)) => "advised (pg_stats values)",
                (_, Some(ValueSource::GenericPlan)) => "advised (generic plan)",
                _ => "advised",
            };
            vec![
                st.name.clone(),
                st.queryid.clone(),
                format!("{:.1}", st.calls_per_minute),
                status.to_string(),
                st.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&table(
        s,
        &["statement", "queryid", "calls/min", "status", "why"],
        rows,
    ));
    out.push('\n');
    out
}

pub(super) fn plan(r: &PlanReport, s: &Screen) -> String {
    let mut out = format!("database {} (desired: {})\n", r.database, r.desired_from);
    if !r.servers.is_empty() {
        let servers: Vec<String> = r
            .servers
            .iter()
            .map(|u| match (&u.error, u.stats_age_seconds) {
                (None, Some(age)) => format!(
                    "{} (statistics {:.1} days old)",
                    inline(&u.server),
                    age / 86_400.0
                ),
                (error, _) => format!(
                    "{} (unreadable: {})",
                    inline(&u.server),
                    inline(error.as_deref().unwrap_or("no statistics"))
                ),
            })
            .collect();
        let _ = writeln!(out, "index scans counted on: {}", servers.join(", "));
    }
    if !r.findings.is_empty() {
        let rows = r
            .findings
            .iter()
            .map(|f| {
                let finding = if f.help.is_empty() {
                    f.message.clone()
                } else {
                    format!("{} (fix: {})", f.message, f.help)
                };
                vec![
                    format!("{:?}", f.severity).to_lowercase(),
                    f.rule.to_string(),
                    f.object.clone(),
                    finding,
                ]
            })
            .collect();
        out.push_str(&table(s, &["severity", "rule", "object", "finding"], rows));
    }
    if r.changes.is_empty() {
        out.push_str("no changes: the indexes match the migrations\n");
        return out;
    }
    out.push_str("\nplan (dry run: nothing was changed):\n");
    out.push_str(&diff_lines(&r.changes, s.colour));
    let drops = r.changes.iter().filter(|c| c.is_drop).count();
    let _ = writeln!(
        out,
        "{} finding(s), {} change(s), {drops} of them drops",
        r.findings.len(),
        r.changes.len()
    );
    if let Some(path) = &r.output {
        if crate::reviewed::is_json_path(path) {
            let _ = writeln!(
                out,
                "reviewed plan saved to {0}: apply it with `pgwarden apply --plan {0}`",
                path.display()
            );
        } else {
            let _ = writeln!(out, "SQL saved to {}", path.display());
        }
    }
    out
}

pub(super) fn diff_lines(changes: &[crate::diff::Change], colour: bool) -> String {
    let mut out = String::new();
    for c in changes {
        // Colour markers, turned into ANSI sequences after the output is cleaned.
        let (on, off) = match (colour, c.sign) {
            (false, _) => (String::new(), String::new()),
            (true, '+') => (COLOUR_START[0].to_string(), COLOUR_END.to_string()),
            (true, '-') => (COLOUR_START[1].to_string(), COLOUR_END.to_string()),
            (true, _) => (COLOUR_START[2].to_string(), COLOUR_END.to_string()),
        };
        for s in &c.statements {
            let _ = writeln!(out, "{on}{} {};{off}", c.sign, inline(s));
        }
        let _ = writeln!(
            out,
            "    -- {}: {}; lock {}; {}",
            c.rule,
            inline(&c.reason),
            c.lock,
            if c.estimate_seconds < 1.0 {
                "under a second".to_string()
            } else {
                format!("about {}", crate::units::ms(c.estimate_seconds * 1000.0))
            }
        );
    }
    out
}

pub(super) fn apply_changes(r: &ApplyChangesReport, s: &Screen) -> String {
    if r.dry_run {
        return plan(&r.plan, s);
    }
    let mut out = format!("database {}\n", r.plan.database);
    if r.plan.changes.is_empty() {
        out.push_str("no changes: the indexes match the migrations\n");
        return out;
    }
    if !r.accepted.is_empty() {
        out.push_str("applied:\n");
        out.push_str(&diff_lines(&r.accepted, s.colour));
    }
    for (object, why) in &r.skipped {
        let _ = writeln!(out, "skipped {}: {}", inline(object), inline(why));
    }
    if let Some(path) = &r.migration {
        let _ = writeln!(out, "recorded as {}", path.display());
    }
    if let Some(run) = &r.run {
        out.push_str(&apply_run(run, s, true));
    }
    out
}
