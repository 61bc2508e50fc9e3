//! advise --write-migration on a hostile schema and a 63-byte multi-byte table name: the
//! written migration holds exactly the proposed builds and applies; the canary survives.

use super::*;

#[test]
fn advise_writes_a_safe_migration_for_hostile_names() {
    let db = TestDb::new("hostile_advise");
    // The advisor resolves tables through the search path (schema-qualified workloads are
    // the advisor issue's); the 63-byte multi-byte table lives in public.
    let e = q(EURO);
    let base = format!(
        "CREATE TABLE victim (id int PRIMARY KEY, note text);\n\
         INSERT INTO victim VALUES (1, 'canary');\n\
         CREATE TABLE {e} (id int PRIMARY KEY, {} int, pad text);\n",
        q(COLUMN)
    );
    let dir = migrations_dir(&[("V1__base.sql", base.as_str())]);
    db.run(dir.path(), &["migrate", "apply"], 0);
    let mut c = db.client();
    c.batch_execute(&format!(
        "INSERT INTO {e} SELECT g, g, 'x' FROM generate_series(1, 100000) g; ANALYZE {e};"
    ))
    .unwrap();
    // The load is not traffic: publish its counters, then reset them so the table reads as quiet.
    c.batch_execute("SELECT pg_stat_force_next_flush()")
        .unwrap();
    c.batch_execute("SELECT pg_stat_reset()").unwrap();
    drop(c);
    let shadow = format!("{}_shadow", db.name);
    server()
        .copy_database(&db.name, &shadow)
        .expect("copy the database");
    let budget = half_of_measured_ms(
        &db,
        &format!("SELECT id FROM {e} WHERE {} = 4242", q(COLUMN)),
    );
    let policy = policy_file(&format!(
        "version = 1\n[budget]\nmean_ms = {budget}\n[[query]]\nname = {}\nsql = {}\nparams = [[4242]]\n",
        toml_string(QUERY),
        toml_string(&format!("SELECT id FROM {e} WHERE {} = $1", q(COLUMN)))
    ));
    let out = db
        .pgwarden(dir.path())
        .arg("--policy")
        .arg(policy.path())
        .args(["--format", "json", "advise", "--shadow-url"])
        .arg(server().url(&shadow))
        .arg("--write-migration")
        .output()
        .unwrap();
    assert_canary(&db, "advise");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    let proposals: Vec<String> = report["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ddl"].as_str().unwrap().to_string())
        .collect();
    assert!(!proposals.is_empty(), "{report:#}");
    let migration = report["migration"]
        .as_str()
        .expect("a migration was written");
    assert_file_holds("advise --write-migration", Path::new(migration), &proposals);

    db.run(dir.path(), &["migrate", "apply"], 0);
    assert_canary(&db, "migrate apply of the advised migration");
    assert!(
        leading_indexes(&db, "public", EURO, COLUMN) >= 1,
        "the advised index was built"
    );
    let empty = policy_file("version = 1\n");
    db.run(
        dir.path(),
        &["--policy", empty.path().to_str().unwrap(), "plan"],
        0,
    );
    assert_canary(&db, "plan after advise");
}
