//! Findings from recorded plans (tests/fixtures/explain, captured from PostgreSQL 15 on the
//! seed schema with generated data).

use super::*;

fn fixture(name: &str) -> Explain {
    let path = format!(
        "{}/tests/fixtures/explain/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    parse(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn unindexed_range_query_is_dominated_by_a_parallel_seq_scan() {
    let e = fixture("payments_seq_scan.json");
    assert!(e.execution_time.unwrap() > 100.0);
    let f = findings(&e.plan);
    assert_eq!(f.dominant_node.as_deref(), Some("Seq Scan on payments"));
    // Parallel workers: the seq scan's own time cannot exceed the query's wall time.
    assert!(f.dominant_ms.unwrap() <= e.execution_time.unwrap());
    assert_eq!(f.seq_scans, vec!["payments".to_string()]);
    assert!(f.rows_removed_by_filter.unwrap() > 2_000_000.0, "{f:?}");
    assert!(
        f.summary().contains("seq scan of payments"),
        "{}",
        f.summary()
    );
}

#[test]
fn indexed_range_query_has_no_seq_scan() {
    let f = findings(&fixture("payments_indexed.json").plan);
    assert!(f.seq_scans.is_empty());
    assert_eq!(
        f.dominant_node.as_deref(),
        Some("Index Scan using idx_payments_status on payments")
    );
}

#[test]
fn index_only_count_is_recognised() {
    let f = findings(&fixture("projects_index_only.json").plan);
    assert!(f.seq_scans.is_empty());
    assert!(f.dominant_node.unwrap().contains("Index Only Scan"));
}

#[test]
fn misestimates_are_named() {
    let f = findings(&fixture("join_misestimate.json").plan);
    assert!(
        f.misestimates
            .iter()
            .any(|m| m.contains("Seq Scan on users")),
        "{:?}",
        f.misestimates
    );
}

#[test]
fn plan_without_analyze_still_names_seq_scans_from_estimates() {
    let e = fixture("payments_plan_only.json");
    assert!(e.execution_time.is_none());
    let f = findings(&e.plan);
    assert_eq!(f.dominant_node, None);
    assert_eq!(f.seq_scans, vec!["payments".to_string()]);
    assert!(e.plan.total_cost > 10_000.0);
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert!(parse("[]").is_err());
    assert!(parse("{\"Plan\": 1}").is_err());
}
