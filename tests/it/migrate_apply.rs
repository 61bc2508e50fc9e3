//! `migrate apply`, `status` and the guarantees of the deploy path.

use crate::common::*;

const SEED_INDEXES: &str = "SELECT string_agg(pg_get_indexdef(i.indexrelid) || ' valid=' || i.indisvalid, E'\\n' ORDER BY c.relname) \
     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE 'idx\\_%'";

#[test]
fn fresh_database_reaches_latest_with_the_four_seed_indexes_valid() {
    let db = TestDb::new("seed");
    db.run(&shipped_migrations(), &["migrate", "apply"], 0);
    let indexes: String = db.scalar(SEED_INDEXES);
    assert_eq!(
        indexes,
        "CREATE INDEX idx_payments_status ON public.payments USING btree (status, created_at) valid=true\n\
         CREATE INDEX idx_projects_status ON public.projects USING btree (status) valid=true\n\
         CREATE INDEX idx_tasks_developer_id ON public.tasks USING btree (developer_id) valid=true\n\
         CREATE INDEX idx_users_skills ON public.users USING gin (skills) valid=true"
    );
    let secondary: i64 = db.scalar(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE 'idx\\_%' \
         AND indexname NOT LIKE '%pkey' AND indexname NOT LIKE '%email_key' AND tablename <> 'refinery_schema_history'",
    );
    assert_eq!(secondary, 0, "V1 creates no secondary indexes");
    let versions: String = db.scalar(
        "SELECT string_agg(version::text, ',' ORDER BY version) FROM refinery_schema_history",
    );
    assert_eq!(versions, "1,2,3,4,5");

    // A second deploy applies nothing.
    let again = db.run(
        &shipped_migrations(),
        &["--format", "json", "migrate", "apply"],
        0,
    );
    let report = json(&again);
    assert_eq!(report["migrations"].as_array().unwrap().len(), 0);
    assert_eq!(report["already_applied"], 5);
    let status = db
        .pgwarden(&shipped_migrations())
        .args(["migrate", "status"])
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(0), "{}", stdout(&status));
}

#[test]
fn status_is_read_only_and_reports_pending_with_exit_1() {
    let db = TestDb::new("status");
    let out = db
        .pgwarden(&shipped_migrations())
        .args(["--format", "json", "migrate", "status"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "pending migrations are findings"
    );
    let report = json(&out);
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["history_table_exists"], false);
    assert_eq!(report["migrations"][0]["state"], "pending");
    let exists: bool = db.scalar("SELECT to_regclass('refinery_schema_history') IS NOT NULL");
    assert!(!exists, "status must not create the history table");
}

#[test]
fn dry_run_prints_the_exact_sql_and_changes_nothing() {
    let db = TestDb::new("dryrun");
    let before = db.catalog_snapshot();
    let out = db.run(
        &shipped_migrations(),
        &["--format", "json", "migrate", "apply", "--dry-run"],
        0,
    );
    assert_eq!(db.catalog_snapshot(), before, "dry run changed the catalog");
    let report = json(&out);
    let migrations = report["migrations"].as_array().unwrap();
    assert_eq!(migrations.len(), 5);
    assert_eq!(migrations[0]["mode"], "transaction");
    assert_eq!(migrations[1]["mode"], "no_transaction");
    let cic = migrations[1]["script"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["sql"].as_str().unwrap().contains("CONCURRENTLY"))
        .expect("the concurrent build is in the script");
    assert_eq!(cic["in_transaction"], false);
    assert_eq!(
        cic["sql"],
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_projects_status ON projects (status)"
    );

    let human = db
        .pgwarden(&shipped_migrations())
        .args(["migrate", "apply", "--dry-run"])
        .output()
        .unwrap();
    let text = stdout(&human);
    assert!(text.contains("/* no-tx */ CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_skills ON users USING GIN (skills);"), "{text}");
    assert!(text.contains("/* tx */ BEGIN;"), "{text}");
    // The history rows read as what they do; their guarded INSERT only with -vv or in JSON.
    assert!(
        text.contains(
            "-- then record V2 in refinery_schema_history if index \"idx_projects_status\" is valid"
        ),
        "{text}"
    );
    assert!(!text.contains("INSERT INTO"), "{text}");
    let exact = db
        .pgwarden(&shipped_migrations())
        .args(["-vv", "migrate", "apply", "--dry-run"])
        .output()
        .unwrap();
    let exact = stdout(&exact);
    assert!(
        exact.contains("/* no-tx */ BEGIN; SET LOCAL SESSION AUTHORIZATION DEFAULT; SET LOCAL ROLE NONE; INSERT INTO refinery_schema_history"),
        "{exact}"
    );
    assert!(!exact.contains("-- then record"), "{exact}");
    assert_eq!(db.catalog_snapshot(), before);
}

