//! Indexes on partitioned tables, built the way PostgreSQL allows online: `CREATE INDEX ... ON
//! ONLY parent` (INVALID until every partition's index is attached), `CREATE INDEX
//! CONCURRENTLY` on each partition, `ALTER INDEX ... ATTACH PARTITION`; never `CONCURRENTLY` on
//! the parent, which PostgreSQL refuses. Through migrate apply, plan and apply.

use crate::common::*;
use std::path::Path;

const TABLES: &str = "CREATE TABLE events (id bigint, k int, at date NOT NULL) PARTITION BY RANGE (at);\n\
CREATE TABLE events_p2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');\n\
CREATE TABLE events_p2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');\n\
CREATE TABLE events_p2027 PARTITION OF events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');\n\
INSERT INTO events SELECT g, g % 50, date '2025-01-01' + (g % 1000) FROM generate_series(1, 3000) g;\n";

const ONLINE_INDEX: &str = "-- pgwarden:no-transaction\n\
CREATE INDEX IF NOT EXISTS events_k ON ONLY events (k);\n\
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_p2025_k ON events_p2025 (k);\n\
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_p2026_k ON events_p2026 (k);\n\
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_p2027_k ON events_p2027 (k);\n\
ALTER INDEX events_k ATTACH PARTITION events_p2025_k;\n\
ALTER INDEX events_k ATTACH PARTITION events_p2026_k;\n\
ALTER INDEX events_k ATTACH PARTITION events_p2027_k;\n";

fn migrations() -> tempfile::TempDir {
    migrations_dir(&[
        ("V1__events.sql", TABLES),
        ("V2__events_k.sql", ONLINE_INDEX),
    ])
}

/// `Some(valid)` of the parent index events_k when it exists.
fn parent_index(db: &TestDb) -> Option<bool> {
    db.client()
        .query_opt(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('public.events_k')",
            &[],
        )
        .unwrap()
        .map(|r| r.get(0))
}

/// Partition indexes attached to events_k.
fn attached(db: &TestDb) -> i64 {
    db.scalar("SELECT count(*) FROM pg_inherits WHERE inhparent = to_regclass('public.events_k')")
}

fn assert_complete(db: &TestDb, ctx: &str) {
    assert_eq!(
        parent_index(db),
        Some(true),
        "{ctx}: events_k exists and is valid"
    );
    assert_eq!(
        attached(db),
        3,
        "{ctx}: every partition's index is attached"
    );
}

/// Whether `stmt` is a concurrent index build on `table` itself (not on one of its partitions).
fn concurrent_build_on(stmt: &str, table: &str) -> bool {
    let upper = stmt.to_ascii_uppercase();
    if !(upper.trim_start().starts_with("CREATE")
        && upper.contains(" INDEX ")
        && upper.contains(" CONCURRENTLY "))
    {
        return false;
    }
    let Some(at) = upper.find(" ON ") else {
        return false;
    };
    let mut rest = stmt[at + 4..].trim_start();
    if let Some(after) = rest
        .strip_prefix("ONLY ")
        .or_else(|| rest.strip_prefix("only "))
    {
        rest = after.trim_start();
    }
    for prefix in ["public.", "\"public\"."] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    rest.strip_prefix(table)
        .is_some_and(|after| !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
}

/// Whether `stmt` names the index `name` as a whole word.
fn names(stmt: &str, name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    stmt.match_indices(name)
        .any(|(i, _)| !stmt[..i].ends_with(word) && !stmt[i + name.len()..].starts_with(word))
}

/// The plan's JSON (asserting its exit code) and every statement it would run.
fn plan(db: &TestDb, dir: &Path, policy: &str, code: i32) -> (serde_json::Value, Vec<String>) {
    let report = json(&db.run(dir, &["--policy", policy, "--format", "json", "plan"], code));
    let statements = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["statements"].as_array().unwrap().clone())
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    (report, statements)
}

fn assert_never_concurrent_on_the_parent(statements: &[String]) {
    for s in statements {
        assert!(
            !concurrent_build_on(s, "events"),
            "PostgreSQL cannot build an index on a partitioned table concurrently: {s}"
        );
    }
}

