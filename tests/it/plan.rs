//! `pgwarden plan` and `pgwarden apply` against real PostgreSQL: each finding on a
//! purpose-built database, none on a clean one, safe swaps, drops only when allowed, and the
//! change recorded as a migration.

use crate::common::*;
use std::time::Duration;

const BASE: &str = "CREATE TABLE parent (id int PRIMARY KEY);\n\
CREATE TABLE \"Order Items\" (id int PRIMARY KEY, parent_id int REFERENCES parent (id), \"Select\" text, qty int);\n\
INSERT INTO parent SELECT generate_series(1, 100);\n\
INSERT INTO \"Order Items\" SELECT g, 1 + g % 100, 'x' || g, g % 7 FROM generate_series(1, 5000) g;\n";
const WANTED: &str = "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"Items By Select\" ON \"Order Items\" (\"Select\");\n\
CREATE INDEX CONCURRENTLY IF NOT EXISTS items_parent ON \"Order Items\" (parent_id);\n";

/// A database migrated with BASE and WANTED, and its migrations directory.
fn migrated(label: &str) -> (TestDb, tempfile::TempDir) {
    let db = TestDb::new(label);
    let dir = migrations_dir(&[("V1__base.sql", BASE), ("V2__wanted.sql", WANTED)]);
    db.run(dir.path(), &["migrate", "apply"], 0);
    (db, dir)
}

fn plan(db: &TestDb, dir: &std::path::Path) -> serde_json::Value {
    plan_report(db, dir, &[])
}

fn rules(report: &serde_json::Value) -> Vec<String> {
    let mut r: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect();
    r.sort();
    r
}

