//! Every killed deploy is recoverable by rerunning it. A `CREATE INDEX CONCURRENTLY` migration
//! is held in "waiting for writers before build" by an open writer (so the build is surely in
//! progress), then either pgwarden gets SIGKILL (a CI timeout, a pod eviction) or the build's
//! backend is terminated; the writer ends and the same `migrate apply` is run again: exit 0, the
//! index valid, exactly one history row. A fresh database per trial.

use crate::common::*;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

const TABLE: &str = "CREATE TABLE t (id int, v int);\n\
INSERT INTO t SELECT g, g % 100 FROM generate_series(1, 20000) g;\n";
/// Without IF NOT EXISTS: after an orphaned build that finished, a rerun that simply runs the
/// statement again fails with `relation "t_v_idx" already exists`.
const BUILD: &str = "CREATE INDEX CONCURRENTLY t_v_idx ON t (v);\n";

#[derive(Debug, Clone, Copy)]
enum Kill {
    /// SIGKILL of the pgwarden process: the server-side build may go on for the dead client.
    Client,
    /// `pg_terminate_backend` of the backend running the build: an INVALID index is left.
    Backend,
}

/// BUILD held behind an open writer, in a run whose lock timeout is longer than any wait
/// below: the build is never ended by its own lock timeout.
fn hold(db: &TestDb, dir: &Path) -> HeldBuild {
    hold_build(db, dir, BUILD, (&[], &["--lock-timeout", "10m"]))
}

/// `pgwarden migrate apply ARGS` on `db` in the background, its stderr piped.
fn spawn_apply(db: &TestDb, dir: &Path, args: &[&str]) -> Child {
    spawn_pgwarden(db, dir, &[], args)
}

/// A fresh database holding table t (V1), and its migrations directory.
fn with_table(label: &str) -> (TestDb, tempfile::TempDir) {
    let db = TestDb::new(label);
    let dir = migrations_dir(&[("V1__t.sql", TABLE)]);
    db.run(dir.path(), &["migrate", "apply"], 0);
    (db, dir)
}

/// Whether backend `pid` still exists.
fn backend_alive(db: &TestDb, pid: i32) -> bool {
    db.client()
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)",
            &[&pid],
        )
        .unwrap()
        .get(0)
}

/// The rerun finishes the migration whatever the interrupted build left behind.
fn assert_recovered(db: &TestDb, dir: &Path, ctx: &str) {
    let out = db
        .pgwarden(dir)
        .args(["--format", "json", "migrate", "apply"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{ctx}: the rerun must finish the deploy: {}",
        stderr(&out)
    );
    let valid: Option<bool> = db
        .client()
        .query_opt(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('public.t_v_idx')",
            &[],
        )
        .unwrap()
        .map(|r| r.get(0));
    assert_eq!(valid, Some(true), "{ctx}: the index exists and is valid");
    let indexes: String = db.scalar(
        "SELECT coalesce(string_agg(indexrelid::regclass::text || ' valid=' || indisvalid, ', '), '') \
         FROM pg_index WHERE indrelid = 't'::regclass",
    );
    assert_eq!(
        indexes, "t_v_idx valid=true",
        "{ctx}: no leftover or duplicate index"
    );
    let rows: i64 = db.scalar("SELECT count(*) FROM refinery_schema_history WHERE version = 2");
    assert_eq!(rows, 1, "{ctx}: exactly one history row");
    // The deploy after that has nothing left to do, and status is clean.
    let again = db.run(dir, &["--format", "json", "migrate", "apply"], 0);
    assert_eq!(
        json(&again)["migrations"].as_array().map(Vec::len),
        Some(0),
        "{ctx}"
    );
    db.run(dir, &["migrate", "status"], 0);
}

fn trial(n: usize, kill: Kill) {
    let ctx = format!("trial {n} ({kill:?})");
    let (db, dir) = with_table(&format!("kill_{n}"));
    let HeldBuild {
        mut writer,
        mut child,
        build_pid,
    } = hold(&db, dir.path());
    match kill {
        Kill::Client => {
            child.kill().unwrap();
            let status = child.wait().unwrap();
            assert!(!status.success(), "{ctx}");
        }
        Kill::Backend => {
            let killed: bool = db
                .client()
                .query_one("SELECT pg_terminate_backend($1)", &[&build_pid])
                .unwrap()
                .get(0);
            assert!(killed, "{ctx}: pg_terminate_backend({build_pid})");
            let out = child.wait_with_output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(2),
                "{ctx}: a killed build is a failed deploy: {}",
                stderr(&out)
            );
        }
    }
    // The writer ends; an orphaned build (after SIGKILL) may still be running, or have finished.
    writer.batch_execute("ROLLBACK").unwrap();
    drop(writer);
    assert_recovered(&db, dir.path(), &ctx);
}

