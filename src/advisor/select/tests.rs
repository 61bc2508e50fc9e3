use super::*;

const NO_LIMITS: Limits = Limits {
    max_indexes_per_table: 10,
    max_total_bytes: i64::MAX,
    write_cost_veto: false,
};

fn q(name: &str, weight: f64, before: f64) -> QueryCost {
    QueryCost {
        name: name.into(),
        weight,
        budget_ms: 100.0,
        before_ms: before,
    }
}

fn c(id: usize, size: i64, write: f64, after: &[Option<f64>]) -> CandidateEffect {
    CandidateEffect {
        id,
        table: "t".into(),
        prefix_of: Vec::new(),
        size_bytes: size,
        write_cost_ms_per_min: write,
        after_ms: after.to_vec(),
    }
}

#[test]
fn equal_benefit_prefers_the_smaller_index() {
    let queries = [q("tasks", 10.0, 180.0)];
    let wide = c(0, 2000, 0.0, &[Some(0.05)]);
    let narrow = c(1, 1000, 0.0, &[Some(0.051)]);
    let s = select(&queries, &[wide, narrow], NO_LIMITS);
    assert_eq!(s.chosen, vec![1]);
    assert_eq!(s.rejected[0].id, 0);
}

#[test]
fn a_timing_difference_under_a_millisecond_is_a_tie_the_smaller_index_wins() {
    // Regression: on a loaded server the partial index timed 0.6 ms slower than the full
    // one (a 6% difference in gain) and the twice-larger full index was chosen.
    let queries = [q("orders", 60.0, 10.9)];
    let full = c(0, 1400, 0.0, &[Some(0.2)]);
    let partial = c(1, 700, 0.0, &[Some(0.8)]);
    let s = select(&queries, &[full, partial], NO_LIMITS);
    assert_eq!(s.chosen, vec![1]);
}

#[test]
fn a_wider_index_is_not_added_for_noise_on_a_fast_query() {
    // Regression: (developer_id) then (developer_id, due_date) 0.01 ms faster replaced it.
    let queries = [q("tasks", 1200.0, 58.0)];
    let narrow = c(0, 1000, 0.0, &[Some(0.03)]);
    let wide = c(1, 2000, 0.0, &[Some(0.02)]);
    let s = select(&queries, &[narrow, wide], NO_LIMITS);
    assert_eq!(s.chosen, vec![0]);
}

#[test]
fn a_covering_variant_is_not_added_for_a_tenth_of_a_millisecond() {
    // Regression: (status, created_at) then its INCLUDE variant 0.1 ms faster replaced it.
    let queries = [q("payments", 120.0, 170.0)];
    let plain = c(0, 1000, 0.0, &[Some(0.15)]);
    let covering = c(1, 1300, 0.0, &[Some(0.05)]);
    let s = select(&queries, &[plain, covering], NO_LIMITS);
    assert_eq!(s.chosen, vec![0]);
}

#[test]
fn a_clearly_faster_wider_index_wins() {
    let queries = [q("payments", 10.0, 180.0)];
    let narrow = c(0, 1000, 0.0, &[Some(40.0)]);
    let wide = c(1, 1500, 0.0, &[Some(0.2)]);
    let s = select(&queries, &[narrow, wide], NO_LIMITS);
    assert_eq!(s.chosen, vec![1]);
    assert!(
        s.rejected[0].reason.contains("already do as well"),
        "{:?}",
        s.rejected
    );
}

#[test]
fn write_overhead_beyond_the_benefit_rejects_a_query_already_within_budget() {
    let queries = [q("rare", 1.0, 90.0)];
    let s = select(&queries, &[c(0, 1000, 5000.0, &[Some(1.0)])], NO_LIMITS);
    assert!(s.chosen.is_empty());
    assert!(
        s.rejected[0].reason.contains("write overhead"),
        "{:?}",
        s.rejected
    );
}

#[test]
fn unused_candidates_are_named_and_queries_under_budget_counted() {
    let queries = [q("a", 1.0, 150.0), q("b", 1.0, 150.0)];
    let s = select(
        &queries,
        &[
            c(0, 10, 0.0, &[Some(5.0), None]),
            c(1, 10, 0.0, &[None, None]),
            c(2, 10, 0.0, &[None, Some(9.0)]),
        ],
        NO_LIMITS,
    );
    assert_eq!(s.chosen.len(), 2);
    assert_eq!(s.after_ms, vec![5.0, 9.0]);
    assert!(
        s.rejected
            .iter()
            .any(|r| r.id == 1 && r.reason.contains("does not use"))
    );
}

#[test]
fn an_index_made_redundant_by_a_later_choice_is_pruned() {
    // Candidate 0 serves query a; candidate 1 serves a and b better: 0 stops paying.
    let queries = [q("a", 1.0, 150.0), q("b", 5.0, 150.0)];
    let s = select(
        &queries,
        &[
            c(0, 10, 0.1, &[Some(50.0), None]),
            c(1, 20, 0.1, &[Some(40.0), Some(10.0)]),
        ],
        NO_LIMITS,
    );
    assert_eq!(s.chosen, vec![1]);
}

