//! The plan file's fingerprint (canonical, order-independent, collision-safe) and the statement
//! classifier that keeps a plan file from running arbitrary SQL.

use super::fingerprint::{AppliedMigration, IndexState, TableState};
use super::statements::{PlannedStatement, QName, classify};
use super::*;
use crate::catalog::{Catalog, Index, Table};

fn ix(schema: &str, name: &str, key: &str) -> IndexState {
    IndexState {
        schema: schema.into(),
        name: name.into(),
        key: key.into(),
        valid: true,
    }
}

fn table(schema: &str, name: &str, indexes: Vec<IndexState>) -> TableState {
    TableState {
        schema: schema.into(),
        name: name.into(),
        exists: true,
        indexes,
    }
}

fn migration(version: i32) -> AppliedMigration {
    AppliedMigration {
        version,
        name: format!("m{version}"),
        checksum: "42".into(),
    }
}

#[test]
fn the_hash_does_not_depend_on_the_order_items_were_read_in() {
    let a = Fingerprint::from_items(
        vec![
            table(
                "public",
                "t",
                vec![ix("public", "a", "k1"), ix("public", "b", "k2")],
            ),
            table("public", "u", vec![]),
        ],
        vec![migration(1), migration(2)],
    );
    let b = Fingerprint::from_items(
        vec![
            table("public", "u", vec![]),
            table(
                "public",
                "t",
                vec![ix("public", "b", "k2"), ix("public", "a", "k1")],
            ),
        ],
        vec![migration(2), migration(1)],
    );
    assert_eq!(a.sha256, b.sha256);
    assert!(a.differences(&b).is_empty());
}

#[test]
fn names_holding_separators_never_collide_with_other_names() {
    // Without length prefixes, "a:b" + "c" and "a" + "b:c" would hash the same.
    let one = Fingerprint::from_items(vec![table("a:b", "c", vec![])], vec![]);
    let two = Fingerprint::from_items(vec![table("a", "b:c", vec![])], vec![]);
    assert_ne!(one.sha256, two.sha256);
    let one = Fingerprint::from_items(vec![table("s", "t", vec![ix("s", "i\n1:x", "k")])], vec![]);
    let two = Fingerprint::from_items(vec![table("s", "t", vec![ix("s", "i", "1:xk")])], vec![]);
    assert_ne!(one.sha256, two.sha256);
    let dotted = Fingerprint::from_items(vec![table("a.b", "c", vec![])], vec![]);
    let other = Fingerprint::from_items(vec![table("a", "b.c", vec![])], vec![]);
    assert_ne!(dotted.sha256, other.sha256);
}

#[test]
fn every_kind_of_difference_is_named() {
    let before = Fingerprint::from_items(
        vec![
            table(
                "public",
                "t",
                vec![ix("public", "t_a", "k1"), ix("public", "t_c", "k3")],
            ),
            TableState {
                exists: false,
                ..table("public", "gone", vec![])
            },
        ],
        vec![migration(1)],
    );
    let now = Fingerprint::from_items(
        vec![
            table(
                "public",
                "t",
                vec![
                    ix("public", "t_a", "changed"),
                    ix("public", "t_b", "k2"),
                    IndexState {
                        valid: false,
                        ..ix("public", "t_c", "k3")
                    },
                ],
            ),
            table("public", "gone", vec![]),
        ],
        vec![migration(1), migration(7)],
    );
    let words: Vec<String> = before
        .differences(&now)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        words,
        vec![
            "table public.gone: now exists",
            "index public.t_a: definition changed",
            "index public.t_c: now INVALID",
            "index public.t_b: now exists",
            "migration V7: applied since (m7)",
        ]
    );
}

fn catalog() -> Catalog {
    let index = |name: &str| Index {
        schema: "public".into(),
        name: name.into(),
        table: "t".into(),
        definition: String::new(),
        tail: String::new(),
        partitioned: false,
        method: "btree".into(),
        columns: vec!["a".into()],
        predicate: None,
        unique: false,
        primary: false,
        constraint: None,
        valid: true,
        size_bytes: 0,
        scans: 0,
        key: format!("key of {name}"),
        expected_bytes: None,
        replica_identity: false,
        referenced_by_foreign_key: false,
        oid: 0,
    };
    Catalog {
        tables: ["t", "unrelated"]
            .iter()
            .map(|n| Table {
                schema: "public".into(),
                name: (*n).into(),
                size_bytes: 0,
                writes: 0,
            })
            .collect(),
        indexes: vec![index("t_a"), index("t_old")],
        ..Default::default()
    }
}

#[test]
fn unrelated_tables_are_not_fingerprinted() {
    let statements = vec![
        classify(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"t_b\" ON \"public\".\"t\" USING btree (b)",
        )
        .unwrap(),
        classify("DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"t_old\"").unwrap(),
    ];
    let touched = statements::touched_tables(&statements, &catalog());
    assert_eq!(
        touched.into_iter().collect::<Vec<_>>(),
        vec![("public".to_string(), "t".to_string())]
    );
    let mut other = catalog();
    other.tables.retain(|t| t.name != "unrelated");
    let tables = statements::touched_tables(&statements, &catalog());
    assert_eq!(
        Fingerprint::of(&catalog(), &[], &tables),
        Fingerprint::of(&other, &[], &tables)
    );
}

