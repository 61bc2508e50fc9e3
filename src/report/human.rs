//! Human output: tables plus a one-line summary.

use super::Report;
use super::Screen;
use super::model::*;
use crate::check::CheckMode;
use crate::datagen::GenerateReport;
use crate::explain::Verdict;
use crate::migrations::plan::RunMode;
use crate::migrations::runner::ApplyReport;
use std::fmt::Write;
use tabled::builder::Builder;
use tabled::settings::peaker::PriorityMax;
use tabled::settings::{Style, Width};

/// Renders `report` for `s`; with colour, plan lines are marked (+ green, ~ yellow, - red).
pub fn render(report: &Report, s: &Screen) -> String {
    match report {
        Report::MigrateStatus(r) => status(r, s),
        Report::MigrateApply(r) => apply(r, s),
        Report::MigrateVerify(r) => verify(r),
        Report::MigrateNew(r) => format!("created {} (version {})\n", r.path.display(), r.version),
        Report::MigrateBaseline(r) | Report::MigrateRepair(r) => record(r, s),
        Report::Check(r) => check(r, s),
        Report::DataGenerate(r) => generate(r, s),
        Report::Advise(r) => super::indexes::advise(r, s),
        Report::Plan(r) => super::indexes::plan(r, s),
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
                out.push_str(&render(&section.report, s));
                out.push('\n');
            }
            let _ = writeln!(out, "ci: exit {}", r.exit_code());
            out
        }
        Report::Apply(r) => super::indexes::apply_changes(r, s),
        Report::Demo(r) => demo(r, s),
    }
}

fn check(r: &CheckReport, s: &Screen) -> String {
    // Explain mode judges planner cost, which has no unit.
    let figure = |v: f64| {
        if r.mode == CheckMode::Explain {
            format!("{v:.1}")
        } else {
            crate::units::ms(v)
        }
    };
    let rows = r
        .queries
        .iter()
        .map(|q| {
            let (mean, p95, max, verdict) = match &q.verdict {
                Some(v) => (
                    figure(v.mean_ms),
                    figure(v.p95_ms),
                    figure(v.max_ms),
                    match v.verdict {
                        Verdict::Within => "ok".to_string(),
                        Verdict::Over => "OVER".to_string(),
                    },
                ),
                None => ("-".into(), "-".into(), "-".into(), "ERROR".into()),
            };
            let budget = match r.mode {
                CheckMode::Explain => "cost".to_string(),
                _ => crate::units::ms(q.budget.mean_ms),
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
        s,
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
    for note in &r.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

fn generate(r: &GenerateReport, s: &Screen) -> String {
    let rows = r
        .tables
        .iter()
        .map(|t| {
            vec![
                t.table.clone(),
                t.rows.to_string(),
                crate::units::ms(t.duration_ms as f64),
            ]
        })
        .collect();
    let mut out = format!("database {} (scale {})\n", r.database, r.scale);
    out.push_str(&table(s, &["table", "rows", "time"], rows));
    let total: i64 = r.tables.iter().map(|t| t.rows).sum();
    let _ = writeln!(
        out,
        "{total} rows generated in {}{}",
        crate::units::ms(r.duration_ms as f64),
        if r.fast_path {
            ""
        } else {
            " (foreign-key checks on: not a superuser)"
        }
    );
    out
}

/// A table that fits `s.width`: the widest columns wrap first, at word boundaries.
pub(super) fn table(s: &Screen, header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut b = Builder::default();
    b.push_record(header.iter().map(|h| h.to_string()));
    for r in rows {
        // A cell is one value: a newline or tab in a name is shown, not obeyed.
        b.push_record(r.iter().map(|cell| crate::escape::inline(cell)));
    }
    let mut t = b.build();
    t.with(Style::sharp());
    if let Some(width) = s.width {
        t.with(
            Width::wrap(width)
                .priority(PriorityMax::new(true))
                .keep_words(true),
        );
    }
    format!("{t}\n")
}

fn status(r: &StatusReport, s: &Screen) -> String {
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
    out.push_str(&table(s, &["version", "name", "state", "applied on"], rows));
    if !r.invalid_indexes.is_empty() {
        let rows = r
            .invalid_indexes
            .iter()
            .map(|i| {
                let note = if i.build_in_progress {
                    "a build is running now"
                } else if i.partitioned {
                    "partitioned: valid once every partition's index is attached (`plan`/`apply` or the migration completes it)"
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
        out.push_str(&table(s, &["index", "table", "note"], rows));
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

pub(super) fn apply(r: &ApplyReport, s: &Screen) -> String {
    let mut out = String::new();
    if r.dry_run {
        let _ = writeln!(out, "-- dry run on {}: nothing was changed", r.database);
        // Generated lines read as what they do; the exact SQL with -vv or in JSON.
        let exact = s.verbose >= 2;
        if exact {
            let _ = writeln!(
                out,
                "\n-- session settings, once per run\n/* session */ {};",
                r.session_setup
            );
        } else {
            let _ = writeln!(
                out,
                "\n-- session settings, once per run: {}",
                r.session_summary
            );
        }
        for m in &r.migrations {
            let how = match &m.mode {
                RunMode::Transaction => "in one transaction".to_string(),
                RunMode::NoTransaction(why) => format!("outside a transaction: {why}"),
            };
            let _ = writeln!(out, "\n-- {} ({how})", m.file);
            for line in &m.script {
                match (&line.summary, exact) {
                    (Some(summary), false) => {
                        let _ = writeln!(out, "-- {summary}");
                    }
                    _ => {
                        let marker = if line.in_transaction { "tx" } else { "no-tx" };
                        let _ = writeln!(out, "/* {marker} */ {};", line.sql);
                    }
                }
            }
        }
        let _ = writeln!(
            out,
            "\n-- {} migration(s) would be applied; {} already applied",
            r.migrations.len(),
            r.already_applied
        );
        if !exact {
            out.push_str("-- the exact SQL of every line: -vv, or --format json\n");
        }
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
            if !o.adopted_indexes.is_empty() {
                let _ = write!(
                    note,
                    ", adopted {} (already there with this definition)",
                    o.adopted_indexes.join(", ")
                );
            }
            vec![
                m.version.to_string(),
                m.name.clone(),
                crate::units::ms(o.duration_ms as f64),
                note,
            ]
        })
        .collect::<Vec<_>>();
    let _ = writeln!(out, "database {}", r.database);
    if !rows.is_empty() {
        out.push_str(&table(s, &["version", "name", "duration", "how"], rows));
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
                "{} migration(s) applied in {}; {} were already applied",
                r.migrations.len(),
                crate::units::ms(r.duration_ms as f64),
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

fn record(r: &RecordReport, s: &Screen) -> String {
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
        s,
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

fn demo(r: &DemoReport, s: &Screen) -> String {
    let mut out = String::new();
    for section in &r.sections {
        let _ = writeln!(out, "== {}\n", section.title);
        out.push_str(&render(&section.report, s));
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
                    crate::units::ms(c.before_ms),
                    verdict(&c.before).to_string(),
                    crate::units::ms(c.after_ms),
                    verdict(&c.after).to_string(),
                    crate::units::ratio(c.before_ms, c.after_ms),
                ]
            })
            .collect();
        out.push_str(&table(
            s,
            &["query", "before", "", "after", "", "speedup"],
            rows,
        ));
        let within = |f: fn(&super::model::Comparison) -> &Option<Verdict>| {
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
