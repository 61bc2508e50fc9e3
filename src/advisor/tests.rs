//! The advisor's decisions over a scripted lab: which candidates are proven and proposed, what
//! is rejected and why, and that every candidate put in place is removed again.

use super::candidates::IndexCandidate;
use super::cost::{Maintenance, MaintenanceSource, RateSource, WeightSource, WriteCounters};
use super::prove::{Baseline, CostUnit, Placement, Prover};
use super::select::Limits;
use super::{Advice, AdviseError, TargetCatalog, advise_with};
use crate::policy::Policy;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

const NO_LIMITS: Limits = Limits {
    max_indexes_per_table: 10,
    max_total_bytes: i64::MAX,
    write_cost_veto: false,
};

/// `SELECT id FROM orders WHERE customer_id = 7` gets two candidates: this one and
/// `idx_orders_customer_id_covering`, (customer_id) INCLUDE (id).
const BY_CUSTOMER: &str = "idx_orders_customer_id";
const COVERING: &str = "idx_orders_customer_id_covering";

/// A lab with scripted costs that records what it was asked.
struct FakeProver {
    label: String,
    unit: CostUnit,
    /// Query name -> live time, ms.
    live: HashMap<String, f64>,
    /// Query name -> the lab's cost without any candidate (the live time when absent).
    lab: HashMap<String, f64>,
    /// (query name, candidate name) -> the lab's cost with that candidate in place; absent:
    /// the plan does not change.
    with: HashMap<(String, String), f64>,
    /// Candidates the lab cannot model.
    unmodelled: Vec<String>,
    /// Candidates whose build fails, with the error.
    failing: Option<(String, AdviseError)>,
    placed: Option<String>,
    /// Maintenance per written row the lab reports, ms.
    maintenance_ms: f64,
    /// Successive readings of the rows written per table (the last repeats; none: empty).
    counters: Vec<HashMap<String, f64>>,
    /// Query name -> calls per minute in pg_stat_statements.
    calls: HashMap<String, f64>,
    /// What the advisor asked, in order: `place X`, `remove X`, `without q`, `with q X`.
    log: Vec<String>,
}

impl FakeProver {
    fn new(unit: CostUnit) -> Self {
        Self {
            label: "fake lab".into(),
            unit,
            live: HashMap::new(),
            lab: HashMap::new(),
            with: HashMap::new(),
            unmodelled: Vec::new(),
            failing: None,
            placed: None,
            maintenance_ms: 0.002,
            counters: Vec::new(),
            calls: HashMap::new(),
            log: Vec::new(),
        }
    }

    fn live(mut self, query: &str, ms: f64) -> Self {
        self.live.insert(query.into(), ms);
        self
    }

    fn with(mut self, query: &str, candidate: &str, cost: f64) -> Self {
        self.with.insert((query.into(), candidate.into()), cost);
        self
    }

    fn cost_without(&self, query: &str) -> f64 {
        self.lab
            .get(query)
            .or_else(|| self.live.get(query))
            .copied()
            .unwrap_or_else(|| panic!("no time scripted for query {query}"))
    }

    fn logged(&self, prefix: &str) -> Vec<&str> {
        self.log
            .iter()
            .filter(|l| l.starts_with(prefix))
            .map(String::as_str)
            .collect()
    }
}

impl Prover for FakeProver {
    fn evaluation(&self) -> String {
        self.label.clone()
    }

    fn unit(&self) -> CostUnit {
        self.unit
    }

    fn baselines(&mut self, policy: &Policy) -> Result<Vec<Baseline>, AdviseError> {
        Ok(policy
            .queries
            .iter()
            .map(|q| {
                let ms = self.live[&q.name];
                Baseline {
                    mean_ms: ms,
                    over: ms > policy.budget_for(q).mean_ms,
                }
            })
            .collect())
    }

    fn costs_without(
        &mut self,
        policy: &Policy,
        _candidate: &IndexCandidate,
        measure: &[bool],
    ) -> Result<Vec<Option<f64>>, AdviseError> {
        assert!(
            self.placed.is_none(),
            "measured `without` with an index in place"
        );
        let mut out = Vec::new();
        for (q, m) in policy.queries.iter().zip(measure) {
            out.push(m.then(|| {
                self.log.push(format!("without {}", q.name));
                self.cost_without(&q.name)
            }));
        }
        Ok(out)
    }