#[test]
fn a_clean_database_has_an_empty_plan_and_each_kind_of_drift_is_found() {
    let (db, dir) = migrated("plan_kinds");
    let out = db.pgwarden(dir.path()).args(["plan"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    db.client()
        .batch_execute(
            "DROP INDEX \"Items By Select\"; \
             CREATE INDEX stray ON \"Order Items\" (qty); \
             CREATE INDEX items_parent_twin ON \"Order Items\" (parent_id); \
             DROP INDEX items_parent; CREATE INDEX items_parent ON \"Order Items\" (parent_id, qty); \
             CREATE TABLE extra_child (id int, parent_id int REFERENCES parent (id)); INSERT INTO extra_child VALUES (1, 1);",
        )
        .unwrap();
    // A failed concurrent unique build leaves an INVALID index.
    let mut c = db.client();
    assert!(
        c.batch_execute("CREATE UNIQUE INDEX CONCURRENTLY broken ON \"Order Items\" (qty)")
            .is_err()
    );
    c.batch_execute("SELECT pg_stat_force_next_flush()")
        .unwrap();
    let report = plan(&db, dir.path());
    assert_eq!(
        rules(&report),
        vec![
            "fk-without-index",
            "index-definition-differs",
            "invalid-index",
            "missing-index",
            "unexpected-index",
            "unexpected-index",
        ],
        "{report:#}"
    );
    let out = db.run(dir.path(), &["plan"], 1);
    let text = stdout(&out);
    assert!(text.contains("+ CREATE INDEX CONCURRENTLY IF NOT EXISTS \"Items By Select\" ON \"public\".\"Order Items\" USING btree (\"Select\");"), "{text}");
    assert!(
        text.contains("- DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"broken\";"),
        "{text}"
    );
}

#[test]
fn duplicates_and_unused_indexes_are_found() {
    let (db, dir) = migrated("plan_dup");
    write(
        dir.path(),
        "V3__dup.sql",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_parent_again ON \"Order Items\" (parent_id);\n",
    );
    write(
        dir.path(),
        "V4__wider.sql",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_parent_qty ON \"Order Items\" (parent_id, qty);\n",
    );
    db.run(dir.path(), &["migrate", "apply"], 0);
    let report = plan(&db, dir.path());
    assert_eq!(
        rules(&report),
        vec!["duplicate-index", "redundant-index"],
        "{report:#}"
    );
    let policy = policy_file("version = 1\n[plan]\nunused_after_days = 0\n");
    let out = db
        .pgwarden(dir.path())
        .arg("--policy")
        .arg(policy.path())
        .args(["--format", "json", "plan"])
        .output()
        .unwrap();
    assert!(
        rules(&json(&out)).contains(&"unused-index".to_string()),
        "{}",
        stdout(&out)
    );
}

#[test]
fn apply_rebuilds_records_a_migration_and_refuses_drops_without_permission() {
    let (db, dir) = migrated("apply_all");
    db.client()
        .batch_execute(
            "DROP INDEX \"Items By Select\"; CREATE INDEX stray ON \"Order Items\" (qty);",
        )
        .unwrap();
    let mut c = db.client();
    assert!(
        c.batch_execute(
            "CREATE INDEX CONCURRENTLY items_parent_x ON \"Order Items\" (nosuchcolumn)"
        )
        .is_err()
    );
    drop(c);

    // --dry-run changes nothing.
    let before = db.catalog_snapshot();
    db.run(dir.path(), &["apply", "--dry-run"], 1);
    assert_eq!(db.catalog_snapshot(), before);

    // --yes without --allow-drop: the build runs, the drop is refused.
    let out = db.run(dir.path(), &["--format", "json", "apply", "--yes"], 1);
    assert!(stderr(&out).contains("--allow-drop"), "{}", stderr(&out));
    let stray: bool = db.scalar("SELECT to_regclass('stray') IS NOT NULL");
    assert!(stray, "drops need permission");
    let rebuilt: bool = db.scalar(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('\"Items By Select\"')",
    );
    assert!(rebuilt);
    let migration = json(&out)["migration"].as_str().unwrap().to_string();
    assert!(
        migration.ends_with("V3__pgwarden_apply.sql") && std::path::Path::new(&migration).is_file()
    );
    let status = db
        .pgwarden(dir.path())
        .args(["migrate", "status"])
        .output()
        .unwrap();
    assert_eq!(
        status.status.code(),
        Some(0),
        "nothing pending after apply: {}",
        stdout(&status)
    );

    db.run(dir.path(), &["apply", "--yes", "--allow-drop"], 0);
    let stray: bool = db.scalar("SELECT to_regclass('stray') IS NOT NULL");
    assert!(!stray);
    let out = db.pgwarden(dir.path()).args(["plan"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "the plan is empty afterwards: {}",
        stdout(&out)
    );
}

#[test]
fn an_invalid_index_in_the_migrations_is_rebuilt_by_apply() {
    let (db, dir) = migrated("apply_invalid");
    db.client()
        .batch_execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'items_parent'::regclass",
        )
        .unwrap();
    let report = plan(&db, dir.path());
    // The INVALID index supports no foreign key now, but the plan rebuilds it, so no second
    // index is proposed for the key (it would be a duplicate once the rebuild is done).
    assert_eq!(rules(&report), vec!["invalid-index"]);
    let reindex = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rule"] == "invalid-index")
        .unwrap();
    assert!(
        reindex["statements"][0]
            .as_str()
            .unwrap()
            .starts_with("REINDEX INDEX CONCURRENTLY")
    );
    db.run(
        dir.path(),
        &["apply", "--yes", "--only", "invalid-index"],
        0,
    );
    let valid: bool =
        db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_parent'::regclass");
    assert!(valid);
    let bad = db.run(dir.path(), &["apply", "--yes", "--only", "no-such-rule"], 2);
    assert!(
        stderr(&bad).contains("unknown rule `no-such-rule`"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn a_definition_change_is_swapped_without_a_window_without_the_index() {
    let (db, dir) = migrated("apply_swap");
    db.client().batch_execute("DROP INDEX items_parent; CREATE INDEX items_parent ON \"Order Items\" (parent_id, qty);").unwrap();
    let url = db.url.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watching = stop.clone();
    let watcher = std::thread::spawn(move || {
        let mut c = pgwarden::db::ConnectionTarget::from_url(&url)
            .unwrap()
            .connect()
            .unwrap();
        let mut polls = 0;
        while !watching.load(std::sync::atomic::Ordering::SeqCst) {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
                     WHERE i.indrelid = '\"Order Items\"'::regclass AND a.attname = 'parent_id' AND i.indisvalid",
                    &[],
                )
                .unwrap()
                .get(0);
            assert!(n >= 1, "no valid index on parent_id after {polls} polls");
            polls += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
        polls
    });
    // The swap drops the old index after the new one is valid: a drop, so --allow-drop.
    let out = db
        .pgwarden(dir.path())
        .args(["apply", "--yes", "--allow-drop"])
        .output()
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let polls = watcher.join().expect("the index was never missing");
    assert!(polls > 0);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let def: String = db.scalar("SELECT pg_get_indexdef('items_parent'::regclass)");
    assert_eq!(
        def,
        "CREATE INDEX items_parent ON public.\"Order Items\" USING btree (parent_id)"
    );
}

#[test]
fn a_bloated_index_is_found_and_rebuilt() {
    let db = TestDb::new("plan_bloat");
    let dir = migrations_dir(&[
        (
            "V1__t.sql",
            "CREATE TABLE events (id int, kind int);\nINSERT INTO events SELECT g, g % 10 FROM generate_series(1, 200000) g;\n",
        ),
        (
            "V2__idx.sql",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS events_id ON events (id);\n",
        ),
    ]);
    db.run(dir.path(), &["migrate", "apply"], 0);
    let mut c = db.client();
    c.batch_execute("DELETE FROM events WHERE id % 20 <> 0")
        .unwrap();
    c.batch_execute("VACUUM ANALYZE events").unwrap();
    drop(c);
    let policy = policy_file("version = 1\n[plan]\nbloat_min_mb = 1\n");
    let run = |args: &[&str]| {
        db.pgwarden(dir.path())
            .arg("--policy")
            .arg(policy.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--format", "json", "plan"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(rules(&report), vec!["bloated-index"], "{report:#}");
    let before: i64 = db.scalar("SELECT pg_relation_size('events_id')");
    let out = run(&["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let after: i64 = db.scalar("SELECT pg_relation_size('events_id')");
    assert!(after * 4 < before, "rebuilt smaller: {before} -> {after}");
    assert_eq!(run(&["plan"]).status.code(), Some(0));
}

#[test]
fn plan_with_advise_adds_the_advisors_proposals() {
    let (db, dir) = migrated("plan_advise");
    db.client()
        .batch_execute("INSERT INTO \"Order Items\" SELECT g, 1 + g % 100, 'x' || g, g % 7 FROM generate_series(5001, 300000) g; ANALYZE \"Order Items\";")
        .unwrap();
    let shadow = format!("{}_copy", db.name);
    server().copy_database(&db.name, &shadow).unwrap();
    let budget = half_of_measured_ms(
        &db,
        "SELECT id FROM \"Order Items\" WHERE qty = 3 AND \"Select\" > 'x4'",
    );
    let policy = policy_file(&format!(
        "version = 1\n[budget]\nmean_ms = {budget}\n[advise]\nwrite_sample_seconds = 1\n[[query]]\nname = \"by_qty\"\nsql = \"SELECT id FROM \\\"Order Items\\\" WHERE qty = $1 AND \\\"Select\\\" > $2\"\nparams = [[3, \"x4\"]]\nweight = 1000.0\n",
    ));
    let out = db
        .pgwarden(dir.path())
        .arg("--policy")
        .arg(policy.path())
        .args([
            "--format",
            "json",
            "plan",
            "--advise",
            "--advise-shadow-url",
            &server().url(&shadow),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(rules(&report), vec!["advisor-proposal"], "{report:#}");
    let ddl = report["changes"][0]["statements"][0].as_str().unwrap();
    assert!(ddl.contains(" ON \"Order Items\" (\"qty\""), "{ddl}");
}

#[test]
fn indexes_the_policy_requires_are_part_of_the_desired_state() {
    let (db, dir) = migrated("plan_required");
    let policy = policy_file(
        "version = 1\n[plan]\nrequired_indexes = [\"CREATE INDEX items_qty ON \\\"Order Items\\\" (qty)\"]\n",
    );
    let out = db
        .pgwarden(dir.path())
        .arg("--policy")
        .arg(policy.path())
        .args(["--format", "json", "plan"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(rules(&report), vec!["missing-index"], "{report:#}");
    assert_eq!(report["findings"][0]["object"], "public.items_qty");
}