#[test]
fn six_killed_deploys_alternating_sigkill_and_terminate_are_each_recovered_by_a_rerun() {
    for n in 0..6 {
        trial(
            n,
            if n % 2 == 0 {
                Kill::Client
            } else {
                Kill::Backend
            },
        );
    }
}

#[test]
fn a_build_does_not_outlive_its_killed_client() {
    // The runner's sessions set client_connection_check_interval: the server notices the dead
    // client and aborts the build, even while it waits for a writer that never finishes.
    let (db, dir) = with_table("kill_orphan");
    let HeldBuild {
        mut writer,
        mut child,
        build_pid,
    } = hold(&db, dir.path());
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while backend_alive(&db, build_pid) {
        assert!(
            Instant::now() < deadline,
            "the build's backend {build_pid} still runs a minute after its client died"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    writer.batch_execute("ROLLBACK").unwrap();
    drop(writer);
    assert_recovered(&db, dir.path(), "after the orphaned build died");
}

/// What a run killed after its build finished leaves behind (the server did not notice the
/// dead client in time): a VALID index with the statement's definition and no history row.
#[test]
fn a_valid_index_left_by_an_interrupted_run_is_adopted_and_another_definition_refused() {
    let (db, dir) = with_table("kill_adopt");
    let mut c = db.client();
    c.batch_execute("CREATE INDEX CONCURRENTLY t_v_idx ON t (v)")
        .unwrap();
    write(dir.path(), "V2__idx.sql", BUILD);
    let out = db.run(dir.path(), &["migrate", "apply"], 0);
    assert!(stderr(&out).contains("adopting"), "{}", stderr(&out));
    assert_recovered(&db, dir.path(), "adopted");

    // The same name with another definition is never adopted: both definitions are shown.
    let (db, dir) = with_table("kill_differs");
    db.client()
        .batch_execute("CREATE INDEX CONCURRENTLY t_v_idx ON t (id)")
        .unwrap();
    write(dir.path(), "V2__idx.sql", BUILD);
    let out = db.run(dir.path(), &["migrate", "apply"], 2);
    let err = stderr(&out);
    assert!(
        err.contains("already exists with another definition")
            && err.contains("USING btree (id)")
            && err.contains("USING btree (v)"),
        "{err}"
    );
    let rows: i64 = db.scalar("SELECT count(*) FROM refinery_schema_history WHERE version = 2");
    assert_eq!(rows, 0, "nothing recorded");

    // The same definition on another table is another index; and IF NOT EXISTS does not make
    // a table of that name acceptable either.
    for (label, squatter, build) in [
        (
            // An INVALID index of that name on another table: not this statement's to drop.
            "kill_invalid_elsewhere",
            "CREATE TABLE u (id int, v int); INSERT INTO u VALUES (1, 1), (1, 1);",
            BUILD.replace("CONCURRENTLY", "CONCURRENTLY IF NOT EXISTS"),
        ),
        (
            "kill_other_table",
            "CREATE TABLE u (id int, v int); CREATE INDEX t_v_idx ON u (v);",
            BUILD.to_string(),
        ),
        (
            "kill_table_named_so",
            "CREATE TABLE t_v_idx (important text);",
            BUILD.replace("CONCURRENTLY", "CONCURRENTLY IF NOT EXISTS"),
        ),
    ] {
        let (db, dir) = with_table(label);
        db.client().batch_execute(squatter).unwrap();
        if label == "kill_invalid_elsewhere" {
            // A failed unique build leaves its INVALID index behind.
            let failed = db
                .client()
                .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY t_v_idx ON u (v)");
            assert!(failed.is_err());
        }
        write(dir.path(), "V2__idx.sql", &build);
        let out = db.run(dir.path(), &["migrate", "apply"], 2);
        assert!(
            stderr(&out).contains("already exists with another definition"),
            "{label}: {}",
            stderr(&out)
        );
        let on_t: i64 = db.scalar("SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass");
        assert_eq!(on_t, 0, "{label}: nothing adopted");
        let kept: bool = db.scalar("SELECT to_regclass('t_v_idx') IS NOT NULL");
        assert!(kept, "{label}: the other relation is left alone");
    }
}

/// A build an interrupted run left running (another session's, here) is waited for, then
/// adopted once it is valid.
#[test]
fn a_build_still_running_is_waited_for_then_adopted() {
    let (db, dir) = with_table("kill_wait");
    let mut writer = db.client();
    writer
        .batch_execute("BEGIN; INSERT INTO t VALUES (0, 0);")
        .unwrap();
    let url = db.url.clone();
    let orphan = std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute("CREATE INDEX CONCURRENTLY t_v_idx ON t (v)")
    });
    let mut admin = db.client();
    let deadline = Instant::now() + Duration::from_secs(60);
    while admin
        .query_opt(
            "SELECT 1 FROM pg_stat_progress_create_index \
             WHERE relid = 't'::regclass AND phase LIKE 'waiting for writers%'",
            &[],
        )
        .unwrap()
        .is_none()
    {
        assert!(Instant::now() < deadline, "the other build never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    write(dir.path(), "V2__idx.sql", BUILD);
    // The build holds its table's lock: the rerun's own statement times out on it at once,
    // and the retry finds the running build and waits for it.
    let mut rerun = spawn_apply(
        &db,
        dir.path(),
        &["--lock-timeout", "200ms", "--retry-delay", "50ms"],
    );
    // It waits for the running build (it cannot finish while the writer is open).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let waiting: bool = admin
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'pgwarden' \
                 AND query LIKE '%p.index_relid = c.oid%' AND pid <> pg_backend_pid())",
                &[],
            )
            .unwrap()
            .get(0);
        if waiting {
            break;
        }
        assert!(
            rerun.try_wait().unwrap().is_none(),
            "the rerun ended before the build did"
        );
        assert!(
            Instant::now() < deadline,
            "the rerun never looked at the running build"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        rerun.try_wait().unwrap().is_none(),
        "the rerun must wait for the build"
    );
    writer.batch_execute("ROLLBACK").unwrap();
    orphan.join().unwrap().expect("the other build finishes");
    let out = rerun.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("still running"), "{}", stderr(&out));
    assert_recovered(&db, dir.path(), "waited for");
}