    fn place(&mut self, candidate: &IndexCandidate) -> Result<Placement, AdviseError> {
        let name = candidate.name();
        assert!(
            self.placed.is_none(),
            "{name} placed while {:?} is in place",
            self.placed
        );
        if self.unmodelled.contains(&name) {
            self.log.push(format!("unmodelled {name}"));
            return Ok(Placement::Unmodelled("the fake cannot model it".into()));
        }
        if self.failing.as_ref().is_some_and(|(c, _)| *c == name)
            && let Some((_, e)) = self.failing.take()
        {
            self.log.push(format!("failed {name}"));
            return Err(e);
        }
        self.log.push(format!("place {name}"));
        self.placed = Some(name);
        Ok(Placement::Placed)
    }

    fn size_bytes(&mut self) -> Result<i64, AdviseError> {
        match self.placed {
            Some(_) => Ok(8192),
            None => Err(AdviseError::NothingPlaced),
        }
    }

    fn costs_with(
        &mut self,
        policy: &Policy,
        measure: &[bool],
    ) -> Result<Vec<Option<f64>>, AdviseError> {
        let placed = self
            .placed
            .clone()
            .expect("measured `with` and nothing placed");
        let mut out = Vec::new();
        for (q, m) in policy.queries.iter().zip(measure) {
            out.push(m.then(|| {
                self.log.push(format!("with {} {placed}", q.name));
                let key = (q.name.clone(), placed.clone());
                self.with
                    .get(&key)
                    .copied()
                    .unwrap_or_else(|| self.cost_without(&q.name))
            }));
        }
        Ok(out)
    }

    fn remove(&mut self) -> Result<(), AdviseError> {
        let placed = self.placed.take().expect("removed and nothing placed");
        self.log.push(format!("remove {placed}"));
        Ok(())
    }

    fn maintenance(&mut self, candidate: &IndexCandidate) -> Result<Maintenance, AdviseError> {
        assert!(
            self.placed.is_none(),
            "maintenance timed with an index in place"
        );
        self.log.push(format!("maintenance {}", candidate.name()));
        Ok(Maintenance {
            ms_per_row: self.maintenance_ms,
            source: MaintenanceSource::Measured {
                on: "the fake".into(),
            },
        })
    }

    /// The first reading is dated ten minutes ago, so the advisor never waits on the fake.
    fn write_counters(&mut self) -> Result<WriteCounters, AdviseError> {
        let reads = self.logged("counters").len();
        self.log.push("counters".into());
        let now = Instant::now();
        let at = match reads {
            0 => now.checked_sub(Duration::from_secs(600)).unwrap_or(now),
            _ => now,
        };
        let rows = match self.counters.get(reads).or(self.counters.last()) {
            Some(rows) => rows.clone(),
            None => HashMap::new(),
        };
        Ok(WriteCounters { rows, at })
    }

    fn calls_per_min(&mut self, policy: &Policy) -> Result<Vec<Option<f64>>, AdviseError> {
        Ok(policy
            .queries
            .iter()
            .map(|q| self.calls.get(&q.name).copied())
            .collect())
    }
}

/// A policy with a 100 ms budget and these (name, sql) queries.
fn policy(queries: &[(&str, &str)]) -> Policy {
    let mut text = String::from("version = 1\n[budget]\nmean_ms = 100.0\n");
    for (name, sql) in queries {
        text.push_str(&format!("[[query]]\nname = \"{name}\"\nsql = \"{sql}\"\n"));
    }
    crate::policy::parse(&text, Path::new("test.toml")).expect("a valid test policy")
}

fn orders() -> Policy {
    policy(&[("a", "SELECT id FROM orders WHERE customer_id = 7")])
}

fn advise(lab: &mut FakeProver, policy: &Policy, target: &TargetCatalog) -> Advice {
    advise_with(lab, target, policy, NO_LIMITS).expect("advice")
}

#[test]
fn the_candidate_that_brings_a_query_under_budget_is_proposed() {
    let mut lab = FakeProver::new(CostUnit::LiveMs)
        .live("a", 150.0)
        .with("a", BY_CUSTOMER, 2.0);
    let advice = advise(&mut lab, &orders(), &TargetCatalog::default());
    let names: Vec<&str> = advice.proposals.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, [BY_CUSTOMER]);
    let p = &advice.proposals[0];
    assert_eq!(p.serves, ["a"]);
    assert_eq!(p.size_bytes, 8192);
    assert_eq!(
        p.ddl,
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"idx_orders_customer_id\" ON \"orders\" (\"customer_id\")"
    );
    let a = &advice.queries[0];
    assert_eq!(
        (a.before_ms, a.after_ms, a.note.as_deref()),
        (150.0, 2.0, None)
    );
}

