//! Human output: tables plus a one-line summary.

use super::Report;
use crate::check::CheckMode;
use crate::commands::advise::AdviseReport;
use crate::commands::check::CheckReport;
use crate::commands::demo::DemoReport;
use crate::commands::migrate::{RecordReport, StatusReport, VerifyReport};
use crate::commands::plan::{ApplyChangesReport, PlanReport};
use crate::datagen::GenerateReport;
use crate::explain::Verdict;
use crate::migrations::plan::RunMode;
use crate::migrations::runner::ApplyReport;
use std::fmt::Write;
use tabled::builder::Builder;
use tabled::settings::Style;

/// Renders `report`; `colour` marks plan lines (+ green, ~ yellow, - red) for a terminal.
pub fn render(report: &Report, colour: bool) -> String {
    match report {
        Report::MigrateStatus(r) => status(r),
        Report::MigrateApply(r) => apply(r),
        Report::MigrateVerify(r) => verify(r),
        Report::MigrateNew(r) => format!("created {} (version {})\n", r.path.display(), r.version),
        Report::MigrateBaseline(r) | Report::MigrateRepair(r) => record(r),
        Report::Check(r) => check(r),
        Report::DataGenerate(r) => generate(r),
        Report::Advise(r) => advise(r),
        Report::Plan(r) => plan(r, colour),
        Report::Lint(r) => super::lint::human(r),
        Report::Ci(r) => {
            let mut out = String::new();
            for section in &r.sections {
                let _ = writeln!(
                    out,
                    "== {} (exit {})\n",
                    section.title,
                    section.report.exit_code()
                );
                out.push_str(&render(&section.report, colour));
                out.push('\n');
            }
            let _ = writeln!(out, "ci: exit {}", r.exit_code());
            out
        }
        Report::Apply(r) => apply_changes(r, colour),
        Report::Demo(r) => demo(r, colour),
    }
}

fn check(r: &CheckReport) -> String {
    let unit = if r.mode == CheckMode::Explain {
        ""
    } else {
        " ms"
    };
    let rows = r
        .queries
        .iter()
        .map(|q| {
            let (mean, p95, max, verdict) = match &q.verdict {
                Some(v) => (
                    format!("{:.1}{unit}", v.mean_ms),
                    format!("{:.1}{unit}", v.p95_ms),
                    format!("{:.1}{unit}", v.max_ms),
                    match v.verdict {
                        Verdict::Within => "ok".to_string(),
                        Verdict::Over => "OVER".to_string(),
                    },
                ),
                None => ("-".into(), "-".into(), "-".into(), "ERROR".into()),
            };
            let budget = match r.mode {
                CheckMode::Explain => "cost".to_string(),
                _ => format!("{:.0} ms", q.budget.mean_ms),
            };
            let why = match (&q.error, &q.verdict) {
                (Some(e), _) => e.clone(),
                (None, Some(v)) if v.verdict == Verdict::Over => {
                    format!("{}; {}", v.reasons.join("; "), q.findings.summary())
                }
                _ => q.findings.summary(),
            };
            vec![q.name.clone(), mean, p95, max, budget, verdict, why]
        })
        .collect();
    let mut out = format!(
        "database {} (mode {}, policy {})\n",
        r.database,
        r.mode.as_str(),
        r.policy
    );
    out.push_str(&table(
        &["query", "mean", "p95", "max", "budget", "verdict", "why"],
        rows,
    ));
    let _ = writeln!(
        out,
        "{} quer{} checked, {} over budget, {} error(s)",
        r.queries.len(),
        if r.queries.len() == 1 { "y" } else { "ies" },
        r.over_budget,
        r.errors
    );
    out
}