/// An interrupted `REINDEX INDEX CONCURRENTLY` leaves `<name>_ccnew` INVALID: the rerun drops it
/// and reindexes, leaving no INVALID copy behind.
#[test]
fn an_interrupted_reindex_leaves_no_invalid_copy_after_the_rerun() {
    let db = TestDb::new("kill_reindex");
    let dir = migrations_dir(&[("V1__t.sql", TABLE), ("V2__idx.sql", BUILD)]);
    db.run(dir.path(), &["migrate", "apply"], 0);
    write(
        dir.path(),
        "V3__reindex.sql",
        "REINDEX INDEX CONCURRENTLY t_v_idx;\n",
    );
    let mut writer = db.client();
    writer
        .batch_execute("BEGIN; INSERT INTO t VALUES (0, 0);")
        .unwrap();
    let child = spawn_apply(&db, dir.path(), &["--lock-timeout", "10m"]);
    let mut admin = db.client();
    let deadline = Instant::now() + Duration::from_secs(60);
    let pid: i32 = loop {
        if let Some(r) = admin
            .query_opt(
                "SELECT pid FROM pg_stat_progress_create_index WHERE relid = 't'::regclass \
                 AND phase LIKE 'waiting%' AND EXISTS (SELECT 1 FROM pg_class WHERE relname = 't_v_idx_ccnew')",
                &[],
            )
            .unwrap()
        {
            break r.get(0);
        }
        assert!(Instant::now() < deadline, "the reindex never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    admin
        .batch_execute(&format!("SELECT pg_terminate_backend({pid})"))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    writer.batch_execute("ROLLBACK").unwrap();
    let leftovers: i64 = db
        .scalar("SELECT count(*) FROM pg_index WHERE NOT indisvalid AND indrelid = 't'::regclass");
    assert!(
        leftovers >= 1,
        "the interrupted reindex left an INVALID copy"
    );
    db.run(dir.path(), &["migrate", "apply"], 0);
    let indexes: String = db.scalar(
        "SELECT string_agg(indexrelid::regclass::text || ' valid=' || indisvalid, ', ') \
         FROM pg_index WHERE indrelid = 't'::regclass",
    );
    assert_eq!(indexes, "t_v_idx valid=true");
    db.run(dir.path(), &["migrate", "status"], 0);
}