#[test]
fn a_candidate_the_plan_does_not_use_is_rejected_with_the_reason() {
    // The covering variant is scripted to change nothing; 140 ms against 150 ms is under the
    // 10% that separates a faster plan from noise, so it does not count either.
    for covering_ms in [150.0, 140.0] {
        let mut lab = FakeProver::new(CostUnit::LiveMs)
            .live("a", 150.0)
            .with("a", BY_CUSTOMER, 2.0)
            .with("a", COVERING, covering_ms);
        let advice = advise(&mut lab, &orders(), &TargetCatalog::default());
        assert_eq!(advice.proposals.len(), 1, "{covering_ms} ms");
        let reasons: Vec<(&str, &str)> = advice
            .rejected
            .iter()
            .map(|r| (r.ddl.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"idx_orders_customer_id_covering\" ON \"orders\" (\"customer_id\") INCLUDE (\"id\")",
                "the planner does not use it for any workload query"
            )],
            "{covering_ms} ms"
        );
    }
}

#[test]
fn a_query_within_budget_gets_no_candidate_and_is_not_measured() {
    let policy = policy(&[
        ("a", "SELECT id FROM orders WHERE customer_id = 7"),
        ("b", "SELECT id FROM invoices WHERE status = 'open'"),
    ]);
    let mut lab = FakeProver::new(CostUnit::LiveMs)
        .live("a", 150.0)
        .live("b", 50.0)
        .with("a", BY_CUSTOMER, 2.0)
        .with("b", "idx_invoices_status", 1.0);
    let advice = advise(&mut lab, &policy, &TargetCatalog::default());
    assert!(
        advice.proposals.iter().all(|p| p.table == "orders"),
        "{:?}",
        advice.proposals
    );
    assert!(advice.rejected.iter().all(|r| !r.ddl.contains("invoices")));
    assert!(
        lab.log
            .iter()
            .all(|l| !l.contains("invoices") && l != "without b" && !l.starts_with("with b ")),
        "{:?}",
        lab.log
    );
    let b = &advice.queries[1];
    assert_eq!(
        (b.before_ms, b.after_ms, b.note.as_deref()),
        (50.0, 50.0, None)
    );
}

#[test]
fn the_evaluation_label_is_passed_through() {
    let mut lab = FakeProver::new(CostUnit::LiveMs).live("a", 150.0);
    lab.label = "materialized on the fake's copy".into();
    let advice = advise(&mut lab, &orders(), &TargetCatalog::default());
    assert_eq!(advice.evaluation, "materialized on the fake's copy");
}

#[test]
fn every_placed_candidate_is_removed_before_the_next_is_placed() {
    let mut lab = FakeProver::new(CostUnit::LiveMs)
        .live("a", 150.0)
        .with("a", BY_CUSTOMER, 2.0)
        .with("a", COVERING, 1.5);
    advise(&mut lab, &orders(), &TargetCatalog::default());
    let trials: Vec<&str> = lab
        .log
        .iter()
        .filter(|l| l.starts_with("place ") || l.starts_with("remove "))
        .map(String::as_str)
        .collect();
    assert_eq!(
        trials,
        [
            "place idx_orders_customer_id",
            "remove idx_orders_customer_id",
            "place idx_orders_customer_id_covering",
            "remove idx_orders_customer_id_covering",
        ]
    );
    assert_eq!(lab.placed, None);
}

#[test]
fn a_candidate_the_lab_cannot_model_is_rejected_in_the_labs_words_and_never_removed() {
    let mut lab = FakeProver::new(CostUnit::Ratio)
        .live("a", 150.0)
        .with("a", BY_CUSTOMER, 2.0);
    lab.unmodelled.push(COVERING.into());
    let advice = advise(&mut lab, &orders(), &TargetCatalog::default());
    assert_eq!(advice.proposals.len(), 1);
    assert!(
        advice
            .rejected
            .iter()
            .any(|r| r.ddl.contains(COVERING) && r.reason == "the fake cannot model it"),
        "{:?}",
        advice.rejected
    );
    assert!(lab.logged("remove").iter().all(|l| !l.contains(COVERING)));
    assert!(lab.logged("with").iter().all(|l| !l.contains(COVERING)));
}

