//! The page of `check`: the chart, then the plans table, which the demo page shows too.

use super::chart::{Bar, Chart, Row, Unit};
use super::markup::{Cell, chart_section, document, header, paragraph, quantity, standing, table};
use crate::check::CheckMode;
use crate::explain::{PlanFindings, Verdict};
use crate::report::model::CheckReport;

/// The page of a check.
pub(super) fn page(r: &CheckReport) -> String {
    let mode = r.mode.as_str();
    let mut body = header(
        "pgwarden check",
        &[
            ("database", &r.database),
            ("mode", mode),
            ("policy", &r.policy),
        ],
    );
    let within = r
        .queries
        .iter()
        .filter(|q| {
            q.verdict
                .as_ref()
                .is_some_and(|v| v.verdict == Verdict::Within)
        })
        .count();
    body.push_str(&paragraph(
        "summary",
        &format!(
            "{within} of {} {} within budget ({} over, {} not measured)",
            r.queries.len(),
            quantity(r.queries.len()),
            r.over_budget,
            r.errors
        ),
    ));
    body.push_str(&check_body(r));
    document(&format!("pgwarden check: {}", r.database), &body)
}

/// The chart, then the plans.
fn check_body(r: &CheckReport) -> String {
    let explain = r.mode == CheckMode::Explain;
    let chart = Chart {
        unit: if explain { Unit::Cost } else { Unit::Ms },
        rows: r
            .queries
            .iter()
            .map(|q| Row {
                query: q.name.clone(),
                // The cost limit is not part of the report: explain mode shows the verdict only.
                budget: (!explain).then_some(q.budget.mean_ms),
                bars: vec![Bar {
                    phase: None,
                    value: q
                        .verdict
                        .as_ref()
                        .map(|v| if explain { v.max_ms } else { v.mean_ms }),
                    standing: standing(q.verdict.as_ref().map(|v| v.verdict)),
                }],
            })
            .collect(),
    };
    let measured = match r.mode {
        CheckMode::Explain => {
            "planner cost (the highest over the parameter sets), not time: explain mode runs nothing"
        }
        CheckMode::Stats => "mean time per call, from pg_stat_statements",
        CheckMode::Analyze => "mean time per query, from EXPLAIN ANALYZE (rolled back)",
    };
    let mut out = chart_section(&chart, measured);
    out.push_str("<h2>Where the time goes</h2>\n");
    out.push_str(&plans_table(r));
    for note in &r.notes {
        out.push_str(&paragraph("note", &format!("note: {note}")));
    }
    out
}

/// Each query's verdict, dominant plan node and why: the reasons, then the plan's findings.
pub(super) fn plans_table(r: &CheckReport) -> String {
    let figure = |v: f64| {
        if r.mode == CheckMode::Explain {
            format!("cost {}", r.figure(v))
        } else {
            r.figure(v)
        }
    };
    let rows = r
        .queries
        .iter()
        .map(|q| {
            let (class, verdict, mean) = match &q.verdict {
                Some(v) if v.verdict == Verdict::Over => ("over", "over", figure(v.mean_ms)),
                Some(v) => ("within", "within", figure(v.mean_ms)),
                None => ("error", "error", "-".to_string()),
            };
            let dominant = match (&q.findings.dominant_node, q.findings.dominant_ms) {
                (Some(node), Some(ms)) => format!("{node} ({})", crate::units::ms(ms)),
                (Some(node), None) => node.clone(),
                _ => "-".to_string(),
            };
            let mut why: Vec<String> = q.error.iter().cloned().collect();
            if let Some(v) = &q.verdict {
                why.extend(v.reasons.iter().cloned());
            }
            // The dominant node has its own column; the rest of the findings explain it.
            let summary = PlanFindings {
                dominant_node: None,
                dominant_ms: None,
                ..q.findings.clone()
            }
            .summary();
            if !summary.is_empty() {
                why.push(summary);
            }
            let budget = if r.mode == CheckMode::Explain {
                "max_cost".to_string()
            } else {
                crate::units::ms(q.budget.mean_ms)
            };
            let cells = vec![
                q.name.clone(),
                verdict.to_string(),
                mean,
                budget,
                dominant,
                why.join("; "),
            ];
            (class, cells.into_iter().map(Cell::from).collect())
        })
        .collect();
    table(
        &[
            "query",
            "verdict",
            "mean",
            "budget",
            "dominant plan node",
            "why",
        ],
        rows,
    )
}
