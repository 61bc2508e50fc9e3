//! Exactly once under concurrent deploys, lock timeouts that name the blocker, and recovery of
//! a concurrent index build killed half-way.

use crate::common::*;
use std::time::{Duration, Instant};

#[test]
fn two_concurrent_applies_run_each_migration_exactly_once() {
    let db = TestDb::new("twice");
    let dir = migrations_dir(&[
        (
            "V1__log.sql",
            "CREATE TABLE run_log (migration text NOT NULL);",
        ),
        (
            "V2__slow_tx.sql",
            "INSERT INTO run_log VALUES ('v2');\nSELECT pg_sleep(0.5);",
        ),
        (
            "V3__slow_no_tx.sql",
            "-- pgwarden:no-transaction\nINSERT INTO run_log VALUES ('v3');\nSELECT pg_sleep(0.5);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS run_log_m ON run_log (migration);",
        ),
    ]);
    let spawn = || {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("pgwarden"));
        cmd.args(["--database-url", &db.url, "--migrations"])
            .arg(dir.path())
            .args(["--format", "json", "migrate", "apply"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    assert_eq!(b.status.code(), Some(0), "{}", stderr(&b));
    let applied = |o: &std::process::Output| json(o)["migrations"].as_array().unwrap().len();
    assert_eq!(
        applied(&a) + applied(&b),
        3,
        "each migration applied by exactly one runner"
    );
    let log: String =
        db.scalar("SELECT string_agg(migration, ',' ORDER BY migration) FROM run_log");
    assert_eq!(log, "v2,v3", "no statement ran twice");
    let rows: i64 = db.scalar("SELECT count(*) FROM refinery_schema_history");
    assert_eq!(rows, 3);
}

/// An idle-in-transaction session holding a lock on `table`, named `app`.
fn hold_lock(db: &TestDb, table: &str, app: &str) -> postgres::Client {
    let mut c = db.client();
    c.batch_execute(&format!(
        "SET application_name = '{app}'; BEGIN; LOCK TABLE {table} IN ROW EXCLUSIVE MODE;"
    ))
    .unwrap();
    c
}

#[test]
fn lock_timeout_retries_names_the_blocker_and_does_not_block_writers() {
    let db = TestDb::new("locktimeout");
    let dir = migrations_dir(&[("V1__t.sql", "CREATE TABLE t (id int);")]);
    db.run(dir.path(), &["migrate", "apply"], 0);
    write(
        dir.path(),
        "V2__alter.sql",
        "ALTER TABLE t ADD COLUMN note text;",
    );
    let mut blocker = hold_lock(&db, "t", "blocker-app");
    let blocker_pid: i32 = blocker
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);

    // A writer keeps inserting while pgwarden waits: each insert may queue behind pgwarden's lock
    // request for at most lock_timeout, never for the whole retry sequence.
    let writer_url = db.url.clone();
    let writer = std::thread::spawn(move || {
        let mut c = pgwarden::db::ConnectionTarget::from_url(&writer_url)
            .unwrap()
            .connect()
            .unwrap();
        c.batch_execute("SET statement_timeout = '2s'").unwrap();
        let started = Instant::now();
        let mut slowest = Duration::ZERO;
        while started.elapsed() < Duration::from_secs(3) {
            let t = Instant::now();
            c.execute("INSERT INTO t VALUES (1)", &[])
                .expect("writer must not be blocked past its timeout");
            slowest = slowest.max(t.elapsed());
            std::thread::sleep(Duration::from_millis(50));
        }
        slowest
    });
    let started = Instant::now();
    let out = db
        .pgwarden(dir.path())
        .args([
            "migrate",
            "apply",
            "--lock-timeout",
            "300ms",
            "--retries",
            "3",
            "--retry-delay",
            "200ms",
        ])
        .output()
        .unwrap();
    let took = started.elapsed();
    let slowest_insert = writer.join().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("4 attempts"), "{err}");
    assert!(
        err.contains(&format!("pid {blocker_pid}")) && err.contains("blocker-app"),
        "blocker not named: {err}"
    );
    assert!(
        took >= Duration::from_millis(4 * 300 + 200 + 400 + 800),
        "retried with backoff: {took:?}"
    );
    assert!(
        slowest_insert < Duration::from_secs(2),
        "a writer waited {slowest_insert:?}"
    );
    let has_note: bool = db.scalar("SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'note')");
    assert!(!has_note);

    // The blocker goes away during the retries: the apply succeeds on a later attempt. It is
    // released once pgwarden has been seen waiting for the lock (not after a fixed delay, which
    // a loaded machine can outlast before pgwarden even connects) and a first attempt has run
    // out of lock timeout.
    let mut admin = db.client();
    let release = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let waiting: bool = admin
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity \
                     WHERE application_name = 'pgwarden' AND wait_event_type = 'Lock')",
                    &[],
                )
                .unwrap()
                .get(0);
            if waiting {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "pgwarden never waited for the lock"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(450));
        blocker.batch_execute("COMMIT").unwrap();
    });
    let out = db
        .pgwarden(dir.path())
        .args([
            "--format",
            "json",
            "migrate",
            "apply",
            "--lock-timeout",
            "300ms",
            "--retries",
            "10",
            "--retry-delay",
            "100ms",
        ])
        .output()
        .unwrap();
    release.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let attempts = json(&out)["migrations"][0]["outcome"]["attempts"]
        .as_u64()
        .unwrap();
    assert!(attempts > 1, "expected retries, got {attempts}");
}