#[test]
fn an_online_partitioned_index_applies_plans_empty_and_is_rebuilt_online_after_a_drop() {
    let db = TestDb::new("part_online");
    let dir = migrations();
    let policy = policy_file("version = 1\n");
    let p = policy.path().to_str().unwrap();

    // (a) The migration builds it online.
    db.run(dir.path(), &["migrate", "apply"], 0);
    assert_complete(&db, "after migrate apply");
    let rows: i64 = db.scalar("SELECT count(*) FROM refinery_schema_history");
    assert_eq!(rows, 2);
    db.run(dir.path(), &["migrate", "status"], 0);

    // (b) No drift.
    let (report, _) = plan(&db, dir.path(), p, 0);
    assert_eq!(
        report["changes"].as_array().map(Vec::len),
        Some(0),
        "{report:#}"
    );

    // (c) Dropped by hand (which drops the partitions' indexes too): plan rebuilds it online.
    db.client().batch_execute("DROP INDEX events_k").unwrap();
    assert_eq!(parent_index(&db), None);
    let (report, statements) = plan(&db, dir.path(), p, 1);
    assert!(
        report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["rule"] == "missing-index"
                && c["object"].as_str().is_some_and(|o| names(o, "events_k"))),
        "{report:#}"
    );
    assert_never_concurrent_on_the_parent(&statements);
    db.run(dir.path(), &["--policy", p, "apply", "--yes"], 0);
    assert_complete(&db, "after apply");
    plan(&db, dir.path(), p, 0);
    db.run(dir.path(), &["migrate", "status"], 0);
}

#[test]
fn a_parent_index_left_half_attached_is_completed_never_dropped() {
    let db = TestDb::new("part_half");
    let dir = migrations();
    let policy = policy_file("version = 1\n");
    let p = policy.path().to_str().unwrap();
    db.run(dir.path(), &["migrate", "apply"], 0);

    // The state a killed online rebuild leaves: the parent ON ONLY and INVALID, one partition's
    // index attached, the other two missing.
    let mut c = db.client();
    c.batch_execute(
        "DROP INDEX events_k; CREATE INDEX events_k ON ONLY events (k); \
         CREATE INDEX events_p2025_k ON events_p2025 (k); \
         ALTER INDEX events_k ATTACH PARTITION events_p2025_k;",
    )
    .unwrap();
    drop(c);
    assert_eq!(parent_index(&db), Some(false));

    let (report, statements) = plan(&db, dir.path(), p, 1);
    assert_never_concurrent_on_the_parent(&statements);
    for s in &statements {
        let head = s.trim_start().to_ascii_uppercase();
        assert!(
            !((head.starts_with("DROP") || head.starts_with("REINDEX")) && names(s, "events_k")),
            "a half-attached parent is completed by attaching, not dropped or reindexed \
             (REINDEX leaves it INVALID, DROP CONCURRENTLY is refused): {s}\n{report:#}"
        );
    }
    // Completing it needs no drop, so no --allow-drop.
    db.run(dir.path(), &["--policy", p, "apply", "--yes"], 0);
    assert_complete(&db, "after apply");
    plan(&db, dir.path(), p, 0);
}

#[test]
fn an_online_partitioned_index_migration_interrupted_half_way_is_completed_by_the_rerun() {
    let db = TestDb::new("part_rerun");
    let dir = migrations();
    let policy = policy_file("version = 1\n");
    let p = policy.path().to_str().unwrap();
    db.run(dir.path(), &["migrate", "apply", "--target", "1"], 0);

    // V2 ran as far as its first attach, then the deploy died.
    let mut c = db.client();
    c.batch_execute("CREATE INDEX IF NOT EXISTS events_k ON ONLY events (k)")
        .unwrap();
    c.batch_execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS events_p2025_k ON events_p2025 (k)")
        .unwrap();
    c.batch_execute("ALTER INDEX events_k ATTACH PARTITION events_p2025_k")
        .unwrap();
    drop(c);
    assert_eq!(parent_index(&db), Some(false));
    db.run(dir.path(), &["migrate", "status"], 1);

    db.run(dir.path(), &["migrate", "apply"], 0);
    assert_complete(&db, "after the rerun");
    let rows: i64 = db.scalar("SELECT count(*) FROM refinery_schema_history WHERE version = 2");
    assert_eq!(rows, 1);
    db.run(dir.path(), &["migrate", "status"], 0);
    plan(&db, dir.path(), p, 0);
}
