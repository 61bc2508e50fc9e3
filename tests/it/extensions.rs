//! Index definitions compare by meaning: operator classes from extensions (pg_trgm, citext,
//! btree_gin) and collations, whose OIDs differ between the target and the database the
//! migrations are replayed into, plan as no change; a real difference of collation or access
//! method is still found, and its swap (which drops the old index) needs --allow-drop.

use crate::common::*;
use std::collections::BTreeSet;

const BASE: &str = "CREATE EXTENSION IF NOT EXISTS pg_trgm;\n\
CREATE EXTENSION IF NOT EXISTS citext;\n\
CREATE EXTENSION IF NOT EXISTS btree_gin;\n\
CREATE COLLATION IF NOT EXISTS pgw_c (provider = libc, locale = 'C');\n\
CREATE TABLE docs (id int PRIMARY KEY, body text, email citext, n int, title text, code text COLLATE pgw_c);\n\
INSERT INTO docs SELECT g, 'body number ' || g, 'User' || g || '@Example.com', g % 50, 'title ' || g, 'c' || g \
FROM generate_series(1, 2000) g;\n";

const INDEXES: &str = "CREATE INDEX CONCURRENTLY IF NOT EXISTS docs_body_trgm ON docs USING gin (body gin_trgm_ops);\n\
CREATE INDEX CONCURRENTLY IF NOT EXISTS docs_lower_body_trgm ON docs USING gin (lower(body) gin_trgm_ops);\n\
CREATE INDEX CONCURRENTLY IF NOT EXISTS docs_email ON docs (email);\n\
CREATE INDEX CONCURRENTLY IF NOT EXISTS docs_n_gin ON docs USING gin (n);\n\
CREATE INDEX CONCURRENTLY IF NOT EXISTS docs_title_c ON docs (title COLLATE \"C\");\n\
CREATE INDEX CONCURRENTLY IF NOT EXISTS docs_code ON docs (code);\n\
CREATE INDEX CONCURRENTLY IF NOT EXISTS docs_title_pgw ON docs (title COLLATE pgw_c);\n";

/// The OID of operator class `opclass` of access method `am`.
fn opclass_oid(db: &TestDb, opclass: &str, am: &str) -> i64 {
    db.client()
        .query_one(
            "SELECT c.oid::int8 FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod \
             WHERE c.opcname::text = $1::text AND a.amname::text = $2::text",
            &[&opclass, &am],
        )
        .unwrap_or_else(|e| panic!("operator class {opclass} ({am}) in {}: {e}", db.name))
        .get(0)
}

fn collation_oid(db: &TestDb, name: &str) -> i64 {
    db.client()
        .query_one(
            "SELECT oid::int8 FROM pg_collation WHERE collname::text = $1::text",
            &[&name],
        )
        .unwrap_or_else(|e| panic!("collation {name} in {}: {e}", db.name))
        .get(0)
}

fn plan(
    db: &TestDb,
    dir: &std::path::Path,
    policy: &str,
    extra: &[&str],
    code: i32,
) -> serde_json::Value {
    let mut args = vec!["--policy", policy, "--format", "json", "plan"];
    args.extend_from_slice(extra);
    json(&db.run(dir, &args, code))
}

/// No changes, and no finding that would fail a CI gate (notes are fine).
fn assert_converged(report: &serde_json::Value) {
    assert_eq!(
        report["changes"].as_array().map(Vec::len),
        Some(0),
        "{report:#}"
    );
    let loud: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "note")
        .collect();
    assert!(loud.is_empty(), "{report:#}");
}

fn indexdef(db: &TestDb, index: &str) -> String {
    db.scalar(&format!("SELECT pg_get_indexdef('{index}'::regclass)"))
}