#[test]
fn the_forms_plan_writes_are_read_with_their_names() {
    assert_eq!(
        classify("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS \"Odd \"\"Name\" ON \"s\".\"T\" USING btree (a) WHERE (a > 0)").unwrap(),
        PlannedStatement::Build { index: "Odd \"Name".into(), table: QName { schema: Some("s".into()), name: "T".into() } }
    );
    assert!(matches!(
        classify("CREATE INDEX IF NOT EXISTS \"p_a\" ON ONLY \"public\".\"p\" USING btree (a)"),
        Ok(PlannedStatement::Build { .. })
    ));
    assert!(matches!(
        classify("CREATE INDEX CONCURRENTLY IF NOT EXISTS \"x\" ON \"Order Items\" (\"a\")"),
        Ok(PlannedStatement::Build { .. })
    ));
    assert!(
        classify("DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"i\"")
            .unwrap()
            .is_drop()
    );
    assert!(
        classify("DROP INDEX IF EXISTS \"public\".\"i\"")
            .unwrap()
            .is_drop()
    );
    assert!(matches!(
        classify("REINDEX INDEX CONCURRENTLY \"public\".\"i\""),
        Ok(PlannedStatement::Reindex { .. })
    ));
    assert!(matches!(
        classify("ALTER INDEX IF EXISTS \"public\".\"i_pgw_new\" RENAME TO \"i\""),
        Ok(PlannedStatement::Rename { .. })
    ));
    let attach = crate::diff::attach("public", "p_a", ("public", "p1"), "p1_p_a");
    assert_eq!(
        classify(&attach).unwrap(),
        PlannedStatement::Attach {
            parent: QName {
                schema: Some("public".into()),
                name: "p_a".into()
            },
            partition: QName {
                schema: Some("public".into()),
                name: "p1".into()
            },
            child: QName {
                schema: Some("public".into()),
                name: "p1_p_a".into()
            },
        }
    );
}

#[test]
fn anything_else_is_refused() {
    for hostile in [
        "DROP TABLE t",
        "DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"i\"; DROP TABLE t",
        "DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"i\", \"public\".\"t_pkey\"",
        "DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"i\" CASCADE",
        "CREATE INDEX IF NOT EXISTS i ON t (a)",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t AS SELECT 1",
        "CREATE TABLE t (a int)",
        "ALTER INDEX IF EXISTS \"public\".\"i\" SET TABLESPACE x",
        "REINDEX TABLE CONCURRENTLY t",
        "DO $$BEGIN DROP TABLE t; END$$",
        "SELECT pg_terminate_backend(1)",
        "-- comment\nDROP INDEX CONCURRENTLY IF EXISTS \"public\".\"i\"",
        "",
    ] {
        assert!(classify(hostile).is_err(), "{hostile}");
    }
    // An attach block with one extra statement in it.
    let attach = crate::diff::attach("public", "p_a", ("public", "p1"), "p1_p_a");
    let tampered = attach.replacen("BEGIN ", "BEGIN DELETE FROM t; ", 1);
    assert!(classify(&tampered).is_err());
}

fn plan_of(statement: &str, is_drop: bool) -> PlanFile {
    let change = Change {
        rule: crate::finding::MISSING_INDEX,
        sign: '+',
        object: "public.t_b".into(),
        statements: vec![statement.into()],
        reason: "r".into(),
        lock: crate::diff::SUE,
        estimate_seconds: 1.0,
        is_drop,
    };
    let fp = Fingerprint::from_items(vec![table("public", "t", vec![])], vec![migration(1)]);
    PlanFile::new(
        "postgres://u@h:5432/d".into(),
        "2024-01-01T00:00:00Z".into(),
        &[change],
        fp,
    )
}

#[test]
fn a_plan_holds_together_and_any_edit_is_caught() {
    let plan = plan_of(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"t_b\" ON \"public\".\"t\" USING btree (b)",
        false,
    );
    plan.validate().unwrap();
    let mut edited = plan.clone();
    edited.changes[0].statements[0] = "DROP TABLE t".into();
    assert!(edited.validate().unwrap_err().contains("DROP TABLE t"));
    let mut edited = plan.clone();
    edited.changes[0].reason = "other".into();
    assert!(edited.validate().unwrap_err().contains("plan id"));
    let mut edited = plan.clone();
    edited.fingerprint.migrations.clear();
    assert!(edited.validate().unwrap_err().contains("fingerprint"));
    // A drop not marked as one would slip past --allow-drop.
    let unmarked = plan_of(
        "DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"t_b\"",
        false,
    );
    assert!(
        unmarked
            .validate()
            .unwrap_err()
            .contains("not marked as a drop")
    );
}

#[test]
fn the_migration_for_a_plan_is_found_by_its_header_only() {
    let file = |sql: &str| crate::migrations::discovery::MigrationFile {
        path: "V2__pgwarden_plan.sql".into(),
        version: 2,
        name: "pgwarden_plan".into(),
        prefix: 'V',
        sql: sql.into(),
        checksum: 0,
    };
    let found = Discovered {
        files: vec![
            file("-- pgwarden:no-transaction\n-- pgwarden:plan abc\nSELECT 1;\n"),
            file("SELECT 1;\n-- pgwarden:plan def\n"),
        ],
        unusable: vec![],
    };
    assert!(written_migration(&found, "abc").is_some());
    assert!(written_migration(&found, "ab").is_none());
    // Only the leading comments count, not a line further down.
    assert!(written_migration(&found, "def").is_none());
}
