//! The page of `demo`: the workload before and after the fix, then each check's plans, the
//! proposals and the steps.

use super::advise::proposals;
use super::chart::{Bar, Chart, Row, Unit};
use super::check::plans_table;
use super::markup::{
    Cell, chart_section, document, header, heading, paragraph, quantity, standing, table,
};
use crate::explain::Verdict;
use crate::report::Report;
use crate::report::model::{CheckReport, Comparison, DemoReport};

/// The page of a demo run.
pub(super) fn page(r: &DemoReport) -> String {
    let checks: Vec<(&str, &CheckReport)> = r
        .sections
        .iter()
        .filter_map(|s| match &s.report {
            Report::Check(c) => Some((s.title.as_str(), c)),
            _ => None,
        })
        .collect();
    let database = checks.first().map_or("-", |(_, c)| c.database.as_str());
    let mut body = header(
        "pgwarden demo",
        &[
            ("database", database),
            ("mode", "before and after the advisor's indexes"),
        ],
    );
    let n = r.comparison.len();
    let within = |f: fn(&Comparison) -> Option<Verdict>| {
        r.comparison
            .iter()
            .filter(|c| f(c) == Some(Verdict::Within))
            .count()
    };
    body.push_str(&paragraph(
        "summary",
        &format!(
            "within budget: {} of {n} {} before the fix, {} after",
            within(|c| c.before),
            quantity(n),
            within(|c| c.after)
        ),
    ));
    // The comparison has no budget: it is the check's, found by query name.
    let budget = |query: &str| {
        checks.iter().find_map(|(_, c)| {
            c.queries
                .iter()
                .find(|q| q.name == query)
                .map(|q| q.budget.mean_ms)
        })
    };
    let chart = Chart {
        unit: Unit::Ms,
        rows: r
            .comparison
            .iter()
            .map(|c| Row {
                query: c.query.clone(),
                budget: budget(&c.query),
                bars: vec![
                    Bar {
                        phase: Some("before"),
                        value: c.before.map(|_| c.before_ms),
                        standing: standing(c.before),
                    },
                    Bar {
                        phase: Some("after"),
                        value: c.after.map(|_| c.after_ms),
                        standing: standing(c.after),
                    },
                ],
            })
            .collect(),
    };
    body.push_str(&chart_section(
        &chart,
        "mean time per query before the fix (pale) and after it",
    ));
    for (title, c) in &checks {
        body.push_str(&heading(&format!("Where the time goes: {title}")));
        body.push_str(&plans_table(c));
    }
    for s in &r.sections {
        if let Report::Advise(a) = &s.report {
            body.push_str(&proposals(&a.advice.proposals));
        }
    }
    body.push_str(&heading("Steps"));
    let rows = r
        .sections
        .iter()
        .map(|s| {
            let code = s.report.exit_code();
            let class = if code == 2 { "error" } else { "" };
            (
                class,
                vec![Cell::from(s.title.clone()), Cell::from(code.to_string())],
            )
        })
        .collect();
    body.push_str(&table(&["step", "exit code"], rows));
    document("pgwarden demo", &body)
}