/// The V2 build of t held behind an open writer (see [`hold_build`]).
fn build_held_by_a_writer(db: &TestDb, dir: &std::path::Path, global: &[&str]) -> HeldBuild {
    hold_build(
        db,
        dir,
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_v_idx ON t (v);",
        (global, &["--lock-timeout", "60s"]),
    )
}

#[test]
fn a_concurrent_index_build_killed_half_way_is_recovered_by_the_next_apply() {
    let db = TestDb::new("killed");
    let dir = migrations_dir(&[(
        "V1__t.sql",
        "CREATE TABLE t (id int, v int); INSERT INTO t SELECT g, g % 100 FROM generate_series(1, 10000) g;",
    )]);
    db.run(dir.path(), &["migrate", "apply"], 0);

    // The build waits in "waiting for writers before build", after the INVALID catalog entry
    // exists; then its backend is terminated.
    let HeldBuild {
        mut writer,
        child,
        build_pid,
    } = build_held_by_a_writer(&db, dir.path(), &[]);
    let mut admin = db.client();
    admin
        .query_one("SELECT pg_terminate_backend($1)", &[&build_pid])
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a killed build is a failed deploy: {}",
        stderr(&out)
    );
    writer.batch_execute("ROLLBACK").unwrap();
    let valid: bool =
        db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_v_idx'::regclass");
    assert!(!valid, "the killed build leaves an INVALID index");
    let status = db
        .pgwarden(dir.path())
        .args(["--format", "json", "migrate", "status"])
        .output()
        .unwrap();
    assert_eq!(json(&status)["invalid_indexes"][0]["name"], "t_v_idx");

    let dry = db
        .pgwarden(dir.path())
        .args(["migrate", "apply", "--dry-run"])
        .output()
        .unwrap();
    assert!(
        stdout(&dry).contains("DROP INDEX CONCURRENTLY IF EXISTS public.t_v_idx"),
        "{}",
        stdout(&dry)
    );

    let out = db.run(dir.path(), &["--format", "json", "migrate", "apply"], 0);
    assert_eq!(
        json(&out)["migrations"][0]["outcome"]["recovered_indexes"][0],
        "public.t_v_idx"
    );
    let valid: bool =
        db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_v_idx'::regclass");
    assert!(valid, "the next apply rebuilds it valid");
    let recorded: i64 = db.scalar("SELECT count(*) FROM refinery_schema_history WHERE version = 2");
    assert_eq!(recorded, 1);
}

#[test]
fn a_waiting_index_build_reports_its_phase_as_log_lines_off_a_terminal() {
    let db = TestDb::new("progress");
    let dir = migrations_dir(&[("V1__t.sql", "CREATE TABLE t (id int, v int);")]);
    db.run(dir.path(), &["migrate", "apply"], 0);
    // An open writer holds the build in "waiting for writers before build" for as long as the
    // test wants, so the progress report does not depend on how fast this machine builds.
    let HeldBuild {
        mut writer, child, ..
    } = build_held_by_a_writer(&db, dir.path(), &["-v"]);
    // The monitor opens its session once the step has run 150 ms and reports at once.
    std::thread::sleep(Duration::from_secs(2));
    writer.batch_execute("COMMIT").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("index build progress") && err.contains("waiting for writers before build"),
        "{err}"
    );
}
