//! plan converges on what review found it did not: after `apply --yes --allow-drop`, `plan` is
//! empty. Covered here: a foreign key whose only index the plan drops, foreign keys of a
//! partitioned table (cloned onto each partition), a swap whose temporary name a table already
//! has, an expression index that is not bloated, and definitions that differ only in NULLS NOT
//! DISTINCT or storage options (real drift, which must be found).

use crate::common::*;

const BASE: &str = "CREATE TABLE parent (id int PRIMARY KEY);\n\
CREATE TABLE child (id int PRIMARY KEY, pid int REFERENCES parent (id), a int, b int, body text);\n\
CREATE TABLE pc (id int, pid int REFERENCES parent (id)) PARTITION BY RANGE (id);\n\
CREATE TABLE pc_1 PARTITION OF pc FOR VALUES FROM (0) TO (1000);\n\
CREATE TABLE pc_2 PARTITION OF pc FOR VALUES FROM (1000) TO (100000);\n\
CREATE INDEX pc_pid ON pc (pid);\n\
CREATE INDEX child_a ON child (a);\n\
CREATE UNIQUE INDEX child_b ON child (b) NULLS NOT DISTINCT;\n\
CREATE INDEX child_lower ON child (lower(body));\n\
INSERT INTO parent SELECT generate_series(1, 100);\n\
INSERT INTO child SELECT g, 1 + g % 100, g % 10, g, md5(g::text) FROM generate_series(1, 40000) g;\n\
INSERT INTO pc SELECT g, 1 + g % 100 FROM generate_series(1, 2000) g;\n\
ANALYZE;\n";

fn plan_json(db: &TestDb, dir: &std::path::Path, policy: &std::path::Path) -> serde_json::Value {
    plan_report(db, dir, &["--policy", policy.to_str().unwrap()])
}

fn rules(report: &serde_json::Value) -> Vec<String> {
    loud_findings(report).into_iter().collect()
}

#[test]
fn plan_converges_where_review_found_it_did_not() {
    let db = TestDb::new("converge");
    let dir = migrations_dir(&[("V1__base.sql", BASE)]);
    // Bloat estimated from 0.5 MB, so the expression index (about 2 MB) is looked at.
    let policy = policy_file("version = 1\n[budget]\nmean_ms = 100\n[plan]\nbloat_min_mb = 0.5\n");
    let policy = policy.path();
    db.run(
        dir.path(),
        &["--policy", policy.to_str().unwrap(), "migrate", "apply"],
        0,
    );
    // The load is not traffic: the tables read as unwritten until the drift below writes.
    db.client()
        .batch_execute("SELECT pg_stat_force_next_flush(); SELECT pg_stat_reset()")
        .unwrap();
    let clean = plan_json(&db, dir.path(), policy);
    assert_eq!(rules(&clean), Vec::<String>::new(), "{clean:#}");

    db.client()
        .batch_execute(
            // The FK's only index is one the migrations do not know: dropped by the plan.
            "CREATE INDEX child_pid_extra ON child (pid); \
             DROP INDEX child_a; CREATE INDEX child_a ON child (a, b); \
             CREATE TABLE child_a_pgw_new (important text); \
             INSERT INTO child_a_pgw_new VALUES ('keep'); \
             DROP INDEX child_b; CREATE UNIQUE INDEX child_b ON child (b); \
             UPDATE child SET a = a WHERE id < 10; SELECT pg_stat_force_next_flush();",
        )
        .unwrap();
    let drift = plan_json(&db, dir.path(), policy);
    let found = rules(&drift);
    assert!(
        found.contains(&"index-definition-differs public.child_b".to_string())
            && found.contains(&"index-definition-differs public.child_a".to_string())
            && found.contains(&"fk-without-index public.child_pid_fkey".to_string())
            && !found
                .iter()
                .any(|f| f.contains("pc_1") || f.contains("pc_2"))
            && !found.iter().any(|f| f.starts_with("bloated-index")),
        "{drift:#}"
    );
    db.run(
        dir.path(),
        &[
            "--policy",
            policy.to_str().unwrap(),
            "apply",
            "--yes",
            "--allow-drop",
        ],
        0,
    );
    let after = plan_json(&db, dir.path(), policy);
    assert_eq!(rules(&after), Vec::<String>::new(), "{after:#}");
    assert_eq!(
        after["changes"].as_array().map(Vec::len),
        Some(0),
        "{after:#}"
    );
    let kept: String = db.scalar("SELECT important FROM child_a_pgw_new");
    assert_eq!(
        kept, "keep",
        "the table that had the temporary name is untouched"
    );
}

/// `--shadow-url` naming the target itself (by another spelling of its URL) would replay every
/// migration into production: refused, and nothing is created.
#[test]
fn a_shadow_url_naming_the_target_is_refused() {
    let db = TestDb::new("shadow_is_target");
    let dir = migrations_dir(&[("V1__base.sql", "CREATE TABLE a (id int);\n")]);
    let same = server().url_with("localhost", &db.name, "sslmode=disable");
    assert_ne!(same, db.url, "another spelling of the same database");
    let out = db.run(dir.path(), &["plan", "--shadow-url", &same], 2);
    assert!(
        stderr(&out).contains("names the target database itself"),
        "{}",
        stderr(&out)
    );
    let tables: i64 = db
        .scalar("SELECT count(*) FROM pg_class WHERE relname IN ('a', 'refinery_schema_history')");
    assert_eq!(tables, 0);
}

/// An extension the migrations create that the throwaway server lacks: an error naming it and
/// the migration, before anything is replayed.
#[test]
fn a_missing_extension_is_named_with_its_migration() {
    let db = TestDb::new("missing_ext");
    let dir = migrations_dir(&[(
        "V1__ext.sql",
        "CREATE EXTENSION IF NOT EXISTS pgw_no_such_extension;\nCREATE TABLE a (id int);\n",
    )]);
    let out = db.run(dir.path(), &["plan"], 2);
    let err = stderr(&out);
    assert!(
        err.contains("pgw_no_such_extension") && err.contains("V1__ext.sql"),
        "{err}"
    );
}

/// `apply` waits for another migration run only as long as --lock-wait says.
#[test]
fn apply_honours_lock_wait() {
    let db = TestDb::new("apply_lock_wait");
    let dir = migrations_dir(&[(
        "V1__a.sql",
        "CREATE TABLE a (id int);\nCREATE INDEX a_id ON a (id);\n",
    )]);
    db.run(dir.path(), &["migrate", "apply"], 0);
    db.client().batch_execute("DROP INDEX a_id").unwrap();
    let mut holder = db.client();
    holder
        .batch_execute(&format!(
            "SELECT pg_advisory_lock({})",
            pgwarden::executor::lock::MIGRATION_LOCK_KEY
        ))
        .unwrap();
    let out = db.run(dir.path(), &["apply", "--yes", "--lock-wait", "1s"], 2);
    assert!(stderr(&out).contains("within 1s"), "{}", stderr(&out));
    drop(holder);
    // The recorded fix is re-runnable: the next deploy completes it.
    db.run(dir.path(), &["migrate", "apply"], 0);
    db.run(dir.path(), &["plan"], 0);
}
