//! `pgwarden advise` on the second test schema (tests/fixtures/shop), written for the
//! advisor's issue and unlike the seed: an expression predicate, jsonb containment and `->>`,
//! a prefix LIKE under an ICU collation, a rare constant, a sort under LIMIT, a join on an
//! unindexed foreign key, an `= ANY` list, and a substring search no index can fix.

use crate::common::*;
use std::collections::BTreeSet;

pub const SCHEMA: &str = include_str!("../fixtures/shop/schema.sql");
pub const DATA: &str = include_str!("../fixtures/shop/data.sql");
pub const POLICY: &str = include_str!("../fixtures/shop/policy.toml");

/// The queries that an index can fix, with their first parameter set written in.
const FIXABLE: &[&str] = &[
    "SELECT id, country FROM customers WHERE lower(email) = 'user4242@example.com'",
    "SELECT id, email FROM customers WHERE profile @> '{\"tags\": [\"beta\"]}'::jsonb",
    "SELECT count(*) FROM customers WHERE profile ->> 'plan' = 'enterprise'",
    "SELECT id FROM customers WHERE referral_code LIKE 'AB1%'",
    "SELECT id, placed_at FROM orders WHERE status = 'on_hold' ORDER BY placed_at",
    "SELECT id, total, placed_at FROM orders ORDER BY placed_at DESC LIMIT 20",
    "SELECT o.id, o.total, o.placed_at FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.id = 4242",
    "SELECT count(*) FROM orders WHERE customer_id = ANY('{11,12,13,5000}')",
];

/// The shop schema filled at `scale` (1: 60k customers, 300k orders).
pub fn shop_database(label: &str, scale: &str) -> TestDb {
    let db = TestDb::new(label);
    let mut c = db.client();
    c.batch_execute(SCHEMA).expect("shop schema");
    c.batch_execute(&DATA.replace("{scale}", scale))
        .expect("shop data");
    db
}

/// The shop policy with a budget half the fastest fixable query's time without indexes:
/// every query is over it before, and an index that serves a query brings it far below.
pub fn shop_policy(db: &TestDb) -> (String, f64) {
    let budget = FIXABLE
        .iter()
        .map(|sql| half_of_measured_ms(db, sql))
        .fold(f64::INFINITY, f64::min);
    (POLICY.replace("{budget}", &format!("{budget:.3}")), budget)
}

fn proposed(report: &serde_json::Value) -> BTreeSet<String> {
    report["proposals"]
        .as_array()
        .expect("proposals")
        .iter()
        .map(|p| {
            let keys: Vec<&str> = p["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            format!(
                "{} {} ({}){}",
                p["table"].as_str().unwrap(),
                p["method"].as_str().unwrap(),
                keys.join(", "),
                if p["ddl"].as_str().unwrap().contains(" WHERE ") {
                    " partial"
                } else {
                    ""
                }
            )
        })
        .collect()
}

#[test]
fn every_predicate_shape_gets_the_index_a_dba_writes_and_the_unfixable_query_none() {
    let db = shop_database("advise_shop", "1");
    let (policy, budget) = shop_policy(&db);
    let policy = policy_file(&policy);
    let dir = migrations_dir(&[]);
    let shadow = format!("{}_shadow", db.name);
    server().copy_database(&db.name, &shadow).unwrap();
    let out = db
        .pgwarden(dir.path())
        .arg("--policy")
        .arg(policy.path())
        .args([
            "--format",
            "json",
            "advise",
            "--write-migration",
            "--shadow-url",
        ])
        .arg(server().url(&shadow))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    let expected: BTreeSet<String> = [
        "customers btree (lower(\"email\"))",
        "customers gin (profile jsonb_path_ops)",
        "customers btree ((\"profile\" ->> 'plan'))",
        "customers btree (referral_code text_pattern_ops)",
        "orders btree (customer_id)",
        "orders btree (placed_at)",
        "orders btree (placed_at) partial",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // The orders on hold: the partial index (the DBA's) or the equality-then-sort index
    // `(status, placed_at)`. Both bring the query far under budget, and which one the
    // selection keeps turns on gains within this machine's noise (both were seen, in .ci/run
    // and in the predictions bench); every other definition is exact.
    let mut got = proposed(&report);
    if got.remove("orders btree (status, placed_at)") {
        got.insert("orders btree (placed_at) partial".to_string());
    }
    assert_eq!(got, expected, "{report:#}");
    let queries = report["queries"].as_array().unwrap();
    for q in queries {
        let (name, after, budget) = (
            q["name"].as_str().unwrap(),
            q["after_ms"].as_f64().unwrap(),
            q["budget_ms"].as_f64().unwrap(),
        );
        if name == "refund_notes" {
            assert_eq!(after, q["before_ms"].as_f64().unwrap(), "{q:#}");
        } else {
            assert!(
                after <= budget,
                "{name} predicted {after} ms, budget {budget}"
            );
        }
    }
    assert!(
        report["proposals"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| !p["serves"].to_string().contains("refund_notes")),
        "{report:#}"
    );

    // Built for real: every fixable query is within the budget (its fastest of five runs: a
    // mean of a few runs on a loaded machine can take a stall; this ran 7.0 ms against 6.9 in
    // CI while its quiet runs are under 2 ms), and the gate still finds the unfixable one over.
    db.run(dir.path(), &["migrate", "apply"], 0);
    for sql in FIXABLE {
        let fastest = 2.0 * half_of_measured_ms(&db, sql);
        assert!(
            fastest <= budget,
            "{sql}: {fastest:.3} ms with the proposed indexes, budget {budget:.3} ms\nadvice: {report:#}"
        );
    }
    let check = db
        .pgwarden(dir.path())
        .arg("--policy")
        .arg(policy.path())
        .args(["--format", "json", "check"])
        .output()
        .unwrap();
    let check = json(&check);
    let refund = check["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "refund_notes")
        .unwrap();
    assert_eq!(refund["verdict"]["verdict"], "over", "{check:#}");
}