#[test]
fn a_ratio_lab_scales_the_live_time_by_its_ratio() {
    // A 10% sample: the 150 ms live query took 15 ms on the copy and 0.3 ms with the index.
    let mut lab = FakeProver::new(CostUnit::Ratio)
        .live("a", 150.0)
        .with("a", BY_CUSTOMER, 0.3);
    lab.lab.insert("a".into(), 15.0);
    let advice = advise(&mut lab, &orders(), &TargetCatalog::default());
    assert_eq!(advice.proposals[0].name, BY_CUSTOMER);
    let after = advice.queries[0].after_ms;
    assert!((after - 3.0).abs() < 1e-9, "{after}");
}

#[test]
fn a_proposal_never_takes_the_name_of_a_relation_in_the_target() {
    let mut lab = FakeProver::new(CostUnit::LiveMs)
        .live("a", 150.0)
        .with("a", BY_CUSTOMER, 2.0);
    let target = TargetCatalog {
        relation_names: [BY_CUSTOMER.to_string()].into(),
        ..TargetCatalog::default()
    };
    let advice = advise(&mut lab, &orders(), &target);
    assert_eq!(advice.proposals[0].name, "idx_orders_customer_id_1");
    assert!(
        advice.proposals[0]
            .ddl
            .contains("\"idx_orders_customer_id_1\" ON \"orders\""),
        "{}",
        advice.proposals[0].ddl
    );
}

/// `orders` as the target's catalog has it.
fn orders_table() -> TargetCatalog {
    TargetCatalog {
        columns: [(
            "orders".to_string(),
            vec!["id".to_string(), "customer_id".to_string()],
        )]
        .into(),
        ..TargetCatalog::default()
    }
}

#[test]
fn a_hot_table_still_gets_the_index_that_brings_a_query_under_budget_with_its_write_cost() {
    // A million rows a minute (sampled: 10 minutes of the fake's clock) at 2 µs a row is
    // 2 s/min of writes against 148 ms/min saved: reported, not a veto.
    let mut lab = FakeProver::new(CostUnit::LiveMs)
        .live("a", 150.0)
        .with("a", BY_CUSTOMER, 2.0);
    lab.counters = vec![
        [("orders".to_string(), 5e6)].into(),
        [("orders".to_string(), 1.5e7)].into(),
    ];
    let advice = advise(&mut lab, &orders(), &TargetCatalog::default());
    let p = &advice.proposals[0];
    assert_eq!(p.name, BY_CUSTOMER);
    let rate = p.write_cost.write_rate;
    assert!((rate.rows_per_min - 1e6).abs() < 1e4, "{rate:?}");
    assert!(matches!(rate.source, RateSource::Sampled { seconds } if seconds >= 599.0));
    assert!(p.write_overhead_ms_per_min > 1900.0, "{p:?}");
    assert_eq!(p.gain_share_pct, 100.0);
    assert_eq!(p.time_saved_ms_per_min, 148.0);
    assert_eq!(lab.logged("counters").len(), 2, "two reads make the sample");
    let note = p.write_cost_note().unwrap_or_default();
    assert!(note.contains("brings a query under budget"), "{note}");
    assert!(super::migration_sql(&advice).contains(&note));
}

#[test]
fn with_write_cost_veto_the_policys_hot_table_gets_no_index() {
    let mut policy = orders();
    policy.advise.writes_per_min = [("orders".to_string(), 1e6)].into();
    let mut lab = FakeProver::new(CostUnit::LiveMs)
        .live("a", 150.0)
        .with("a", BY_CUSTOMER, 2.0);
    let advice = advise(&mut lab, &policy, &orders_table());
    assert_eq!(advice.proposals.len(), 1);
    let cost = &advice.proposals[0].write_cost;
    assert_eq!(cost.write_rate.source, RateSource::Policy);
    assert!(
        lab.logged("counters").is_empty(),
        "a policy rate is not sampled"
    );

    let veto = Limits {
        write_cost_veto: true,
        ..NO_LIMITS
    };
    let mut lab = FakeProver::new(CostUnit::LiveMs)
        .live("a", 150.0)
        .with("a", BY_CUSTOMER, 2.0);
    let advice = advise_with(&mut lab, &orders_table(), &policy, veto).expect("advice");
    assert!(advice.proposals.is_empty(), "{:?}", advice.proposals);
    assert!(
        advice
            .rejected
            .iter()
            .any(|r| r.ddl.contains(BY_CUSTOMER) && r.reason.contains("write_cost_veto")),
        "{:?}",
        advice.rejected
    );
}

