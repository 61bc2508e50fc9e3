//! The binary's contract: exit codes, errors that name the object and the fix, connection
//! resolution from the libpq environment and ~/.pgpass, verify / new / baseline / repair.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;

#[test]
fn unreachable_database_is_exit_2_with_a_clear_message() {
    let dir = migrations_dir(&[("V1__a.sql", "SELECT 1;")]);
    let out = pgwarden()
        .args([
            "--database-url",
            "postgres://app:s3cret-pw@127.0.0.1:1/app",
            "--migrations",
        ])
        .arg(dir.path())
        .args(["migrate", "apply"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: cannot connect to postgres://app@127.0.0.1:1/app"),
        "{err}"
    );
    assert!(err.contains("DATABASE_URL"), "the fix is named: {err}");
    assert!(!err.contains("s3cret-pw"));
    assert!(!err.contains("panicked"));
}

#[test]
fn missing_migrations_directory_is_exit_2_naming_it() {
    let db = TestDb::new("nodir");
    let out = db.run(
        std::path::Path::new("/nonexistent/pgw"),
        &["migrate", "apply"],
        2,
    );
    assert!(
        stderr(&out).contains("/nonexistent/pgw"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn libpq_environment_and_pgpass_are_used_when_no_url_is_given() {
    let db = TestDb::new("libpq");
    let url = db.url.clone();
    let password = url
        .split(':')
        .nth(2)
        .unwrap()
        .split('@')
        .next()
        .unwrap()
        .to_string();
    let port = server().port().to_string();
    let home = tempfile::tempdir().unwrap();
    let pgpass = home.path().join(".pgpass");
    std::fs::write(&pgpass, format!("127.0.0.1:{port}:*:postgres:{password}\n")).unwrap();
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let dir = migrations_dir(&[("V1__a.sql", "CREATE TABLE from_env (x int);")]);
    let out = pgwarden()
        .env("HOME", home.path())
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", &port)
        .env("PGUSER", "postgres")
        .env("PGDATABASE", &db.name)
        .env("PGSSLMODE", "disable")
        .env_remove("PGPASSWORD")
        .env_remove("PGPASSFILE")
        .arg("--migrations")
        .arg(dir.path())
        .args(["migrate", "apply"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let made: bool = db.scalar("SELECT to_regclass('from_env') IS NOT NULL");
    assert!(made);
}

#[test]
fn verify_names_file_both_checksums_and_the_fix_then_repair_needs_yes() {
    let db = TestDb::new("verify");
    let dir = migrations_dir(&[
        ("V1__a.sql", "CREATE TABLE a (x int);\n"),
        ("V2__b.sql", "CREATE TABLE b (x int);\n"),
    ]);
    db.run(dir.path(), &["migrate", "apply"], 0);
    let clean = db
        .pgwarden(dir.path())
        .args(["migrate", "verify"])
        .output()
        .unwrap();
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));

    let old: String = db.scalar("SELECT checksum FROM refinery_schema_history WHERE version = 2");
    write(
        dir.path(),
        "V2__b.sql",
        "-- reviewed: comment only\nCREATE TABLE b (x int);\n",
    );
    let out = db.run(dir.path(), &["--format", "json", "migrate", "verify"], 1);
    let problem = &json(&out)["problems"][0];
    assert_eq!(problem["applied_checksum"], old.as_str());
    let new = problem["file_checksum"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    let message = problem["message"].as_str().unwrap();
    assert!(
        message.contains("V2__b.sql")
            && message.contains(&old)
            && message.contains(&new)
            && message.contains("migrate repair")
    );

    // Without --yes (and no terminal) nothing is written.
    let refused = db.run(dir.path(), &["migrate", "repair"], 2);
    assert!(
        stdout(&refused).contains(&old) && stdout(&refused).contains(&new),
        "shows the rows: {}",
        stdout(&refused)
    );
    assert!(stderr(&refused).contains("--yes"));
    let still: String = db.scalar("SELECT checksum FROM refinery_schema_history WHERE version = 2");
    assert_eq!(still, old);

    db.run(dir.path(), &["migrate", "repair", "--yes"], 0);
    let now: String = db.scalar("SELECT checksum FROM refinery_schema_history WHERE version = 2");
    assert_eq!(now, new);
    db.run(dir.path(), &["migrate", "verify"], 0);
}

#[test]
fn baseline_adopts_an_existing_database_without_running_anything() {
    let db = TestDb::new("baseline");
    db.client()
        .batch_execute("CREATE TABLE legacy (x int);")
        .unwrap();
    let dir = migrations_dir(&[
        ("V1__legacy.sql", "CREATE TABLE legacy (x int);"),
        ("V2__more.sql", "ALTER TABLE legacy ADD COLUMN y int;"),
        ("V3__next.sql", "CREATE TABLE next_one (x int);"),
    ]);
    let shown = db
        .pgwarden(dir.path())
        .args(["migrate", "baseline", "2"])
        .output()
        .unwrap();
    assert_eq!(
        shown.status.code(),
        Some(2),
        "no --yes, no terminal: nothing written"
    );
    assert!(
        stdout(&shown).contains("legacy") && stdout(&shown).contains("more"),
        "{}",
        stdout(&shown)
    );
    let exists: bool = db.scalar("SELECT to_regclass('refinery_schema_history') IS NOT NULL");
    assert!(!exists, "nothing was written");

    db.run(dir.path(), &["migrate", "baseline", "2", "--yes"], 0);
    let has_y: bool = db.scalar("SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'legacy'::regclass AND attname = 'y')");
    assert!(!has_y, "baseline records, it does not run");
    let out = db.run(dir.path(), &["--format", "json", "migrate", "apply"], 0);
    assert_eq!(json(&out)["migrations"][0]["version"], 3);

    let bad = db.run(dir.path(), &["migrate", "baseline", "9", "--yes"], 2);
    assert!(stderr(&bad).contains("version 9"));
}

#[test]
fn new_writes_the_next_version_and_refuses_bad_names() {
    let dir = migrations_dir(&[("V1__a.sql", ""), ("V7__b.sql", "")]);
    let out = pgwarden()
        .arg("--migrations")
        .arg(dir.path())
        .args(["migrate", "new", "add_users_email"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(dir.path().join("V8__add_users_email.sql").is_file());
    let bad = pgwarden()
        .arg("--migrations")
        .arg(dir.path())
        .args(["migrate", "new", "add-index"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("add_index"),
        "suggests a fixed name: {}",
        stderr(&bad)
    );
}

#[test]
fn json_logs_go_to_stderr_and_results_to_stdout() {
    let db = TestDb::new("logs");
    let out = db.run(
        &shipped_migrations(),
        &[
            "-v",
            "--log-format",
            "json",
            "--format",
            "json",
            "migrate",
            "apply",
        ],
        0,
    );
    json(&out);
    let first_log = stderr(&out).lines().next().unwrap_or_default().to_string();
    let parsed: serde_json::Value = serde_json::from_str(&first_log).expect("log lines are JSON");
    assert!(parsed["level"].is_string());
    assert!(
        !stderr(&out).contains(db.url.split('@').next().unwrap()),
        "no password in logs"
    );
}

#[test]
fn demo_without_server_binaries_is_a_clear_error() {
    let out = pgwarden()
        .env("PGWARDEN_PG_BINDIR", "/nonexistent/pg/bin")
        .arg("demo")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("/nonexistent/pg/bin (from --pg-bindir / PGWARDEN_PG_BINDIR) does not hold executable initdb, pg_ctl and postgres")
            && err.contains("/usr/lib/postgresql/15/bin"),
        "{err}"
    );
}
