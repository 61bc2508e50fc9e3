//! `pgwarden advise` weighing write cost against real PostgreSQL: a bulk load is not traffic
//! (write rates are sampled, never counted since a statistics reset), a write-heavy table
//! still gets the index that brings a query under budget unless the policy's
//! `write_cost_veto` says otherwise, the maintenance per row is timed on the shadow, and a
//! query's weight comes from pg_stat_statements when the policy gives none.

use crate::common::*;
use std::collections::BTreeSet;

/// `events`, bulk-loaded: 200,000 rows inserted, statistics published and never reset.
fn bulk_loaded(label: &str) -> TestDb {
    let db = TestDb::new(label);
    db.client()
        .batch_execute(
            "CREATE TABLE events (id int, kind int, payload text); \
             INSERT INTO events SELECT g, g % 1000, 'x' FROM generate_series(1, 200000) g; \
             ANALYZE events; SELECT pg_stat_force_next_flush();",
        )
        .unwrap();
    db
}

/// A policy over `events` with one query at an eighth of its measured time (a loaded machine
/// can time the copy twice as fast as the target; the index makes it a hundred times faster),
/// `extra` appended.
fn events_policy(db: &TestDb, extra: &str) -> tempfile::NamedTempFile {
    let budget = half_of_measured_ms(db, "SELECT count(*) FROM events WHERE kind = 7") / 4.0;
    policy_file(&format!(
        "version = 1\n[budget]\nmean_ms = {budget}\n[[query]]\nname = \"rare_kind\"\nsql = \"SELECT count(*) FROM events WHERE kind = $1\"\nparams = [[7]]\nweight = 1.0\n{extra}",
    ))
}

/// `advise --shadow-url` (a fresh copy each run) with a one-second write sample; the JSON
/// report and the exit code.
fn advise_json(db: &TestDb, policy: &std::path::Path, run: &str) -> (serde_json::Value, i32) {
    let shadow = format!("{}_shadow_{run}", db.name);
    server()
        .copy_database(&db.name, &shadow)
        .expect("copy the database");
    let out = db
        .pgwarden(&shipped_migrations())
        .arg("--policy")
        .arg(policy)
        .args(["--format", "json", "advise", "--write-sample-seconds", "1"])
        .args(["--shadow-url", &server().url(&shadow)])
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 1, "{}", stderr(&out));
    (json(&out), code)
}

fn ddls(report: &serde_json::Value) -> BTreeSet<String> {
    report["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ddl"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_bulk_load_gives_the_same_proposals_as_after_a_statistics_reset() {
    // Regression: the write rate was rows written since the last statistics reset, so right
    // after a load every candidate's write overhead exceeded the time it saved and nothing
    // was proposed; after pg_stat_reset() the same run proposed the index.
    let db = bulk_loaded("advise_bulk_load");
    let inserted: i64 =
        db.scalar("SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'events'");
    assert_eq!(inserted, 200_000, "the statistics show the load");
    let policy = events_policy(&db, "");
    let (loaded, code) = advise_json(&db, policy.path(), "loaded");
    assert_eq!(code, 1, "{loaded:#}");
    let rate = &loaded["proposals"][0]["write_cost"]["write_rate"];
    assert_eq!(rate["source"]["kind"], "sampled", "{rate}");
    assert_eq!(
        rate["rows_per_min"], 0.0,
        "nothing was written while sampling: {rate}"
    );

    db.client().batch_execute("SELECT pg_stat_reset()").unwrap();
    let (reset, _) = advise_json(&db, policy.path(), "reset");
    assert_eq!(ddls(&loaded), ddls(&reset), "{loaded:#}\n{reset:#}");
    assert!(
        ddls(&loaded).iter().any(|d| d.contains("(\"kind\")")),
        "{loaded:#}"
    );
}

#[test]
fn a_write_heavy_table_keeps_its_budget_fix_unless_write_cost_veto_is_on() {
    let db = bulk_loaded("advise_write_veto");
    let hot = "[advise.writes_per_min]\nevents = 1e9\n";
    let policy = events_policy(&db, hot);
    let (report, code) = advise_json(&db, policy.path(), "hot");
    assert_eq!(code, 1, "the budget fix is proposed: {report:#}");
    let p = &report["proposals"][0];
    assert!(
        p["ddl"].as_str().unwrap().contains("(\"kind\")"),
        "{report:#}"
    );
    let cost = &p["write_cost"];
    assert_eq!(cost["write_rate"]["source"]["kind"], "policy", "{cost}");
    assert_eq!(cost["maintenance"]["source"]["kind"], "measured", "{cost}");
    assert_eq!(
        cost["maintenance"]["source"]["on"], "the shadow copy",
        "{cost}"
    );
    let per_row = cost["maintenance"]["ms_per_row"].as_f64().unwrap();
    assert!(per_row > 0.0, "a btree insert costs something: {cost}");
    assert!(
        p["write_overhead_ms_per_min"].as_f64().unwrap()
            > p["time_saved_ms_per_min"].as_f64().unwrap(),
        "reported beside it although it exceeds the time saved: {p:#}"
    );
    assert_eq!(p["serves"][0], "rare_kind");
    assert_eq!(p["gain_share_pct"], 100.0);

    let policy = events_policy(&db, &format!("[advise]\nwrite_cost_veto = true\n{hot}"));
    let (vetoed, code) = advise_json(&db, policy.path(), "veto");
    assert_eq!(code, 0, "{vetoed:#}");
    let reasons: Vec<&str> = vetoed["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("write_cost_veto") && r.contains("under budget")),
        "{reasons:?}"
    );
}

#[test]
fn a_query_without_a_weight_is_weighted_by_its_calls_in_pg_stat_statements() {
    let db = bulk_loaded("advise_weights");
    let mut c = db.client();
    c.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .unwrap();
    // As an application sends it: the kind as a parameter.
    for kind in [7, 8, 9, 10, 11] {
        c.query("SELECT count(*) FROM events WHERE kind = $1", &[&kind])
            .unwrap();
    }
    drop(c);
    let budget = half_of_measured_ms(&db, "SELECT count(*) FROM events WHERE kind = 7");
    let policy = policy_file(&format!(
        "version = 1\n[budget]\nmean_ms = {budget}\n\
         [[query]]\nname = \"by_kind\"\nsql = \"SELECT count(*) FROM events WHERE kind = $1\"\nparams = [[7]]\n\
         [[query]]\nname = \"never_run\"\nsql = \"SELECT count(*) FROM events WHERE id = 1 AND kind = 3\"\n\
         [[query]]\nname = \"weighted\"\nsql = \"SELECT count(*) FROM events WHERE id = 2\"\nweight = 2.5\n",
    ));
    let (report, _) = advise_json(&db, policy.path(), "weights");
    let weights: Vec<(String, f64)> = report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["weight_source"].as_str().unwrap().to_string(),
                q["weight"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(weights[0].0, "pg_stat_statements", "{report:#}");
    assert!(weights[0].1 > 0.0, "{report:#}");
    assert_eq!(weights[1], ("default".to_string(), 1.0), "{report:#}");
    assert_eq!(weights[2], ("policy".to_string(), 2.5), "{report:#}");
}
