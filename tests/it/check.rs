//! `pgwarden check` against real PostgreSQL: the budget gate, its safety (read-only,
//! rolled back, timeouts), stats mode, policy errors; `data generate`; the demo's wiring.

use crate::common::*;
use std::path::Path;

/// The seed workload's four index-backed queries, with `{budget}` for the budget (see
/// [`seed_policy`]).
const SEED_POLICY: &str = r#"
version = 1
[budget]
mean_ms = {budget}
[check]
warmup = 1
runs = 3

[[query]]
name = "projects_by_status"
sql = "SELECT count(*) FROM projects WHERE status = $1"
params = [["draft"], ["cancelled"]]

[[query]]
name = "developer_tasks"
sql = "SELECT id, title, status, due_date FROM tasks WHERE developer_id = $1 ORDER BY due_date"
params = [[4242], [77]]

[[query]]
name = "users_with_skill"
sql = "SELECT id, display_name, hourly_rate FROM users WHERE skills @> $1"
params = [[["haskell"]], [["elixir", "postgres"]]]

[[query]]
name = "payments_by_status_in_range"
sql = "SELECT id, amount, created_at FROM payments WHERE status = $1 AND created_at >= $2 AND created_at < $3 ORDER BY created_at LIMIT 100"
params = [["failed", "2026-08-01", "2026-11-01"]]
"#;

/// The seed policy with a budget of half the fastest of its four queries as they run on `db`
/// now (unindexed, first parameter set): all four are over it here, and far within it once
/// their indexes exist, at any machine speed.
pub fn seed_policy(db: &TestDb) -> String {
    let budget = [
        "SELECT count(*) FROM projects WHERE status = 'draft'",
        "SELECT id, title, status, due_date FROM tasks WHERE developer_id = 4242 ORDER BY due_date",
        "SELECT id, display_name, hourly_rate FROM users WHERE skills @> ARRAY['haskell']",
        "SELECT id, amount, created_at FROM payments WHERE status = 'failed' \
         AND created_at >= '2026-08-01' AND created_at < '2026-11-01' ORDER BY created_at LIMIT 100",
    ]
    .iter()
    .map(|sql| half_of_measured_ms(db, sql))
    .fold(f64::INFINITY, f64::min);
    SEED_POLICY.replace("{budget}", &budget.to_string())
}

fn check(db: &TestDb, policy: &Path, extra: &[&str]) -> std::process::Output {
    db.pgwarden(&shipped_migrations())
        .arg("--policy")
        .arg(policy)
        .args(["--format", "json", "check"])
        .args(extra)
        .output()
        .unwrap()
}

/// The seed schema (V1 only) filled at `scale`: a copy of one database per scale, generated
/// once per test run (11 s at scale 0.2, against half a second for the copy).
pub fn seed_database(label: &str, scale: &str) -> TestDb {
    static TEMPLATES: std::sync::Mutex<Vec<(String, TestDb)>> = std::sync::Mutex::new(Vec::new());
    let mut templates = TEMPLATES.lock().unwrap_or_else(|e| e.into_inner());
    if !templates.iter().any(|(s, _)| s == scale) {
        let db = TestDb::new("seed_template");
        db.run(
            &shipped_migrations(),
            &["migrate", "apply", "--target", "1"],
            0,
        );
        db.run(
            &shipped_migrations(),
            &["data", "generate", "--scale", scale],
            0,
        );
        templates.push((scale.to_string(), db));
    }
    let (_, template) = templates.iter().find(|(s, _)| s == scale).unwrap();
    TestDb::copy_of(label, template)
}

#[test]
fn check_fails_on_the_unindexed_seed_schema_and_passes_after_the_seed_indexes() {
    let db = seed_database("gate", "0.2");
    let policy = policy_file(&seed_policy(&db));
    let junit = tempfile::NamedTempFile::new().unwrap();
    let before = check(
        &db,
        policy.path(),
        &["--junit", junit.path().to_str().unwrap()],
    );
    assert_eq!(before.status.code(), Some(1), "{}", stderr(&before));
    let report = json(&before);
    assert_eq!(report["over_budget"], 4, "{report:#}");
    for q in report["queries"].as_array().unwrap() {
        let scans = q["findings"]["seq_scans"].as_array().unwrap();
        assert_eq!(
            scans.len(),
            1,
            "each slow query is explained by its seq scan: {q:#}"
        );
        assert_eq!(q["verdict"]["verdict"], "over");
    }
    let xml = std::fs::read_to_string(junit.path()).unwrap();
    assert!(
        xml.contains("failures=\"4\"") && xml.contains("<failure message=\"mean "),
        "{xml}"
    );

    db.run(&shipped_migrations(), &["migrate", "apply"], 0);
    let after = check(&db, policy.path(), &[]);
    assert_eq!(after.status.code(), Some(0), "{}", stdout(&after));
    assert_eq!(json(&after)["over_budget"], 0);
}