#[test]
fn target_version_stops_there() {
    let db = TestDb::new("target");
    db.run(
        &shipped_migrations(),
        &["migrate", "apply", "--target", "2"],
        0,
    );
    let max: i32 = db.scalar("SELECT max(version) FROM refinery_schema_history");
    assert_eq!(max, 2);
}

#[test]
fn real_world_sql_that_sqlparser_rejects_still_runs() {
    let db = TestDb::new("realworld");
    let dir = migrations_dir(&[
        (
            "V1__base.sql",
            "CREATE TABLE t (a int, b int, CONSTRAINT t_a_pos CHECK (a > 0));\n\
             CREATE INDEX t_a_old ON t (a);\n\
             DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgw_reader') THEN CREATE ROLE pgw_reader; END IF; END $$;\n\
             ALTER INDEX IF EXISTS t_a_old RENAME TO t_a_idx;\n\
             CREATE STATISTICS t_ab_stats (dependencies) ON a, b FROM t;\n\
             COMMENT ON CONSTRAINT t_a_pos ON t IS 'a; must be positive';\n",
        ),
        ("V2__reindex.sql", "REINDEX INDEX CONCURRENTLY t_a_idx;\n"),
        (
            "V3__drop.sql",
            "DROP INDEX CONCURRENTLY IF EXISTS t_a_idx;\nDROP INDEX CONCURRENTLY IF EXISTS t_never_was;\n",
        ),
    ]);
    db.run(dir.path(), &["migrate", "apply"], 0);
    let stats: i64 =
        db.scalar("SELECT count(*) FROM pg_statistic_ext WHERE stxname = 't_ab_stats'");
    assert_eq!(stats, 1);
    let comment: String = db.scalar(
        "SELECT obj_description(oid, 'pg_constraint') FROM pg_constraint WHERE conname = 't_a_pos'",
    );
    assert_eq!(comment, "a; must be positive");
    let index_left: i64 =
        db.scalar("SELECT count(*) FROM pg_class WHERE relname IN ('t_a_idx', 't_a_old')");
    assert_eq!(index_left, 0);
    let recorded: i64 = db.scalar("SELECT count(*) FROM refinery_schema_history");
    assert_eq!(recorded, 3);
}

#[test]
fn a_failing_migration_rolls_back_with_its_history_row_and_names_the_line() {
    let db = TestDb::new("rollback");
    let dir = migrations_dir(&[
        ("V1__ok.sql", "CREATE TABLE ok (x int);"),
        (
            "V2__broken.sql",
            "CREATE TABLE half (x int);\n\nALTER TABLE nope ADD COLUMN y int;\n",
        ),
        ("V3__later.sql", "CREATE TABLE later (x int);"),
    ]);
    let out = db.run(dir.path(), &["--format", "json", "migrate", "apply"], 2);
    let err = stderr(&out);
    assert!(
        err.contains("V2__broken.sql") && err.contains("line 3") && err.contains("\"nope\""),
        "{err}"
    );
    let report = json(&out);
    assert_eq!(
        report["migrations"].as_array().unwrap().len(),
        1,
        "V1 is reported as applied before the failure"
    );
    assert_eq!(report["failure"]["version"], 2);
    let half: bool = db.scalar("SELECT to_regclass('half') IS NOT NULL");
    assert!(!half, "V2's first statement must roll back with it");
    let later: bool = db.scalar("SELECT to_regclass('later') IS NOT NULL");
    assert!(!later, "nothing runs after a failure");
    let versions: String =
        db.scalar("SELECT string_agg(version::text, ',') FROM refinery_schema_history");
    assert_eq!(versions, "1");
}