#[test]
fn a_policy_rate_for_a_table_the_target_lacks_is_an_error_naming_it() {
    let mut policy = orders();
    policy.advise.writes_per_min = [("Orders".to_string(), 10.0)].into();
    let mut lab = FakeProver::new(CostUnit::LiveMs).live("a", 150.0);
    let err = advise_with(&mut lab, &orders_table(), &policy, NO_LIMITS).expect_err("unknown");
    assert!(err.to_string().contains("`Orders`"), "{err}");
}

#[test]
fn no_sample_when_write_sample_seconds_is_zero() {
    let mut policy = orders();
    policy.advise.write_sample_seconds = 0;
    let mut lab = FakeProver::new(CostUnit::LiveMs)
        .live("a", 150.0)
        .with("a", BY_CUSTOMER, 2.0);
    let advice = advise(&mut lab, &policy, &TargetCatalog::default());
    assert!(lab.logged("counters").is_empty());
    let cost = &advice.proposals[0].write_cost;
    assert_eq!(cost.write_rate.source, RateSource::None);
    assert_eq!(cost.ms_per_min, 0.0);
    assert!(matches!(
        cost.maintenance.source,
        MaintenanceSource::Measured { .. }
    ));
}

#[test]
fn weights_come_from_the_policy_then_pg_stat_statements_then_default_to_one() {
    let mut policy = policy(&[
        ("a", "SELECT id FROM orders WHERE customer_id = 7"),
        ("b", "SELECT id FROM orders WHERE customer_id = 8"),
        ("c", "SELECT id FROM orders WHERE customer_id = 9"),
    ]);
    policy.queries[0].weight = Some(5.0);
    let mut lab = FakeProver::new(CostUnit::LiveMs)
        .live("a", 50.0)
        .live("b", 50.0)
        .live("c", 50.0);
    lab.calls = [("a".to_string(), 40.0), ("b".to_string(), 30.0)].into();
    let advice = advise(&mut lab, &policy, &TargetCatalog::default());
    let weights: Vec<(f64, WeightSource)> = advice
        .queries
        .iter()
        .map(|q| (q.weight, q.weight_source))
        .collect();
    assert_eq!(
        weights,
        [
            (5.0, WeightSource::Policy),
            (30.0, WeightSource::PgStatStatements),
            (1.0, WeightSource::Default)
        ]
    );
}

#[test]
fn a_query_whose_shape_cannot_be_read_gets_a_note_and_no_candidate() {
    let policy = policy(&[("u", "SELECT id FROM orders UNION SELECT id FROM invoices")]);
    let mut lab = FakeProver::new(CostUnit::LiveMs).live("u", 150.0);
    let advice = advise(&mut lab, &policy, &TargetCatalog::default());
    let note = advice.queries[0].note.as_deref().unwrap_or_default();
    assert!(note.starts_with("not analysed: "), "{note:?}");
    assert!(lab.log.is_empty(), "{:?}", lab.log);
}

#[test]
fn rare_constants_from_the_catalog_give_a_partial_index_candidate() {
    let policy = policy(&[(
        "f",
        "SELECT id FROM payments WHERE status = 'failed' AND created_at >= '2026-01-01'",
    )]);
    let partial = "idx_payments_created_at_where_status_failed";
    let mut lab = FakeProver::new(CostUnit::LiveMs)
        .live("f", 150.0)
        .with("f", partial, 1.0);
    let target = TargetCatalog {
        rare_constants: vec![vec![("payments".into(), "status".into(), "failed".into())]],
        ..TargetCatalog::default()
    };
    let advice = advise(&mut lab, &policy, &target);
    let names: Vec<&str> = advice.proposals.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, [partial]);
}