#[test]
fn limits_are_respected() {
    let queries = [q("a", 1.0, 150.0), q("b", 1.0, 150.0)];
    let limits = Limits {
        max_indexes_per_table: 1,
        max_total_bytes: i64::MAX,
        write_cost_veto: false,
    };
    let s = select(
        &queries,
        &[
            c(0, 10, 0.0, &[Some(5.0), None]),
            c(1, 10, 0.0, &[None, Some(5.0)]),
        ],
        limits,
    );
    assert_eq!(s.chosen.len(), 1);
    assert!(s.rejected[0].reason.contains("limit"));
}

const VETO: Limits = Limits {
    write_cost_veto: true,
    ..NO_LIMITS
};

#[test]
fn write_cost_never_vetoes_a_candidate_that_brings_a_query_under_budget() {
    // Regression: right after a bulk load every candidate's write overhead looked larger than
    // the time it saved and nothing was proposed, over-budget queries included.
    let queries = [q("rare", 1.0, 120.0)];
    let s = select(&queries, &[c(0, 1000, 5000.0, &[Some(1.0)])], NO_LIMITS);
    assert_eq!(s.chosen, vec![0]);
    assert_eq!(s.after_ms, vec![1.0]);
}

#[test]
fn with_write_cost_veto_a_budget_fix_that_costs_more_in_writes_is_rejected() {
    let queries = [q("rare", 1.0, 120.0)];
    let s = select(&queries, &[c(0, 1000, 5000.0, &[Some(1.0)])], VETO);
    assert!(s.chosen.is_empty());
    let reason = &s.rejected[0].reason;
    assert!(
        reason.contains("write overhead") && reason.contains("write_cost_veto"),
        "{reason}"
    );
    // A cheap one is still taken under the veto.
    let s = select(&queries, &[c(0, 1000, 1.0, &[Some(1.0)])], VETO);
    assert_eq!(s.chosen, vec![0]);
}

#[test]
fn queries_under_budget_come_before_time_saved() {
    // Candidate 0 saves far more weighted time on a query already within budget; candidate 1
    // brings the over-budget one under. Budget first: 1 is chosen first.
    let queries = [q("hot", 1000.0, 90.0), q("over", 1.0, 150.0)];
    let s = select(
        &queries,
        &[
            c(0, 10, 0.0, &[Some(10.0), None]),
            c(1, 10, 0.0, &[None, Some(50.0)]),
        ],
        Limits {
            max_indexes_per_table: 1,
            ..NO_LIMITS
        },
    );
    assert_eq!(s.chosen, vec![1]);
}

#[test]
fn one_index_serving_several_queries_beats_one_per_query() {
    let queries = [q("a", 1.0, 150.0), q("b", 1.0, 150.0)];
    let s = select(
        &queries,
        &[
            c(0, 10, 0.0, &[Some(5.0), None]),
            c(1, 10, 0.0, &[None, Some(5.0)]),
            c(2, 15, 0.0, &[Some(5.0), Some(5.0)]),
        ],
        NO_LIMITS,
    );
    assert_eq!(s.chosen, vec![2]);
    assert_eq!(s.served_by, vec![Some(2), Some(2)]);
}

/// (status) = 0 leads (status, placed_at) = 1.
fn prefix_pair(short_after: &[Option<f64>], long_after: &[Option<f64>]) -> [CandidateEffect; 2] {
    let mut short = c(0, 10, 0.0, short_after);
    short.prefix_of = vec![1];
    [short, c(1, 20, 0.0, long_after)]
}

#[test]
fn an_index_whose_key_leads_a_chosen_one_is_not_proposed_when_it_serves_nothing_better() {
    // Regression: both (state) and (state, placed_at) were proposed on the same table. Query a
    // is served by both about equally (0.4 ms apart: noise), b only by the longer.
    let queries = [q("a", 10.0, 150.0), q("b", 1.0, 150.0)];
    let s = select(
        &queries,
        &prefix_pair(&[Some(3.0), None], &[Some(3.4), Some(4.0)]),
        NO_LIMITS,
    );
    assert_eq!(s.chosen, vec![1]);
    assert_eq!(s.rejected[0].id, 0);
    assert_eq!(s.rejected[0].covered_by, Some(1));
    assert!(s.rejected[0].reason.contains("lead"), "{:?}", s.rejected);
}

#[test]
fn a_prefix_that_serves_a_query_measurably_better_is_kept() {
    // The shorter index is 8 ms faster on query a than the longer one: measured to matter.
    let queries = [q("a", 10.0, 150.0), q("b", 1.0, 150.0)];
    let s = select(
        &queries,
        &prefix_pair(&[Some(2.0), None], &[Some(10.0), Some(4.0)]),
        NO_LIMITS,
    );
    let mut chosen = s.chosen.clone();
    chosen.sort();
    assert_eq!(chosen, vec![0, 1]);
    assert_eq!(s.served_by, vec![Some(0), Some(1)]);
}

#[test]
fn a_gain_under_the_noise_floor_never_pays_for_writes() {
    // 0.5 ms faster at 1000 calls a minute is 500 ms/min, but below the 1 ms floor per call.
    let queries = [q("fast", 1000.0, 5.0)];
    let s = select(&queries, &[c(0, 10, 1.0, &[Some(4.5)])], NO_LIMITS);
    assert!(s.chosen.is_empty());
    assert!(s.rejected[0].reason.contains("noise"), "{:?}", s.rejected);
}
