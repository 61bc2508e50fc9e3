//! `--html FILE` for `check`, `advise` and `demo`: one self-contained page to attach as a CI
//! artifact. Inline CSS and SVG, no script, nothing fetched (a Content-Security-Policy forbids
//! it too), so it opens the same offline, from a mail or from a build's artifacts.
//!
//! The page: a header (database, mode), a summary line, a bar chart of each query's time
//! against its budget (see [`chart`]), a table of what dominates each plan, and the proposals.
//! All text from the report (names, SQL, reasons) is hostile: it reaches the markup only
//! through [`crate::escape::xml`], in element text and attribute values alike.

mod advise;
mod chart;
mod check;
mod demo;
mod markup;

use super::Report;

/// The page for `report`: `Some` for `check`, `advise` and `demo`, `None` for every other
/// report (they have no times to chart). The page is a complete HTML document that loads
/// nothing: no script, no external URL, no font or image.
pub fn html(report: &Report) -> Option<String> {
    match report {
        Report::Check(r) => Some(check::page(r)),
        Report::Advise(r) => Some(advise::page(r)),
        Report::Demo(r) => Some(demo::page(r)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::candidates::Method;
    use crate::advisor::{Advice, Proposal, QueryOutcome};
    use crate::check::{CheckMode, QueryCheck};
    use crate::explain::{Budget, BudgetVerdict, PlanFindings, Verdict};
    use crate::report::model::*;

    const HOSTILE: &str = "</svg><script>alert(1)</script>";

    fn query(name: &str, mean_ms: Option<f64>, budget_ms: f64) -> QueryCheck {
        QueryCheck {
            name: name.into(),
            sql: "SELECT 1".into(),
            param_sets: 1,
            runs: 3,
            weight: None,
            budget: Budget {
                mean_ms: budget_ms,
                p95_ms: None,
            },
            verdict: mean_ms.map(|m| BudgetVerdict {
                verdict: if m > budget_ms {
                    Verdict::Over
                } else {
                    Verdict::Within
                },
                mean_ms: m,
                p95_ms: m,
                max_ms: m,
                reasons: if m > budget_ms {
                    vec![format!("mean {m} ms > budget {budget_ms} ms")]
                } else {
                    Vec::new()
                },
            }),
            findings: PlanFindings {
                dominant_node: Some("Seq Scan on <t> & \"u\"".into()),
                dominant_ms: mean_ms,
                seq_scans: vec!["t".into()],
                ..PlanFindings::default()
            },
            error: mean_ms
                .is_none()
                .then(|| "permission denied for <table> t".into()),
        }
    }

    fn check_report(mode: CheckMode) -> CheckReport {
        CheckReport {
            mode,
            database: "shop<db>".into(),
            policy: "policy.toml".into(),
            // 30 s, 40 µs, a hostile name, and one that could not be measured.
            queries: vec![
                query("slow", Some(30_000.0), 100.0),
                query("fast", Some(0.04), 100.0),
                query(HOSTILE, Some(250.0), 100.0),
                query("broken", None, 100.0),
            ],
            over_budget: 2,
            errors: 1,
            notes: vec!["1 statement hidden & not judged".into()],
            replicas: vec![],
        }
    }

    fn advise_report() -> AdviseReport {
        let outcome = |name: &str, before_ms: f64, after_ms: f64| QueryOutcome {
            name: name.into(),
            budget_ms: 100.0,
            before_ms,
            after_ms,
            weight: 1.0,
            weight_source: crate::advisor::cost::WeightSource::Default,
            note: Some("served by <idx>".into()),
        };
        AdviseReport {
            database: "shop".into(),
            advice: Advice {
                evaluation: "shadow copy".into(),
                queries: vec![
                    outcome("by_status", 900.0, 0.5),
                    outcome(HOSTILE, 30_000.0, 0.04),
                    outcome("still_slow", 500.0, 300.0),
                ],
                proposals: vec![Proposal {
                    name: "orders_status_idx".into(),
                    table: "orders".into(),
                    method: Method::Btree,
                    columns: vec!["status".into()],
                    ddl: "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status)\n-- </pre><script>x</script>".into(),
                    serves: vec!["by_status".into()],
                    time_saved_ms_per_min: 899.5,
                    gain_share_pct: 100.0,
                    size_bytes: 1_500_000,
                    write_overhead_ms_per_min: 0.2,
                    write_cost: crate::advisor::cost::sampled_cost(0.2),
                    why: "900 ms -> 0.5 ms".into(),
                }],
                rejected: Vec::new(),
            },
            workload: "policy".into(),
            skipped: Vec::new(),
            statements: Vec::new(),
            excluded: None,
            migration: None,
            duration_ms: 1200,
        }
    }

    fn demo_report() -> DemoReport {
        let comparison = |query: &str, before_ms: f64, after: Option<Verdict>| Comparison {
            query: query.into(),
            before_ms,
            before: Some(Verdict::Over),
            after_ms: 1.5,
            after,
        };
        DemoReport {
            sections: vec![
                DemoSection {
                    title: "check: before".into(),
                    report: Report::Check(check_report(CheckMode::Analyze)),
                },
                DemoSection {
                    title: "advise".into(),
                    report: Report::Advise(advise_report()),
                },
            ],
            comparison: vec![
                comparison("slow", 30_000.0, Some(Verdict::Within)),
                comparison(HOSTILE, 250.0, Some(Verdict::Within)),
                comparison("broken", 300.0, None),
            ],
        }
    }

    /// The `<rect ...>` start tags carrying `class="bar"`.
    fn bars(page: &str) -> Vec<&str> {
        page.match_indices("<rect ")
            .map(|(i, _)| &page[i..i + page[i..].find('>').unwrap_or(0)])
            .filter(|tag| tag.contains("class=\"bar\""))
            .collect()
    }

    /// The bars of query `name` (as escaped in the page), optionally of one phase.
    fn bars_of<'a>(page: &'a str, name: &str, phase: Option<&str>) -> Vec<&'a str> {
        let attr = format!("data-query=\"{}\"", crate::escape::xml(name));
        bars(page)
            .into_iter()
            .filter(|t| t.contains(&attr))
            .filter(|t| phase.is_none_or(|p| t.contains(&format!("data-phase=\"{p}\""))))
            .collect()
    }

    /// What every page must be: a whole document that fetches nothing and runs nothing.
    fn assert_self_contained(page: &str) {
        assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
        assert!(page.contains("<meta charset=\"utf-8\">"));
        let head = &page[..page.find("</head>").unwrap_or(0)];
        assert_eq!(head.matches("<title>").count(), 1, "{head}");
        assert!(head.contains("<title>pgwarden "));
        assert_eq!(page.matches("<style>").count(), 1);
        assert!(page.contains("log scale"), "the scale is said");
        for forbidden in [
            "http://", "https://", "<script", "<img", "<link", "@import", "url(",
        ] {
            assert!(
                !page.contains(forbidden),
                "{forbidden} in the page:\n{page}"
            );
        }
    }

    #[test]
    fn a_check_page_has_one_bar_per_query_coloured_by_verdict() {
        let page = html(&Report::Check(check_report(CheckMode::Analyze))).unwrap();
        assert_self_contained(&page);
        assert_eq!(bars(&page).len(), 4);
        for name in ["slow", "fast", HOSTILE, "broken"] {
            assert_eq!(bars_of(&page, name, None).len(), 1, "{name}");
        }
        assert!(
            bars_of(&page, "slow", None)[0].contains("#c62828"),
            "over is red"
        );
        assert!(
            bars_of(&page, "fast", None)[0].contains("#2e7d32"),
            "within is green"
        );
        assert_eq!(
            page.matches("class=\"budget\"").count(),
            4,
            "every row shows its budget, measured or not"
        );
        assert!(
            page.contains("30 s") && page.contains("40 µs"),
            "both extremes labelled"
        );
        assert!(
            page.contains("1 of 4 queries within budget (2 over, 1 not measured)"),
            "{page}"
        );
        assert!(page.contains("shop&lt;db&gt;") && page.contains("Seq Scan on &lt;t&gt; &amp;"));
        assert!(page.contains("permission denied for &lt;table&gt; t"));
        assert!(page.contains("hidden &amp; not judged"));
    }

    #[test]
    fn explain_mode_labels_the_axis_as_planner_cost() {
        let page = html(&Report::Check(check_report(CheckMode::Explain))).unwrap();
        assert_self_contained(&page);
        assert!(page.contains("planner cost"), "{page}");
        assert!(page.contains("cost 30000"), "{page}");
        let chart = &page[page.find("<svg").unwrap()..page.find("</svg>").unwrap()];
        for unit in [" ms", " s<", "µs", " min"] {
            assert!(!chart.contains(unit), "costs are not times: {chart}");
        }
        assert_eq!(
            page.matches("class=\"budget\"").count(),
            0,
            "the cost limit is unknown"
        );
        assert_eq!(bars(&page).len(), 4);
    }

    #[test]
    fn an_advise_page_has_a_before_and_an_after_bar_per_query_and_the_proposals() {
        let page = html(&Report::Advise(advise_report())).unwrap();
        assert_self_contained(&page);
        assert_eq!(bars(&page).len(), 6);
        for name in ["by_status", HOSTILE, "still_slow"] {
            assert_eq!(bars_of(&page, name, Some("before")).len(), 1, "{name}");
            assert_eq!(bars_of(&page, name, Some("after")).len(), 1, "{name}");
        }
        assert!(bars_of(&page, "by_status", Some("after"))[0].contains("#2e7d32"));
        assert!(bars_of(&page, "still_slow", Some("after"))[0].contains("#c62828"));
        assert!(page.contains("orders_status_idx") && page.contains("1.5 MB"));
        assert!(page.contains("<pre>CREATE INDEX CONCURRENTLY orders_status_idx"));
        assert!(page.contains("&lt;/pre&gt;"), "DDL is escaped inside <pre>");
        assert!(page.contains("within budget: 0 of 3 queries now, 2 with the proposals"));
    }

    #[test]
    fn a_demo_page_compares_before_and_after_with_the_checks_budget() {
        let page = html(&Report::Demo(demo_report())).unwrap();
        assert_self_contained(&page);
        assert_eq!(bars(&page).len(), 6, "two bars per compared query");
        for name in ["slow", HOSTILE, "broken"] {
            assert_eq!(bars_of(&page, name, Some("before")).len(), 1, "{name}");
            assert_eq!(bars_of(&page, name, Some("after")).len(), 1, "{name}");
        }
        assert_eq!(
            page.matches("class=\"budget\"").count(),
            3,
            "budgets from the check"
        );
        assert!(bars_of(&page, "broken", Some("after"))[0].contains("#9e9e9e"));
        assert!(page.contains("within budget: 0 of 3 queries before the fix, 2 after"));
        assert!(
            page.contains("orders_status_idx"),
            "the advise step's proposals"
        );
    }

    #[test]
    fn hostile_names_appear_only_escaped() {
        for report in [
            Report::Check(check_report(CheckMode::Analyze)),
            Report::Advise(advise_report()),
            Report::Demo(demo_report()),
        ] {
            let page = html(&report).unwrap();
            assert!(!page.contains(HOSTILE), "{page}");
            assert!(!page.contains("<script"), "{page}");
            assert_eq!(
                page.matches("</svg>").count(),
                1,
                "only the chart's own end tag"
            );
            assert!(page.contains("&lt;/svg&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
        }
    }

    #[test]
    fn quotes_and_control_characters_cannot_leave_an_attribute() {
        let mut r = check_report(CheckMode::Analyze);
        r.queries[0].name = "a\" onload=\"x' \u{1b}\u{0}\nb".into();
        let page = html(&Report::Check(r)).unwrap();
        assert!(!page.contains("onload=\""), "{page}");
        assert!(!page.contains('\u{1b}') && !page.contains('\u{0}'));
        assert_eq!(bars(&page).len(), 4);
    }

    #[test]
    fn other_reports_have_no_page() {
        let new = Report::MigrateNew(NewReport {
            version: 3,
            path: "V3__x.sql".into(),
        });
        assert!(html(&new).is_none());
        let ci = Report::Ci(CiReport {
            sections: Vec::new(),
        });
        assert!(html(&ci).is_none());
    }

    #[test]
    fn an_empty_workload_still_makes_a_page() {
        let mut r = check_report(CheckMode::Stats);
        r.queries.clear();
        let page = html(&Report::Check(r)).unwrap();
        assert_self_contained(&page);
        assert!(bars(&page).is_empty());
        assert!(page.contains("0 of 0 queries within budget"));
    }
}
