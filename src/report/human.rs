//! Human output: tables plus a one-line summary.

use super::Report;
use super::Screen;
use super::model::*;
use super::table::table;
use crate::check::CheckMode;
use crate::datagen::GenerateReport;
use crate::escape::inline;
use crate::explain::Verdict;
use std::fmt::Write;

/// Renders `report` for `s`; with colour, plan lines are marked (+ green, ~ yellow, - red).
pub fn render(report: &Report, s: &Screen) -> String {
    match report {
        Report::MigrateStatus(r) => super::migrate::status(r, s),
        Report::MigrateApply(r) => super::migrate::apply(r, s),
        Report::MigrateVerify(r) => super::migrate::verify(r),
        Report::MigrateNew(r) => format!("created {} (version {})\n", r.path.display(), r.version),
        Report::MigrateBaseline(r) | Report::MigrateRepair(r) => super::migrate::record(r, s),
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
        Report::ApplyPlan(r) => super::reviewed::apply_plan(r, s),
        Report::Demo(r) => demo(r, s),
        Report::Doctor(r) => super::doctor::doctor(r, s),
        Report::Watch(r) => super::watch::watch(r, s),
        Report::Fleet(r) => super::fleet::fleet(r, s),
    }
}

/// Below this width `check` leaves out p95 and max, so the explanation keeps room to read.
const CHECK_FULL_WIDTH: usize = 120;

fn check(r: &CheckReport, s: &Screen) -> String {
    let narrow = s.width.is_some_and(|w| w < CHECK_FULL_WIDTH);
    let figure = |v: f64| r.figure(v);
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
            if narrow {
                vec![q.name.clone(), mean, budget, verdict, why]
            } else {
                vec![q.name.clone(), mean, p95, max, budget, verdict, why]
            }
        })
        .collect();
    let mut out = format!(
        "database {}\nmode {}, policy {}\n",
        r.database,
        r.mode.as_str(),
        r.policy
    );
    if narrow {
        out.push_str(&table(
            s,
            &["query", "mean", "budget", "verdict", "why"],
            rows,
        ));
        out.push_str("(p95 and max: in a terminal of 120 columns or more, or --format json)\n");
    } else {
        out.push_str(&table(
            s,
            &["query", "mean", "p95", "max", "budget", "verdict", "why"],
            rows,
        ));
    }
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
    for replica in &r.replicas {
        let _ = writeln!(out, "\non replica {}:", inline(&replica.server));
        match (&replica.report, &replica.error) {
            (Some(sub), _) => out.push_str(&check(sub, s)),
            (None, error) => {
                let _ = writeln!(
                    out,
                    "ERROR: not judged: {}",
                    inline(error.as_deref().unwrap_or("unknown"))
                );
            }
        }
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
            &["query", "before", "verdict", "after", "verdict", "speedup"],
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
