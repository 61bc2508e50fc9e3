//! `advise` against what a hostile review found: a query allowed to write is never run on the
//! target, a candidate an interrupted run left on the shadow is dropped before timing, a lock
//! held on a table ends the run instead of hanging it, and a partitioned table gets no
//! concurrent build it cannot have.

use crate::common::*;

/// A table whose lookup by `cat` is a sequential scan, and a sequence a write would move.
fn items_db(label: &str) -> TestDb {
    let db = TestDb::new(label);
    db.client()
        .batch_execute(
            "CREATE TABLE items (id serial PRIMARY KEY, cat int, note text); \
             INSERT INTO items (cat, note) SELECT g % 500, 'n' FROM generate_series(1, 100000) g;",
        )
        .unwrap();
    db.client().batch_execute("VACUUM ANALYZE items").unwrap();
    db
}

fn advise(db: &TestDb, policy: &std::path::Path, extra: &[&str]) -> std::process::Output {
    db.pgwarden(&shipped_migrations())
        .arg("--policy")
        .arg(policy)
        .args(["--format", "json", "advise", "--write-sample-seconds", "1"])
        .args(extra)
        .output()
        .unwrap()
}

/// The report of `advise --shadow-url` on database `shadow` of the test server, which proposed
/// something (exit 1).
fn proposed_on_shadow(db: &TestDb, policy: &std::path::Path, shadow: &str) -> serde_json::Value {
    let out = advise(db, policy, &["--shadow-url", &server().url(shadow)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    json(&out)
}

fn lookup_policy(db: &TestDb) -> tempfile::NamedTempFile {
    let budget = half_of_measured_ms(db, "SELECT count(*) FROM items WHERE cat = 7") / 2.0;
    policy_file(&format!(
        "version = 1\n[budget]\nmean_ms = {budget}\n[[query]]\nname = \"by_cat\"\nsql = \"SELECT count(*) FROM items WHERE cat = $1\"\nparams = [[7]]\n"
    ))
}

#[test]
fn a_query_allowed_to_write_is_refused_and_never_run_on_the_target() {
    let db = items_db("advise_writes");
    let sequence = || -> i64 { db.scalar("SELECT last_value FROM items_id_seq") };
    let before = sequence();
    let policy = policy_file(
        "version = 1\n[[query]]\nname = \"copy_cat\"\nsql = \"INSERT INTO items (cat, note) SELECT cat, note FROM items WHERE cat = 7\"\nallow_writes = true\n",
    );
    let out = advise(&db, policy.path(), &["--no-sample-copy"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("copy_cat") && stderr(&out).contains("allow_writes"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sequence(), before, "the INSERT ran on the target");
}

#[test]
fn a_candidate_left_on_the_shadow_by_a_killed_run_is_dropped_before_timing() {
    let db = items_db("advise_leftover");
    let policy = lookup_policy(&db);
    let shadow = format!("{}_shadow", db.name);
    server().copy_database(&db.name, &shadow).unwrap();
    // What a run killed while timing its first candidate leaves behind.
    let mut lab = server().target(&shadow).unwrap().connect().unwrap();
    lab.batch_execute("CREATE INDEX pgwarden_candidate_1 ON items (cat)")
        .unwrap();
    let report = proposed_on_shadow(&db, policy.path(), &shadow);
    assert_eq!(
        report["proposals"][0]["name"], "idx_items_cat",
        "{report:#}"
    );
    let left: i64 = lab
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname LIKE 'pgwarden_candidate%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

#[test]
fn a_lock_held_on_the_table_ends_the_run_with_an_error_instead_of_a_hang() {
    let db = items_db("advise_locked");
    db.client()
        .batch_execute("CREATE EXTENSION hypopg")
        .unwrap();
    let policy = lookup_policy(&db);
    let mut holder = db.client();
    let mut tx = holder.transaction().unwrap();
    tx.batch_execute("LOCK items IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let started = std::time::Instant::now();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("pgwarden"))
        .args(["--database-url", &db.url, "--migrations"])
        .arg(shipped_migrations())
        .arg("--policy")
        .arg(policy.path())
        .args(["advise", "--no-sample-copy", "--write-sample-seconds", "1"])
        .env_remove("DATABASE_URL")
        .env("PGWARDEN_CACHE_DIR", tempfile::tempdir().unwrap().path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Well past the 10 s lock timeout: a hang is a failure, not a stuck test.
    let deadline = started + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("advise still waits on the lock after 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("lock"), "{err}");
    tx.rollback().unwrap();
}

#[test]
fn a_partitioned_table_gets_no_concurrent_build_and_is_told_why() {
    let db = TestDb::new("advise_partitioned");
    db.client()
        .batch_execute(
            "CREATE EXTENSION hypopg; \
             CREATE TABLE ev (id int, kind int, at date) PARTITION BY RANGE (at); \
             CREATE TABLE ev_2025 PARTITION OF ev FOR VALUES FROM ('2025-01-01') TO ('2026-01-01'); \
             CREATE TABLE ev_2026 PARTITION OF ev FOR VALUES FROM ('2026-01-01') TO ('2027-01-01'); \
             INSERT INTO ev SELECT g, g % 500, date '2025-01-01' + (g % 700) FROM generate_series(1, 100000) g;"
        )
        .unwrap();
    db.client().batch_execute("VACUUM ANALYZE ev").unwrap();
    let budget = half_of_measured_ms(&db, "SELECT count(*) FROM ev WHERE kind = 7") / 2.0;
    let policy = policy_file(&format!(
        "version = 1\n[budget]\nmean_ms = {budget}\n[[query]]\nname = \"by_kind\"\nsql = \"SELECT count(*) FROM ev WHERE kind = $1\"\nparams = [[7]]\n"
    ));
    let out = advise(&db, policy.path(), &["--no-sample-copy"]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(
        report["proposals"].as_array().unwrap().len(),
        0,
        "{report:#}"
    );
    let note = report["queries"][0]["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("partitioned") && note.contains("required_indexes"),
        "{report:#}"
    );
}

/// A search path set on the database (not on the server): the throwaway copy resolves the
/// workload's unqualified names the same way.
#[test]
fn the_throwaway_copy_resolves_names_by_the_targets_search_path() {
    let db = TestDb::new("advise_search_path");
    db.client()
        .batch_execute(&format!(
            "CREATE SCHEMA \"App\"; \
             CREATE TABLE \"App\".\"Orders\" (id int, cat int); \
             INSERT INTO \"App\".\"Orders\" SELECT g, g % 500 FROM generate_series(1, 100000) g; \
             ALTER DATABASE {} SET search_path = \"App\", public;",
            db.name
        ))
        .unwrap();
    db.client()
        .batch_execute("VACUUM ANALYZE \"App\".\"Orders\"")
        .unwrap();
    let budget =
        half_of_measured_ms(&db, "SELECT count(*) FROM \"App\".\"Orders\" WHERE cat = 7") / 2.0;
    let policy = policy_file(&format!(
        "version = 1\n[budget]\nmean_ms = {budget}\n[[query]]\nname = \"by_cat\"\nsql = \"SELECT count(*) FROM \\\"Orders\\\" WHERE cat = $1\"\nparams = [[7]]\n"
    ));
    let out = advise(&db, policy.path(), &["--throwaway"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(
        report["proposals"][0]["name"], "idx_Orders_cat",
        "{report:#}"
    );
}

/// An existing GIN with `jsonb_path_ops` cannot serve `?`: it is not taken as covering, and the
/// default operator class is proven and proposed.
#[test]
fn an_index_with_another_operator_class_is_not_taken_as_serving() {
    let db = TestDb::new("advise_opclass");
    db.client()
        .batch_execute(
            "CREATE TABLE docs (id int, body jsonb); \
             INSERT INTO docs SELECT g, jsonb_build_object('k' || (g % 1000), g) FROM generate_series(1, 100000) g; \
             CREATE INDEX docs_body_path ON docs USING gin (body jsonb_path_ops);"
        )
        .unwrap();
    db.client().batch_execute("VACUUM ANALYZE docs").unwrap();
    let budget = half_of_measured_ms(&db, "SELECT count(*) FROM docs WHERE body ? 'k7'") / 2.0;
    let policy = policy_file(&format!(
        "version = 1\n[budget]\nmean_ms = {budget}\n[[query]]\nname = \"has_k7\"\nsql = \"SELECT count(*) FROM docs WHERE body ? $1\"\nparams = [[\"k7\"]]\n"
    ));
    let shadow = format!("{}_shadow", db.name);
    server().copy_database(&db.name, &shadow).unwrap();
    let report = proposed_on_shadow(&db, policy.path(), &shadow);
    let ddl = report["proposals"][0]["ddl"].as_str().unwrap_or_default();
    assert!(ddl.contains("USING gin (\"body\")"), "{report:#}");
}

/// An expression PostgreSQL will not index (a function that is not IMMUTABLE) is rejected as
/// such, not sent to a real build that could never prove it.
#[test]
fn an_expression_postgresql_cannot_index_is_rejected_for_that_reason() {
    let db = TestDb::new("advise_stable_expr");
    db.client()
        .batch_execute(
            "CREATE EXTENSION hypopg; CREATE TABLE ev (id int, at timestamptz); \
             INSERT INTO ev SELECT g, timestamptz '2026-01-01' + g * interval '1 minute' FROM generate_series(1, 100000) g;",
        )
        .unwrap();
    db.client().batch_execute("VACUUM ANALYZE ev").unwrap();
    let sql = "SELECT count(*) FROM ev WHERE date_trunc('day', at) = timestamptz '2026-01-05'";
    let budget = half_of_measured_ms(&db, sql) / 2.0;
    let policy = policy_file(&format!(
        "version = 1\n[budget]\nmean_ms = {budget}\n[[query]]\nname = \"by_day\"\nsql = {}\n",
        toml_string(sql)
    ));
    let out = advise(&db, policy.path(), &["--no-sample-copy"]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let report = json(&out);
    let reasons: Vec<&str> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ddl"].as_str().unwrap_or_default().contains("date_trunc"))
        .map(|r| r["reason"].as_str().unwrap_or_default())
        .collect();
    assert!(!reasons.is_empty(), "{report:#}");
    assert!(
        reasons
            .iter()
            .all(|r| r.contains("PostgreSQL cannot index it") && !r.contains("--throwaway")),
        "{reasons:#?}"
    );
}