#[test]
fn drift_is_refused_before_anything_runs() {
    let db = TestDb::new("drift");
    let dir = migrations_dir(&[
        ("V1__a.sql", "CREATE TABLE a (x int);"),
        ("V2__b.sql", "CREATE TABLE b (x int);"),
    ]);
    db.run(dir.path(), &["migrate", "apply"], 0);
    write(dir.path(), "V3__c.sql", "CREATE TABLE c (x int);");

    // Modified: an applied file edited.
    write(dir.path(), "V1__a.sql", "CREATE TABLE a (x int, y int);");
    let before = db.catalog_snapshot();
    let out = db.run(dir.path(), &["migrate", "apply"], 2);
    let err = stderr(&out);
    assert!(
        err.contains("V1__a.sql") && err.contains("hashes to") && err.contains("migrate repair"),
        "{err}"
    );
    assert_eq!(
        db.catalog_snapshot(),
        before,
        "V3 must not run when V1 drifted"
    );
    write(dir.path(), "V1__a.sql", "CREATE TABLE a (x int);");

    // Missing: an applied file deleted.
    std::fs::remove_file(dir.path().join("V2__b.sql")).unwrap();
    let out = db.run(dir.path(), &["migrate", "apply"], 2);
    assert!(
        stderr(&out).contains("V2__b") && stderr(&out).contains("no file has version 2"),
        "{}",
        stderr(&out)
    );
    assert_eq!(db.catalog_snapshot(), before);
    write(dir.path(), "V2__b.sql", "CREATE TABLE b (x int);");

    // Unparseable: a file refinery would silently skip.
    write(dir.path(), "V4__add-index.sql", "CREATE TABLE d (x int);");
    let out = db.run(dir.path(), &["migrate", "apply"], 2);
    assert!(
        stderr(&out).contains("V4__add-index.sql"),
        "{}",
        stderr(&out)
    );
    assert_eq!(db.catalog_snapshot(), before);

    let status = db.run(dir.path(), &["--format", "json", "migrate", "status"], 1);
    let states: Vec<String> = json(&status)["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["state"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(states, vec!["applied", "applied", "pending", "unparseable"]);
}

#[test]
fn mixed_file_is_refused_before_any_migration_runs() {
    let db = TestDb::new("mixed");
    let dir = migrations_dir(&[
        ("V1__a.sql", "CREATE TABLE a (x int);"),
        (
            "V2__mixed.sql",
            "CREATE TABLE b (x int);\nCREATE INDEX CONCURRENTLY b_x ON b (x);",
        ),
    ]);
    let out = db.run(dir.path(), &["migrate", "apply"], 2);
    let err = stderr(&out);
    assert!(
        err.contains("V2__mixed.sql")
            && err.contains("line 2")
            && err.contains("pgwarden:no-transaction"),
        "{err}"
    );
    let a: bool = db.scalar("SELECT to_regclass('a') IS NOT NULL");
    assert!(!a, "V1 must not run when a later file cannot be planned");

    // With the directive, each statement runs on its own.
    write(
        dir.path(),
        "V2__mixed.sql",
        "-- pgwarden:no-transaction\nCREATE TABLE b (x int);\nCREATE INDEX CONCURRENTLY b_x ON b (x);",
    );
    db.run(dir.path(), &["migrate", "apply"], 0);
    let valid: bool =
        db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 'b_x'::regclass");
    assert!(valid);
}

/// A migration's settings cover its own statements and no later migration's: `search_path`
/// and `work_mem` of a transaction migration, `lock_timeout` of a no-transaction one.
#[test]
fn a_migrations_settings_end_with_it() {
    let db = TestDb::new("setscope");
    let app = format!("pgw_app_{}", db.name);
    db.client()
        .batch_execute(&format!(
            "CREATE ROLE {app}; GRANT CREATE ON SCHEMA public TO {app}"
        ))
        .unwrap();
    let defaults: (String, String) = {
        let row = db
            .client()
            .query_one(
                "SELECT current_setting('work_mem'), current_setting('search_path')",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    let dir = migrations_dir(&[
        (
            "V1__paths.sql",
            "SET search_path = pg_catalog, public;\nSET work_mem = '77MB';\nCREATE TABLE public.a (x int);",
        ),
        (
            "V2__after.sql",
            "CREATE TABLE b AS SELECT current_setting('work_mem') AS w, current_setting('search_path') AS sp;",
        ),
        (
            "V3__own_timeout.sql",
            "-- pgwarden:no-transaction\nSET lock_timeout = '42s';\nCREATE TABLE c AS SELECT current_setting('lock_timeout') AS lt;",
        ),
        (
            "V4__after.sql",
            "CREATE TABLE d AS SELECT current_setting('lock_timeout') AS lt;",
        ),
        // No SET to read in the text: the session is put back after every migration.
        (
            "V5__hidden.sql",
            "DO $$ BEGIN PERFORM set_config('lock_timeout', '0', false); END $$;",
        ),
        (
            "V6__after.sql",
            "CREATE TABLE e AS SELECT current_setting('lock_timeout') AS lt;",
        ),
        // A role with no grant on the history table: the row is written as the login role.
        (
            "V7__as_app.sql",
            &format!("-- pgwarden:no-transaction\nSET ROLE {app};\nCREATE TABLE f (x int);"),
        ),
        (
            "V8__after.sql",
            "CREATE TABLE g AS SELECT current_user::text AS u;",
        ),
    ]);
    db.run(dir.path(), &["migrate", "apply", "--lock-timeout", "3s"], 0);
    let row = db
        .client()
        .query_one(
            "SELECT b.w, b.sp, c.lt, d.lt, e.lt FROM public.b, public.c, public.d, public.e",
            &[],
        )
        .unwrap();
    let seen: (String, String, String, String, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    assert_eq!(
        seen,
        (
            defaults.0,
            defaults.1,
            "42s".to_string(),
            "3s".to_string(),
            "3s".to_string()
        ),
        "V2, V4 and V6 run under the defaults and the run's --lock-timeout; V3 under its own SET"
    );
    assert_eq!(
        db.scalar::<i64>("SELECT count(*) FROM refinery_schema_history"),
        8
    );
    let login: String = db.scalar("SELECT current_user::text");
    let owners: (String, String) = {
        let row = db
            .client()
            .query_one(
                "SELECT (SELECT tableowner::text FROM pg_tables WHERE tablename = 'f'), (SELECT u FROM g)",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(
        owners,
        (app, login),
        "V7 runs as its role, V8 as the login role"
    );
}

/// A no-transaction build under the migration's own `search_path` is recorded against the
/// index it built, not one of the same name elsewhere: here an INVALID `public.a_i` left by a
/// failed build, while the migration builds `other.a_i`.
#[test]
fn a_no_transaction_migrations_search_path_also_names_its_history_guard() {
    let db = TestDb::new("nt_path");
    let mut c = db.client();
    c.batch_execute(
        "CREATE SCHEMA other; CREATE TABLE other.a (id int); INSERT INTO other.a VALUES (1), (2); \
         CREATE TABLE public.a (id int); INSERT INTO public.a VALUES (1), (1);",
    )
    .unwrap();
    assert!(
        c.batch_execute("CREATE UNIQUE INDEX CONCURRENTLY a_i ON public.a (id)")
            .is_err()
    );
    let dir = migrations_dir(&[(
        "V1__other_index.sql",
        "-- pgwarden:no-transaction\nSET search_path = other, public;\nCREATE UNIQUE INDEX CONCURRENTLY a_i ON a (id);",
    )]);
    db.run(dir.path(), &["migrate", "apply"], 0);
    let valid: bool =
        db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 'other.a_i'::regclass");
    assert!(valid);
    assert_eq!(
        db.scalar::<i64>("SELECT count(*) FROM refinery_schema_history"),
        1
    );
}

/// A transaction migration's `search_path` does not move its history row: the row goes to
/// the history table the run found, even where the migration's path has one of that name.
#[test]
fn a_migrations_search_path_does_not_move_its_history_row() {
    let db = TestDb::new("hist_reach");
    db.client()
        .batch_execute(
            "CREATE SCHEMA other; CREATE TABLE other.refinery_schema_history (version int4 PRIMARY KEY, \
             name varchar(255), applied_on varchar(255), checksum varchar(255))",
        )
        .unwrap();
    let dir = migrations_dir(&[
        (
            "V1__elsewhere.sql",
            "SET search_path = other;\nCREATE TABLE a (x int);",
        ),
        (
            "V2__elsewhere_too.sql",
            "-- pgwarden:no-transaction\nSET search_path = other;\nCREATE TABLE b (x int);",
        ),
    ]);
    db.run(dir.path(), &["migrate", "apply"], 0);
    let counts: (i64, i64) = {
        let row = db
            .client()
            .query_one(
                "SELECT (SELECT count(*) FROM public.refinery_schema_history), \
                        (SELECT count(*) FROM other.refinery_schema_history)",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(counts, (2, 0));
    assert!(db.scalar::<bool>(
        "SELECT to_regclass('other.a') IS NOT NULL AND to_regclass('other.b') IS NOT NULL"
    ));
}

/// `DISCARD ALL` (or `pg_advisory_unlock_all()`) would drop the migration lock mid-run: the
/// file is refused before anything runs.
#[test]
fn a_migration_that_would_release_the_migration_lock_is_refused() {
    let db = TestDb::new("discard");
    let dir = migrations_dir(&[
        ("V1__t.sql", "CREATE TABLE t (x int);"),
        (
            "V2__discard.sql",
            "-- pgwarden:no-transaction\nCREATE TABLE u (x int);\nDISCARD ALL;",
        ),
    ]);
    let out = db.run(dir.path(), &["migrate", "apply"], 2);
    assert!(
        stderr(&out).contains("V2__discard.sql line 3")
            && stderr(&out).contains("release pgwarden's migration lock"),
        "{}",
        stderr(&out)
    );
    assert!(!db.scalar::<bool>("SELECT to_regclass('t') IS NOT NULL"));
}

/// A transaction migration's own `lock_timeout` also covers the work of its COMMIT (a deferred
/// foreign key waiting for a row lock): the run's settings come back only after the commit.
#[test]
fn a_migrations_lock_timeout_covers_its_deferred_constraints() {
    let db = TestDb::new("deferred");
    db.client()
        .batch_execute(
            "CREATE TABLE parent (id int PRIMARY KEY); INSERT INTO parent VALUES (1); \
             CREATE TABLE child (parent_id int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);",
        )
        .unwrap();
    let dir = migrations_dir(&[(
        "V1__child.sql",
        "SET lock_timeout = '60s';\nINSERT INTO child VALUES (1);",
    )]);
    // Another session holds the parent row for a while: the deferred check waits for it.
    let mut holder = db.client();
    holder
        .batch_execute("BEGIN; SELECT * FROM parent WHERE id = 1 FOR UPDATE")
        .unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(3));
        holder.batch_execute("COMMIT").unwrap();
    });
    // Exit 0: with the run's 1 s the commit would fail its lock wait (no retries).
    db.run(
        dir.path(),
        &["migrate", "apply", "--lock-timeout", "1s", "--retries", "0"],
        0,
    );
    release.join().unwrap();
    assert_eq!(db.scalar::<i64>("SELECT count(*) FROM child"), 1);
}

#[test]
fn a_migration_that_sets_timeouts_does_not_change_them_for_later_migrations() {
    // Regression: session settings are sent once per run, so a migration's own SET must not
    // leak into the steps after it. V1's own statements must fit its timeout even on a loaded
    // machine (the first version used 1 ms and a busy CI server took longer for CREATE TABLE),
    // while V2 sleeps far past it, so a leaked setting cancels V2 whatever the load.
    let db = TestDb::new("setleak");
    let dir = migrations_dir(&[
        (
            "V1__short.sql",
            "SET statement_timeout = '500ms';\nCREATE TABLE a (x int);",
        ),
        (
            "V2__slow.sql",
            "-- pgwarden:no-transaction\nSELECT pg_sleep(2);",
        ),
    ]);
    db.run(dir.path(), &["migrate", "apply"], 0);
}