fn advise(r: &AdviseReport) -> String {
    let a = &r.advice;
    let mut out = format!("database {} (evaluation: {})\n", r.database, a.evaluation);
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
                    format!("{:.1} MB", p.size_bytes as f64 / 1e6),
                    format!("{:.2} ms/min", p.write_overhead_ms_per_min),
                    p.why.clone(),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "proposal",
                "on",
                "method",
                "size",
                "write overhead",
                "why (before -> after)",
            ],
            rows,
        ));
        out.push_str("\ndry-run diff:\n");
        for p in &a.proposals {
            let _ = writeln!(out, "+ {};", p.ddl);
        }
    }
    if !a.rejected.is_empty() {
        out.push_str("\nconsidered and not proposed:\n");
        for rj in &a.rejected {
            let _ = writeln!(out, "  {} -- {}", rj.ddl, rj.reason);
        }
    }
    let rows = a
        .queries
        .iter()
        .map(|q| {
            let verdict = |ms: f64| if ms <= q.budget_ms { "ok" } else { "OVER" };
            vec![
                q.name.clone(),
                format!("{:.1} ms {}", q.before_ms, verdict(q.before_ms)),
                format!("{:.1} ms {}", q.after_ms, verdict(q.after_ms)),
                q.note.clone().unwrap_or_default(),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&table(
        &["query", "before", "with the proposals", "note"],
        rows,
    ));
    let within = |f: fn(&crate::advisor::QueryOutcome) -> f64| {
        a.queries.iter().filter(|q| f(q) <= q.budget_ms).count()
    };
    let _ = writeln!(
        out,
        "{} index(es) proposed; within budget: {} of {} queries now, {} with the proposals ({:.1} s)",
        a.proposals.len(),
        within(|q| q.before_ms),
        a.queries.len(),
        within(|q| q.after_ms),
        r.duration_ms as f64 / 1000.0
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

fn plan(r: &PlanReport, colour: bool) -> String {
    let mut out = format!("database {} (desired: {})\n", r.database, r.desired_from);
    if !r.findings.is_empty() {
        let rows = r
            .findings
            .iter()
            .map(|f| {
                vec![
                    format!("{:?}", f.severity).to_lowercase(),
                    f.rule.to_string(),
                    f.object.clone(),
                    f.message.clone(),
                ]
            })
            .collect();
        out.push_str(&table(&["severity", "rule", "object", "finding"], rows));
    }
    if r.changes.is_empty() {
        out.push_str("no changes: the indexes match the migrations\n");
        return out;
    }
    out.push_str("\nplan (dry run: nothing was changed):\n");
    out.push_str(&diff_lines(&r.changes, colour));
    let drops = r.changes.iter().filter(|c| c.is_drop).count();
    let _ = writeln!(
        out,
        "{} finding(s), {} change(s), {drops} of them drops",
        r.findings.len(),
        r.changes.len()
    );
    if let Some(path) = &r.output {
        let _ = writeln!(out, "SQL saved to {}", path.display());
    }
    out
}

fn diff_lines(changes: &[crate::diff::Change], colour: bool) -> String {
    let mut out = String::new();
    for c in changes {
        let (on, off) = match (colour, c.sign) {
            (false, _) => ("", ""),
            (true, '+') => ("\x1b[32m", "\x1b[0m"),
            (true, '-') => ("\x1b[31m", "\x1b[0m"),
            (true, _) => ("\x1b[33m", "\x1b[0m"),
        };
        for s in &c.statements {
            let _ = writeln!(out, "{on}{} {s};{off}", c.sign);
        }
        let _ = writeln!(
            out,
            "    -- {}: {}; lock {}; about {:.0} s",
            c.rule,
            c.reason,
            c.lock,
            c.estimate_seconds.ceil()
        );
    }
    out
}

fn apply_changes(r: &ApplyChangesReport, colour: bool) -> String {
    if r.dry_run {
        return plan(&r.plan, colour);
    }
    let mut out = format!("database {}\n", r.plan.database);
    if r.plan.changes.is_empty() {
        out.push_str("no changes: the indexes match the migrations\n");
        return out;
    }
    if !r.accepted.is_empty() {
        out.push_str("applied:\n");
        out.push_str(&diff_lines(&r.accepted, colour));
    }
    for (object, why) in &r.skipped {
        let _ = writeln!(out, "skipped {object}: {why}");
    }
    if let Some(path) = &r.migration {
        let _ = writeln!(out, "recorded as {}", path.display());
    }
    if let Some(run) = &r.run {
        out.push_str(&apply(run));
    }
    out
}

fn generate(r: &GenerateReport) -> String {
    let rows = r
        .tables
        .iter()
        .map(|t| {
            vec![
                t.table.clone(),
                t.rows.to_string(),
                format!("{:.1} s", t.duration_ms as f64 / 1000.0),
            ]
        })
        .collect();
    let mut out = format!("database {} (scale {})\n", r.database, r.scale);
    out.push_str(&table(&["table", "rows", "time"], rows));
    let total: i64 = r.tables.iter().map(|t| t.rows).sum();
    let _ = writeln!(
        out,
        "{total} rows generated in {:.1} s{}",
        r.duration_ms as f64 / 1000.0,
        if r.fast_path {
            ""
        } else {
            " (foreign-key checks on: not a superuser)"
        }
    );
    out
}

fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut b = Builder::default();
    b.push_record(header.iter().map(|h| h.to_string()));
    for r in rows {
        b.push_record(r);
    }
    let mut t = b.build();
    t.with(Style::sharp());
    format!("{t}\n")
}

fn status(r: &StatusReport) -> String {
    let rows = r
        .migrations
        .iter()
        .map(|m| {
            vec![
                m.version
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "-".into()),
                m.name.clone(),
                m.state.label().to_string(),
                m.applied_on.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut out = format!("database {}\n", r.database);
    out.push_str(&table(&["version", "name", "state", "applied on"], rows));
    if !r.invalid_indexes.is_empty() {
        let rows = r
            .invalid_indexes
            .iter()
            .map(|i| {
                let note = if i.build_in_progress {
                    "a build is running now"
                } else {
                    "left by a failed concurrent build; `migrate apply` rebuilds it"
                };
                vec![
                    format!("{}.{}", i.schema, i.name),
                    i.table.clone(),
                    note.into(),
                ]
            })
            .collect();
        out.push_str("INVALID indexes:\n");
        out.push_str(&table(&["index", "table", "note"], rows));
    }
    let count = |label: &str| {
        r.migrations
            .iter()
            .filter(|m| m.state.label() == label)
            .count()
    };
    let _ = writeln!(
        out,
        "{} applied, {} pending, {} need attention, {} invalid index(es){}",
        count("applied"),
        count("pending"),
        r.migrations.len() - count("applied") - count("pending"),
        r.invalid_indexes.len(),
        if r.history_table_exists {
            ""
        } else {
            " (no history table yet)"
        }
    );
    out
}

fn apply(r: &ApplyReport) -> String {
    let mut out = String::new();
    if r.dry_run {
        let _ = writeln!(out, "-- dry run on {}: nothing was changed", r.database);
        let _ = writeln!(
            out,
            "\n-- session settings, once per run\n/* session */ {};",
            r.session_setup
        );
        for m in &r.migrations {
            let how = match &m.mode {
                RunMode::Transaction => "in one transaction".to_string(),
                RunMode::NoTransaction(why) => format!("outside a transaction: {why}"),
            };
            let _ = writeln!(out, "\n-- {} ({how})", m.file);
            for line in &m.script {
                let marker = if line.in_transaction { "tx" } else { "no-tx" };
                let _ = writeln!(out, "/* {marker} */ {};", line.sql);
            }
        }
        let _ = writeln!(
            out,
            "\n-- {} migration(s) would be applied; {} already applied",
            r.migrations.len(),
            r.already_applied
        );
        return out;
    }
    let rows = r
        .migrations
        .iter()
        .map(|m| {
            let o = m.outcome.clone().unwrap_or_default();
            let mut note = match &m.mode {
                RunMode::Transaction => "transaction".to_string(),
                RunMode::NoTransaction(_) => "no transaction".to_string(),
            };
            if o.attempts > 1 {
                let _ = write!(note, ", {} attempts", o.attempts);
            }
            if !o.recovered_indexes.is_empty() {
                let _ = write!(note, ", rebuilt INVALID {}", o.recovered_indexes.join(", "));
            }
            vec![
                m.version.to_string(),
                m.name.clone(),
                format!("{} ms", o.duration_ms),
                note,
            ]
        })
        .collect::<Vec<_>>();
    let _ = writeln!(out, "database {}", r.database);
    if !rows.is_empty() {
        out.push_str(&table(&["version", "name", "duration", "how"], rows));
    }
    match &r.failure {
        Some(f) => {
            let _ = writeln!(
                out,
                "FAILED at V{}__{}: {} migration(s) applied before it; see the error on stderr",
                f.version,
                f.name,
                r.migrations.len()
            );
        }
        None => {
            let _ = writeln!(
                out,
                "{} migration(s) applied in {} ms; {} were already applied",
                r.migrations.len(),
                r.duration_ms,
                r.already_applied
            );
        }
    }
    out
}

fn verify(r: &VerifyReport) -> String {
    let mut out = format!("database {}\n", r.database);
    for p in &r.problems {
        let _ = writeln!(out, "- {}", p.message);
    }
    let _ = writeln!(
        out,
        "{} applied migration(s) checked, {} problem(s)",
        r.checked,
        r.problems.len()
    );
    out
}

fn record(r: &RecordReport) -> String {
    let mut out = format!("database {}\n", r.database);
    if r.rows.is_empty() {
        let _ = writeln!(out, "{}: nothing to record", r.action);
        return out;
    }
    let rows = r
        .rows
        .iter()
        .map(|row| {
            vec![
                row.version.to_string(),
                row.name.clone(),
                row.old_checksum.clone().unwrap_or_else(|| "-".into()),
                row.new_checksum.clone(),
            ]
        })
        .collect();
    out.push_str(&table(
        &["version", "name", "recorded checksum", "new checksum"],
        rows,
    ));
    let verb = if r.written {
        "wrote"
    } else {
        "would write (nothing written)"
    };
    let _ = writeln!(out, "{}: {verb} {} row(s)", r.action, r.rows.len());
    out
}

fn demo(r: &DemoReport, colour: bool) -> String {
    let mut out = String::new();
    for section in &r.sections {
        let _ = writeln!(out, "== {}\n", section.title);
        out.push_str(&render(&section.report, colour));
        out.push('\n');
    }
    if !r.comparison.is_empty() {
        let _ = writeln!(out, "== before and after the fix\n");
        let verdict = |v: &Option<Verdict>| match v {
            Some(Verdict::Within) => "ok",
            Some(Verdict::Over) => "OVER",
            None => "ERROR",
        };
        let rows = r
            .comparison
            .iter()
            .map(|c| {
                vec![
                    c.query.clone(),
                    format!("{:.1} ms", c.before_ms),
                    verdict(&c.before).to_string(),
                    format!("{:.1} ms", c.after_ms),
                    verdict(&c.after).to_string(),
                    if c.after_ms > 0.0 {
                        format!("{:.0}x", c.before_ms / c.after_ms)
                    } else {
                        "-".into()
                    },
                ]
            })
            .collect();
        out.push_str(&table(
            &["query", "before", "", "after", "", "speedup"],
            rows,
        ));
        let within = |f: fn(&crate::commands::demo::Comparison) -> &Option<Verdict>| {
            r.comparison
                .iter()
                .filter(|c| *f(c) == Some(Verdict::Within))
                .count()
        };
        let _ = writeln!(
            out,
            "within budget: {} of {} queries before, {} of {} after",
            within(|c| &c.before),
            r.comparison.len(),
            within(|c| &c.after),
            r.comparison.len()
        );
    }
    out
}
