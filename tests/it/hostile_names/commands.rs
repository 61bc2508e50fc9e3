//! migrate apply, migrate status, plan (human, JSON, --output) and apply --yes --allow-drop
//! with drift in hostile names: a missing index, an unexpected one, a failed build and foreign
//! keys without an index on written tables (one of them 63 bytes of multi-byte characters).

use super::*;

#[test]
fn hostile_names_survive_migrate_status_plan_and_apply() {
    let (db, dir, policy) = migrated("hostile");
    let d = dir.path();
    let p = policy.path().to_str().unwrap();
    let files = tempfile::tempdir().unwrap();

    // Drift with hostile names: a missing index, an unexpected one, a failed build, and writes
    // on both tables whose foreign keys have no index.
    let mut c = db.client();
    c.batch_execute(&format!(
        "DROP INDEX {i}; CREATE INDEX {u} ON {t} (lower(note)); \
         UPDATE {t} SET note = note || '!' WHERE id <= 10; INSERT INTO {e} VALUES (51, 1);",
        i = in_schema(INDEX),
        u = q(UNEXPECTED),
        t = in_schema(CHILD),
        e = in_schema(EURO),
    ))
    .unwrap();
    let failed = c.batch_execute(&format!(
        "CREATE UNIQUE INDEX CONCURRENTLY {} ON {} ({})",
        q(BROKEN),
        in_schema(CHILD),
        q(COLUMN)
    ));
    assert!(failed.is_err(), "the unique build must fail on duplicates");
    c.batch_execute("SELECT pg_stat_force_next_flush()")
        .unwrap();
    drop(c);
    wait_for_writes(&db, &[CHILD, EURO]);
    assert_eq!(index_state(&db, BROKEN), Some(false));

    // migrate status: the INVALID index is named, exactly in JSON, harmlessly for a terminal.
    let out = db.run(d, &["--policy", p, "migrate", "status"], 1);
    assert_terminal_safe("migrate status", &out);
    let out = db.run(
        d,
        &["--policy", p, "--format", "json", "migrate", "status"],
        1,
    );
    let status = json(&out);
    assert!(
        status["invalid_indexes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"] == BROKEN),
        "{status:#}"
    );
    assert_canary(&db, "migrate status");

    // plan: human, JSON, and the SQL file.
    let out = db.run(d, &["--policy", p, "plan"], 1);
    assert_terminal_safe("plan", &out);
    assert_canary(&db, "plan");
    let plan_sql = files.path().join("plan.sql");
    let out = db.run(
        d,
        &[
            "--policy",
            p,
            "--format",
            "json",
            "plan",
            "--output",
            plan_sql.to_str().unwrap(),
        ],
        1,
    );
    assert_canary(&db, "plan --output");
    let report = json(&out);
    assert_eq!(
        rules(&report),
        vec![
            "fk-without-index",
            "fk-without-index",
            "invalid-index",
            "missing-index",
            "unexpected-index"
        ],
        "{report:#}"
    );
    assert!(
        json_contains(&report["findings"], FK),
        "JSON keeps names exactly: {report:#}"
    );
    assert_file_holds("plan --output", &plan_sql, &statements(&report["changes"]));

    // apply: the fix is written as a migration holding only the planned statements, and runs.
    let out = db.run(
        d,
        &[
            "--policy",
            p,
            "--format",
            "json",
            "apply",
            "--yes",
            "--allow-drop",
        ],
        0,
    );
    assert_canary(&db, "apply --yes --allow-drop");
    let applied = json(&out);
    let migration = applied["migration"]
        .as_str()
        .expect("a migration was written");
    assert_file_holds(
        "apply",
        Path::new(migration),
        &statements(&applied["accepted"]),
    );
    assert_eq!(
        index_state(&db, INDEX),
        Some(true),
        "the missing index is rebuilt"
    );
    assert_eq!(
        index_state(&db, UNEXPECTED),
        None,
        "the unexpected index is dropped"
    );
    assert_eq!(
        index_state(&db, BROKEN),
        None,
        "the failed build is dropped"
    );
    assert!(
        leading_indexes(&db, SCHEMA, CHILD, COLUMN) >= 1,
        "the foreign key is indexed"
    );
    assert!(
        leading_indexes(&db, SCHEMA, EURO, EURO) >= 1,
        "the 63-byte foreign key is indexed"
    );

    // Converged: nothing left to plan, nothing pending.
    let out = db.run(d, &["--policy", p, "plan"], 0);
    assert_terminal_safe("plan after apply", &out);
    let out = db.run(d, &["--policy", p, "migrate", "status"], 0);
    assert_terminal_safe("migrate status after apply", &out);
    db.run(
        d,
        &["--policy", p, "--format", "json", "migrate", "status"],
        0,
    );
    assert_canary(&db, "plan and status after apply");
}