#[test]
fn a_delete_is_refused_unless_allowed_and_then_rolled_back() {
    let db = TestDb::new("delete");
    db.client()
        .batch_execute("CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 100);")
        .unwrap();
    let refused = policy_file(
        "version = 1\n[[query]]\nname = \"purge\"\nsql = \"DELETE FROM t WHERE id > $1\"\nparams = [[10]]\n",
    );
    let out = check(&db, refused.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("`purge`") && err.contains("DELETE") && err.contains("allow_writes = true"),
        "{err}"
    );

    let allowed = policy_file(
        "version = 1\n[[query]]\nname = \"purge\"\nsql = \"DELETE FROM t WHERE id > $1\"\nparams = [[10]]\nallow_writes = true\n",
    );
    let out = check(&db, allowed.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(json(&out)["queries"][0]["runs"].as_u64().unwrap() >= 1);
    let rows: i64 = db.scalar("SELECT count(*) FROM t");
    assert_eq!(rows, 100, "the DELETE ran but was rolled back");
}

#[test]
fn read_only_transaction_stops_hidden_writes() {
    let db = TestDb::new("hidden");
    db.client()
        .batch_execute("CREATE SEQUENCE s; CREATE TABLE t (id int);")
        .unwrap();
    let policy =
        policy_file("version = 1\n[[query]]\nname = \"sneaky\"\nsql = \"SELECT nextval('s')\"\n");
    let out = check(&db, policy.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let q = &json(&out)["queries"][0];
    assert!(
        q["error"]
            .as_str()
            .unwrap()
            .contains("read-only transaction"),
        "{q:#}"
    );
}

#[test]
fn a_runaway_query_is_cut_by_the_timeout_and_reported_over_budget() {
    let db = TestDb::new("runaway");
    let policy = policy_file(
        "version = 1\n[budget]\nmean_ms = 50\n[[query]]\nname = \"slow\"\nsql = \"SELECT pg_sleep(30)\"\n",
    );
    let started = std::time::Instant::now();
    let out = check(&db, policy.path(), &[]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the timeout must cut it"
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "over budget, not an error: {}",
        stderr(&out)
    );
    let v = &json(&out)["queries"][0]["verdict"];
    assert_eq!(v["verdict"], "over");
    assert!(
        v["reasons"][0]
            .as_str()
            .unwrap()
            .contains("cut by statement_timeout after 1 s"),
        "{v:#}"
    );
}

#[test]
fn stats_mode_judges_pg_stat_statements_rows() {
    let db = TestDb::new("stats");
    let mut c = db.client();
    c.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .unwrap();
    c.batch_execute("CREATE TABLE stats_marker (x int)")
        .unwrap();
    for _ in 0..6 {
        c.batch_execute("SELECT pg_sleep(0.03), 'stats_slow_marker'")
            .unwrap();
        c.batch_execute("SELECT count(*) FROM stats_marker")
            .unwrap();
    }
    let policy = policy_file("version = 1\n[budget]\nmean_ms = 10\n[stats]\nmin_calls = 5\n");
    let out = check(&db, policy.path(), &["--mode", "stats"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    let queries = report["queries"].as_array().unwrap();
    let slow = queries
        .iter()
        .find(|q| q["sql"].as_str().unwrap().contains("pg_sleep"))
        .expect("the slow statement");
    assert_eq!(slow["verdict"]["verdict"], "over");
    assert!(slow["verdict"]["mean_ms"].as_f64().unwrap() >= 29.0);
    let fast = queries
        .iter()
        .find(|q| q["sql"].as_str().unwrap().contains("stats_marker"))
        .expect("the fast statement");
    assert_eq!(fast["verdict"]["verdict"], "within");

    // The policy's queries are found by their query identifiers and judged by name, with their
    // own budgets; one never run is said.
    let named = policy_file(
        "version = 1\n[budget]\nmean_ms = 10\n[stats]\nmin_calls = 5\n\
         [[query]]\nname = \"marker_count\"\nsql = \"SELECT count(*) FROM stats_marker\"\nmean_ms = 0.000001\n\
         [[query]]\nname = \"never\"\nsql = \"SELECT x FROM stats_marker WHERE x = $1\"\nparams = [[1]]\n",
    );
    let out = check(&db, named.path(), &["--mode", "stats"]);
    let report = json(&out);
    let queries = report["queries"].as_array().unwrap();
    let marker = queries
        .iter()
        .find(|q| q["name"] == "marker_count")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(marker["runs"], 6);
    assert_eq!(marker["verdict"]["verdict"], "over", "its own budget");
    assert_eq!(
        queries
            .iter()
            .filter(|q| q["sql"].as_str().unwrap().contains("stats_marker"))
            .count(),
        1,
        "counted once, by name: {report:#}"
    );
    assert!(
        report["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("query never has no entry")),
        "{report:#}"
    );

    let without = TestDb::new("nostats");
    let out = check(&without, policy.path(), &["--mode", "stats"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("CREATE EXTENSION pg_stat_statements"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn explain_mode_judges_cost_without_running() {
    let db = TestDb::new("explain");
    db.client()
        .batch_execute("CREATE TABLE big (id int, v int); INSERT INTO big SELECT g, g % 10 FROM generate_series(1, 200000) g; ANALYZE big;")
        .unwrap();
    let policy = policy_file(
        "version = 1\n[budget]\nmax_cost = 1000\n[[query]]\nname = \"scan\"\nsql = \"SELECT * FROM big WHERE v = $1\"\nparams = [[3]]\n[[query]]\nname = \"one\"\nsql = \"SELECT 1\"\n",
    );
    let out = check(&db, policy.path(), &["--mode", "explain"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["queries"][0]["verdict"]["verdict"], "over");
    assert_eq!(report["queries"][0]["findings"]["seq_scans"][0], "big");
    assert_eq!(report["queries"][1]["verdict"]["verdict"], "within");
}

#[test]
fn broken_policy_files_give_located_errors() {
    let db = TestDb::new("badpolicy");
    let cases = [
        (
            "version = 1\n[budget]\nmean_ms = 100\nmean_msec = 5\n",
            ":4:1:",
        ),
        (
            "version = 1\n[[query]]\nname = \"q\"\nsql = \"SELECT $1\"\nparams = [[1, 2]]\n",
            "takes 1 parameter",
        ),
        ("version = 1\n[budget\n", ":2:"),
    ];
    for (text, expected) in cases {
        let f = policy_file(text);
        let out = check(&db, f.path(), &[]);
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = stderr(&out);
        assert!(
            err.contains(f.path().to_str().unwrap()) && err.contains(expected),
            "{text}: {err}"
        );
    }
    let out = check(&db, Path::new("/nonexistent/policy.toml"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/policy.toml"));
}

#[test]
fn data_generate_refuses_a_missing_or_filled_schema() {
    let db = TestDb::new("gen_missing");
    let out = db.run(
        &shipped_migrations(),
        &["data", "generate", "--scale", "0.001"],
        2,
    );
    assert!(
        stderr(&out).contains("migrate apply --target 1"),
        "{}",
        stderr(&out)
    );
    let db = seed_database("gen_twice", "0.001");
    let users: i64 = db.scalar("SELECT count(*) FROM users");
    assert_eq!(users, 1600);
    let orphans: i64 = db.scalar("SELECT count(*) FROM tasks t LEFT JOIN users u ON u.id = t.developer_id WHERE u.id IS NULL");
    assert_eq!(orphans, 0, "generated foreign keys are consistent");
    let out = db.run(
        &shipped_migrations(),
        &["data", "generate", "--scale", "0.001"],
        2,
    );
    assert!(
        stderr(&out).contains("already has rows"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn demo_runs_end_to_end_at_a_small_scale() {
    let demo = |policy: Option<&Path>| {
        let mut cmd = pgwarden();
        if let Some(p) = policy {
            cmd.arg("--policy").arg(p);
        }
        let out = cmd
            .args(["--format", "json", "demo", "--scale", "0.05"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        json(&out)
    };
    // At this scale the seed's queries are within 100 ms even unindexed: measure them here,
    // then run the demo with a budget of a quarter of the fastest unindexed seed query, so the fix
    // must bring all four from over to within on this machine, whatever its speed.
    let measured = demo(None);
    let seed = [
        "projects_by_status",
        "developer_tasks",
        "users_with_skill",
        "payments_by_status_in_range",
    ];
    let unindexed = measured["comparison"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| seed.contains(&c["query"].as_str().unwrap()))
        .map(|c| c["before_ms"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    // A quarter: the two runs' speeds may differ by 2x on a shared machine; at this scale an
    // index lookup is still tens of times faster than the scan it replaces.
    let budget = unindexed / 4.0;
    let text = std::fs::read_to_string("policies/default.toml")
        .unwrap()
        .replace("mean_ms = 100.0", &format!("mean_ms = {budget}"));
    assert!(text.contains(&format!("mean_ms = {budget}")));
    let policy = policy_file(&text);
    let report = demo(Some(policy.path()));
    let comparison = report["comparison"].as_array().unwrap();
    assert_eq!(comparison.len(), 7);
    for c in comparison {
        if seed.contains(&c["query"].as_str().unwrap()) {
            assert_eq!(c["before"], "over", "budget {budget} ms: {c:#}");
        }
        assert_eq!(c["after"], "within", "budget {budget} ms: {c:#}");
    }
    let titles: Vec<&str> = report["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    assert!(titles.iter().any(|t| t.starts_with("data generate")));
    assert!(titles.iter().any(|t| t.contains("dry run")));
}