#[test]
fn a_lab_error_stops_the_advice_as_the_lab_raised_it() {
    // The second candidate fails to build: no advice, the lab's error unchanged, and nothing
    // placed after it.
    let mut lab = FakeProver::new(CostUnit::LiveMs)
        .live("a", 150.0)
        .with("a", BY_CUSTOMER, 2.0);
    lab.failing = Some((
        COVERING.into(),
        AdviseError::Unmeasured {
            query: "a".into(),
            reason: "canceling statement due to statement timeout (SQLSTATE 57014)".into(),
        },
    ));
    let err = advise_with(&mut lab, &TargetCatalog::default(), &orders(), NO_LIMITS)
        .expect_err("the build failed");
    assert!(
        matches!(&err, AdviseError::Unmeasured { query, reason } if query == "a" && reason.contains("57014")),
        "{err:?}"
    );
    assert_eq!(lab.logged("failed"), [format!("failed {COVERING}")]);
    assert_eq!(lab.logged("place"), [format!("place {BY_CUSTOMER}")]);
}

#[test]
fn a_lab_that_times_only_part_of_the_workload_is_refused_before_any_candidate() {
    struct ShortLab(FakeProver);
    impl Prover for ShortLab {
        fn evaluation(&self) -> String {
            self.0.evaluation()
        }
        fn unit(&self) -> CostUnit {
            self.0.unit()
        }
        fn baselines(&mut self, policy: &Policy) -> Result<Vec<Baseline>, AdviseError> {
            let mut all = self.0.baselines(policy)?;
            all.pop();
            Ok(all)
        }
        fn costs_without(
            &mut self,
            policy: &Policy,
            candidate: &IndexCandidate,
            measure: &[bool],
        ) -> Result<Vec<Option<f64>>, AdviseError> {
            self.0.costs_without(policy, candidate, measure)
        }
        fn place(&mut self, candidate: &IndexCandidate) -> Result<Placement, AdviseError> {
            self.0.place(candidate)
        }
        fn size_bytes(&mut self) -> Result<i64, AdviseError> {
            self.0.size_bytes()
        }
        fn costs_with(
            &mut self,
            policy: &Policy,
            measure: &[bool],
        ) -> Result<Vec<Option<f64>>, AdviseError> {
            self.0.costs_with(policy, measure)
        }
        fn remove(&mut self) -> Result<(), AdviseError> {
            self.0.remove()
        }
        fn maintenance(&mut self, c: &IndexCandidate) -> Result<Maintenance, AdviseError> {
            self.0.maintenance(c)
        }
        fn write_counters(&mut self) -> Result<WriteCounters, AdviseError> {
            self.0.write_counters()
        }
        fn calls_per_min(&mut self, policy: &Policy) -> Result<Vec<Option<f64>>, AdviseError> {
            self.0.calls_per_min(policy)
        }
    }
    let policy = policy(&[
        ("a", "SELECT id FROM orders WHERE customer_id = 7"),
        ("b", "SELECT id FROM orders WHERE customer_id = 8"),
    ]);
    let mut lab = ShortLab(
        FakeProver::new(CostUnit::LiveMs)
            .live("a", 150.0)
            .live("b", 150.0),
    );
    let err = advise_with(&mut lab, &TargetCatalog::default(), &policy, NO_LIMITS)
        .expect_err("one query was not timed");
    assert!(
        matches!(err, AdviseError::Incomplete { timed: 1, total: 2 }),
        "{err:?}"
    );
    assert!(lab.0.log.is_empty(), "{:?}", lab.0.log);
}

#[test]
fn the_written_migration_says_where_each_figure_came_from_in_escaped_comments() {
    let hostile = "a\nDROP TABLE orders; */";
    let mut policy = orders();
    policy.queries[0].name = hostile.into();
    policy.advise.writes_per_min = [("orders".to_string(), 600.0)].into();
    let mut lab =
        FakeProver::new(CostUnit::LiveMs)
            .live(hostile, 150.0)
            .with(hostile, BY_CUSTOMER, 2.0);
    let advice = advise(&mut lab, &policy, &orders_table());
    let sql = super::migration_sql(&advice);
    assert!(
        sql.contains("600 rows/min (from the policy) x 2 µs/row (measured on the fake)"),
        "{sql}"
    );
    assert!(sql.contains("(100% of the time saved)"), "{sql}");
    assert!(
        sql.contains("1 calls/min (no weight given: 1 call/min assumed)"),
        "{sql}"
    );
    let statements: Vec<&str> = sql.lines().filter(|l| !l.starts_with("--")).collect();
    assert_eq!(
        statements,
        [
            "",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"idx_orders_customer_id\" ON \"orders\" (\"customer_id\");"
        ],
        "{sql}"
    );
}
