//! The page of `advise`: each query now and with the proposals, and the proposals.

use super::chart::{Bar, Chart, Row, Unit};
use super::markup::{
    Cell, chart_section, document, header, paragraph, quantity, table, within_budget,
};
use crate::advisor::{Proposal, QueryOutcome};
use crate::report::model::AdviseReport;

/// The page of an advise run.
pub(super) fn page(r: &AdviseReport) -> String {
    let a = &r.advice;
    let mut body = header(
        "pgwarden advise",
        &[
            ("database", &r.database),
            ("evaluation", &a.evaluation),
            ("workload", &r.workload),
        ],
    );
    let count =
        |f: fn(&QueryOutcome) -> f64| a.queries.iter().filter(|q| f(q) <= q.budget_ms).count();
    body.push_str(&paragraph(
        "summary",
        &format!(
            "{} index(es) proposed; within budget: {} of {} {} now, {} with the proposals",
            a.proposals.len(),
            count(|q| q.before_ms),
            a.queries.len(),
            quantity(a.queries.len()),
            count(|q| q.after_ms)
        ),
    ));
    let chart = Chart {
        unit: Unit::Ms,
        rows: a
            .queries
            .iter()
            .map(|q| Row {
                query: q.name.clone(),
                budget: Some(q.budget_ms),
                bars: vec![
                    Bar {
                        phase: Some("before"),
                        value: Some(q.before_ms),
                        standing: within_budget(q.before_ms, q.budget_ms),
                    },
                    Bar {
                        phase: Some("after"),
                        value: Some(q.after_ms),
                        standing: within_budget(q.after_ms, q.budget_ms),
                    },
                ],
            })
            .collect(),
    };
    body.push_str(&chart_section(
        &chart,
        "mean time per query now (before, pale) and with the proposed indexes (after)",
    ));
    body.push_str("<h2>Queries</h2>\n");
    let rows = a
        .queries
        .iter()
        .map(|q| {
            let class = if q.after_ms <= q.budget_ms {
                "within"
            } else {
                "over"
            };
            let cells = vec![
                q.name.clone(),
                crate::units::ms(q.budget_ms),
                crate::units::ms(q.before_ms),
                crate::units::ms(q.after_ms),
                crate::units::ratio(q.before_ms, q.after_ms),
                q.note.clone().unwrap_or_default(),
            ];
            (class, cells.into_iter().map(Cell::from).collect())
        })
        .collect();
    body.push_str(&table(
        &[
            "query",
            "budget",
            "before",
            "with the proposals",
            "speedup",
            "note",
        ],
        rows,
    ));
    body.push_str(&advice_details(r));
    document(&format!("pgwarden advise: {}", r.database), &body)
}

/// Proposals, rejected candidates, skipped statements and the migration written.
fn advice_details(r: &AdviseReport) -> String {
    let mut out = proposals(&r.advice.proposals);
    if !r.advice.rejected.is_empty() {
        out.push_str("<h2>Considered and not proposed</h2>\n");
        let rows = r
            .advice
            .rejected
            .iter()
            .map(|rj| {
                (
                    "",
                    vec![Cell::Code(rj.ddl.clone()), Cell::from(rj.reason.clone())],
                )
            })
            .collect();
        out.push_str(&table(&["index", "why not"], rows));
    }
    for s in &r.skipped {
        out.push_str(&paragraph(
            "note",
            &format!("left out of the workload: {s}"),
        ));
    }
    if let Some(path) = &r.migration {
        out.push_str(&paragraph(
            "note",
            &format!(
                "wrote {}; run `pgwarden migrate apply` to build the indexes",
                path.display()
            ),
        ));
    }
    out
}

/// The proposed indexes with their evidence and DDL.
pub(super) fn proposals(ps: &[Proposal]) -> String {
    let mut out = String::from("<h2>Proposed indexes</h2>\n");
    if ps.is_empty() {
        out.push_str(&paragraph("note", "No index proposed."));
        return out;
    }
    let rows = ps
        .iter()
        .map(|p| {
            let cells = vec![
                Cell::from(p.name.clone()),
                Cell::from(p.table.clone()),
                Cell::from(p.columns.join(", ")),
                Cell::from(format!("{:?}", p.method).to_lowercase()),
                Cell::from(crate::units::bytes(p.size_bytes as f64)),
                Cell::from(format!("{} ({}%)", p.serves.join(", "), p.gain_share_pct)),
                Cell::from(format!(
                    "{}/min: {}",
                    crate::units::ms(p.write_overhead_ms_per_min),
                    p.write_cost.describe()
                )),
                Cell::from(p.why.clone()),
                Cell::Code(p.ddl.clone()),
            ];
            ("", cells)
        })
        .collect();
    out.push_str(&table(
        &[
            "index",
            "table",
            "columns",
            "method",
            "size",
            "serves (share of the time saved)",
            "write overhead",
            "why",
            "DDL",
        ],
        rows,
    ));
    out
}