#[test]
fn extension_operator_classes_and_collations_plan_as_no_change() {
    let dir = migrations_dir(&[("V1__docs.sql", BASE), ("V2__indexes.sql", INDEXES)]);
    let empty = policy_file("version = 1\n");
    let p = empty.path().to_str().unwrap();

    // The target got its extensions and collation by hand before the migrations (which then
    // skip them), in another order and after other objects: their OIDs are not a replay's.
    let db = TestDb::new("ext_target");
    db.client()
        .batch_execute(
            "CREATE DOMAIN pgw_pad AS int; CREATE TYPE pgw_pad_pair AS (a int, b int); \
             CREATE EXTENSION btree_gin; CREATE COLLATION pgw_c (provider = libc, locale = 'C'); \
             CREATE EXTENSION citext; CREATE EXTENSION pg_trgm;",
        )
        .unwrap();
    db.run(dir.path(), &["migrate", "apply"], 0);
    let replay = TestDb::new("ext_replay");
    replay.run(dir.path(), &["migrate", "apply"], 0);
    for (opclass, am) in [
        ("gin_trgm_ops", "gin"),
        ("citext_ops", "btree"),
        ("int4_ops", "gin"),
    ] {
        assert_ne!(
            opclass_oid(&db, opclass, am),
            opclass_oid(&replay, opclass, am),
            "the test needs {opclass} ({am}) to have another OID in a replay of the migrations"
        );
    }
    assert_ne!(collation_oid(&db, "pgw_c"), collation_oid(&replay, "pgw_c"));
    let shown: String = db.scalar(
        "SELECT string_agg(pg_get_indexdef(indexrelid), E'\\n' ORDER BY indexrelid::regclass::text) \
         FROM pg_index WHERE indrelid = 'docs'::regclass",
    );
    for needle in [
        "gin_trgm_ops",
        "COLLATE \"C\"",
        "COLLATE pgw_c",
        "USING gin (n)",
    ] {
        assert!(shown.contains(needle), "{needle} in\n{shown}");
    }

    // No drift: against a throwaway server, and against an empty database on this server.
    assert_converged(&plan(&db, dir.path(), p, &[], 0));
    let shadow = TestDb::new("ext_shadow");
    assert_converged(&plan(
        &db,
        dir.path(),
        p,
        &["--shadow-url", shadow.url.as_str()],
        0,
    ));
    let in_shadow = shadow
        .client()
        .query_opt(
            "SELECT c.oid::int8 FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod \
             WHERE c.opcname = 'gin_trgm_ops' AND a.amname = 'gin'",
            &[],
        )
        .unwrap()
        .map(|r| r.get::<_, i64>(0));
    if let Some(oid) = in_shadow {
        assert_ne!(
            oid,
            opclass_oid(&db, "gin_trgm_ops", "gin"),
            "target and shadow OIDs differ"
        );
    }

    // A real difference is still found: another collation, another access method.
    db.client()
        .batch_execute(
            "DROP INDEX docs_title_c; CREATE INDEX docs_title_c ON docs (title COLLATE \"POSIX\"); \
             DROP INDEX docs_body_trgm; CREATE INDEX docs_body_trgm ON docs USING gist (body gist_trgm_ops);",
        )
        .unwrap();
    let report = plan(&db, dir.path(), p, &[], 1);
    let differs: BTreeSet<String> = loud_findings(&report);
    let expected: BTreeSet<String> = [
        "index-definition-differs public.docs_body_trgm",
        "index-definition-differs public.docs_title_c",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(differs, expected, "{report:#}");

    // The swap drops the old index: without --allow-drop nothing is swapped.
    let out = db.run(dir.path(), &["--policy", p, "apply", "--yes"], 1);
    assert!(stderr(&out).contains("--allow-drop"), "{}", stderr(&out));
    assert!(indexdef(&db, "docs_title_c").contains("POSIX"));
    assert!(indexdef(&db, "docs_body_trgm").contains("gist_trgm_ops"));

    db.run(
        dir.path(),
        &["--policy", p, "apply", "--yes", "--allow-drop"],
        0,
    );
    assert!(
        indexdef(&db, "docs_title_c").contains("COLLATE \"C\""),
        "{}",
        indexdef(&db, "docs_title_c")
    );
    assert!(
        indexdef(&db, "docs_body_trgm").contains("USING gin (body gin_trgm_ops)"),
        "{}",
        indexdef(&db, "docs_body_trgm")
    );
    assert_converged(&plan(&db, dir.path(), p, &[], 0));
}

/// The target keeps its extensions in a schema of their own (`ext`, on its search path); the
/// migrations' `CREATE EXTENSION IF NOT EXISTS` puts them in `public` where they are replayed.
/// The operator classes are the same extension's: no drift, and nothing to rebuild.
#[test]
fn extensions_in_another_schema_on_the_target_plan_as_no_change() {
    let db = TestDb::new("ext_schema");
    db.client()
        .batch_execute(&format!(
            "CREATE SCHEMA ext; CREATE EXTENSION pg_trgm SCHEMA ext; \
             CREATE EXTENSION citext SCHEMA ext; CREATE EXTENSION btree_gin SCHEMA ext; \
             ALTER DATABASE {} SET search_path = public, ext",
            db.name
        ))
        .unwrap();
    let base = BASE
        .replace(
            "CREATE COLLATION IF NOT EXISTS pgw_c (provider = libc, locale = 'C');\n",
            "",
        )
        .replace(" COLLATE pgw_c", "");
    let indexes: String = INDEXES
        .lines()
        .filter(|l| !l.contains("pgw_c"))
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = migrations_dir(&[
        ("V1__base.sql", base.as_str()),
        ("V2__indexes.sql", &indexes),
    ]);
    db.run(dir.path(), &["migrate", "apply"], 0);
    let schema: String = db.scalar(
        "SELECT n.nspname::text FROM pg_opclass o JOIN pg_namespace n ON n.oid = o.opcnamespace \
         WHERE o.opcname = 'gin_trgm_ops'",
    );
    assert_eq!(schema, "ext", "the target's operator class lives in ext");
    let policy = policy_file("version = 1\n[budget]\nmean_ms = 100\n");
    let report = plan(&db, dir.path(), policy.path().to_str().unwrap(), &[], 0);
    assert_converged(&report);
}
