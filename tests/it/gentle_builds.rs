//! Gentle index builds: the session's build settings (`--build-workers`, `--maintenance-work-mem`)
//! are shown in the dry run and used by the build, and a concurrent build waits while a real
//! streaming replica (`pg_basebackup -R`, replay paused with `pg_wal_replay_pause()`) lags.

use crate::common::*;
use pgwarden::ephemeral::EphemeralServer;
use std::io::Read;
use std::time::{Duration, Instant};

const TABLE: &str = "CREATE TABLE g (id int PRIMARY KEY, a int);\n\
    INSERT INTO g SELECT i, i % 97 FROM generate_series(1, 20000) i;\n";
const BUILD: &str = "-- pgwarden:no-transaction\nCREATE INDEX CONCURRENTLY g_a ON g (a);\n";

#[test]
fn the_dry_run_shows_the_build_settings_and_bad_sizes_are_refused() {
    let db = TestDb::new("gentle");
    let dir = migrations_dir(&[("V1__g.sql", TABLE), ("V2__g_a.sql", BUILD)]);
    let out = db.run(
        dir.path(),
        &[
            "migrate",
            "apply",
            "--dry-run",
            "--build-workers",
            "2",
            "--maintenance-work-mem",
            "64MB",
        ],
        0,
    );
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains(
            "2 parallel worker(s), maintenance_work_mem 64MB and wal_compression of the server"
        ),
        "{text}"
    );
    let out = db.run(
        dir.path(),
        &[
            "migrate",
            "apply",
            "--dry-run",
            "--maintenance-work-mem",
            "64MB'; DROP TABLE g; --",
        ],
        2,
    );
    assert!(
        stderr(&out).contains("is not a memory size"),
        "{}",
        stderr(&out)
    );
    // The default: one process per build.
    let out = db.run(dir.path(), &["migrate", "apply", "--dry-run"], 0);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("0 parallel worker(s)"), "{text}");
}

/// Writes on `primary` until `stop`, so a paused replica falls behind in time and bytes.
fn keep_writing(
    url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let target = pgwarden::db::ConnectionTarget::from_url(&url).unwrap();
        let mut c = target.connect().unwrap();
        c.batch_execute("CREATE TABLE IF NOT EXISTS noise (x int)")
            .unwrap();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            c.batch_execute("INSERT INTO noise VALUES (1)").unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

fn index_exists(db: &TestDb) -> bool {
    db.scalar::<bool>("SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = 'g_a')")
}

#[test]
fn a_concurrent_build_waits_while_a_replica_lags() {
    // A pair of its own: pausing replay would stall every other test's replica.
    let primary = EphemeralServer::start().unwrap();
    let replica = primary.start_replica().unwrap();
    primary.create_database("lag").unwrap();
    let db = TestDb {
        name: "lag".into(),
        url: primary.url("lag"),
        target: primary.target("lag").unwrap(),
    };
    let dir = migrations_dir(&[("V1__g.sql", TABLE), ("V2__g_a.sql", BUILD)]);
    db.run(dir.path(), &["migrate", "apply", "--target", "1"], 0);
    let mut standby = replica.target("postgres").unwrap().connect().unwrap();
    standby
        .batch_execute("SELECT pg_wal_replay_pause()")
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = keep_writing(primary.url("lag"), stop.clone());
    // Until the primary sees the replica more than a second behind.
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.scalar::<Option<f64>>(
        "SELECT max(extract(epoch FROM replay_lag))::float8 FROM pg_stat_replication WHERE pg_wal_lsn_diff(sent_lsn, replay_lsn) > 0",
    )
    .is_none_or(|s| s < 1.5)
    {
        assert!(Instant::now() < deadline, "the replica never lagged");
        std::thread::sleep(Duration::from_millis(200));
    }

    // A wait that runs out: nothing built, a clear error, exit 2.
    let out = db.run(
        dir.path(),
        &[
            "migrate",
            "apply",
            "--max-replica-lag",
            "1s",
            "--lock-wait",
            "2s",
        ],
        2,
    );
    assert!(
        stderr(&out).contains("stayed over --max-replica-lag 1s"),
        "{}",
        stderr(&out)
    );
    assert!(!index_exists(&db));

    // A wait that ends when replay resumes: the build starts then, and the log said why it waited.
    let mut child = spawn_pgwarden(&db, dir.path(), &[], &["--max-replica-lag", "1s"]);
    let paused_for = Instant::now();
    while paused_for.elapsed() < Duration::from_secs(3) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "it must wait while the replica lags"
        );
        assert!(!index_exists(&db), "built while the replica lagged");
        std::thread::sleep(Duration::from_millis(200));
    }
    standby
        .batch_execute("SELECT pg_wal_replay_resume()")
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "still waiting after replay resumed"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(status.success(), "{log}");
    assert!(index_exists(&db));
    assert!(
        log.contains("replica replay lag over --max-replica-lag"),
        "{log}"
    );

    // A role without pg_read_all_stats sees a replica but not its lag (the server hides the
    // walsender's state too): it is told so, not left to believe no replica lags.
    db.client()
        .batch_execute(
            "CREATE ROLE pgw_no_stats LOGIN PASSWORD 'pw'; \
             CREATE SCHEMA pgw_no_stats AUTHORIZATION pgw_no_stats;",
        )
        .unwrap();
    let url = format!(
        "postgres://pgw_no_stats:pw@127.0.0.1:{}/lag?sslmode=disable",
        primary.port()
    );
    let own = migrations_dir(&[("V1__g.sql", TABLE), ("V2__g_a.sql", BUILD)]);
    let out = pgwarden()
        .args(["--database-url", &url, "--migrations"])
        .arg(own.path())
        .args(["migrate", "apply"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot see the replay lag of these replicas"),
        "{}",
        stderr(&out)
    );
}

/// `--build-wal-compression` reaches the session that runs the migrations (seen from inside a
/// migration); a role that may not set it gets exit 2 naming the GRANT, with nothing applied;
/// once granted, the same command applies.
#[test]
fn wal_compression_reaches_the_session_or_is_refused_naming_the_grant() {
    let db = TestDb::new("walcomp");
    let seen = "-- pgwarden:no-transaction\n\
        CREATE TABLE seen AS SELECT current_setting('wal_compression') AS method;\n";
    let dir = migrations_dir(&[
        ("V1__g.sql", TABLE),
        ("V2__g_a.sql", BUILD),
        ("V3__seen.sql", seen),
    ]);
    let out = db.run(
        dir.path(),
        &[
            "migrate",
            "apply",
            "--dry-run",
            "--build-wal-compression",
            "zstd",
        ],
        0,
    );
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("wal_compression zstd"), "{text}");
    db.run(
        dir.path(),
        &["migrate", "apply", "--build-wal-compression", "zstd"],
        0,
    );
    assert_eq!(db.scalar::<String>("SELECT method FROM seen"), "zstd");

    // A role that owns its schema but may not set the parameter.
    let other = TestDb::new("walcomp_role");
    let role = format!("pgw_wal_{}", other.name);
    other
        .client()
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'pw'; CREATE SCHEMA {role} AUTHORIZATION {role};"
        ))
        .unwrap();
    let url = format!(
        "postgres://{role}:pw@127.0.0.1:{}/{}?sslmode=disable",
        server().port(),
        other.name
    );
    // pgwarden as the role, with `--build-wal-compression lz4`.
    let as_role = |command: &[&str], code: i32| {
        let out = pgwarden()
            .args(["--database-url", &url, "--migrations"])
            .arg(dir.path())
            .args(command)
            .args(["--build-wal-compression", "lz4"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
        out
    };
    let refused = stderr(&as_role(&["migrate", "apply"], 2));
    assert!(
        refused.contains("GRANT SET ON PARAMETER wal_compression")
            && refused.contains("--build-wal-compression lz4"),
        "{refused}"
    );
    assert!(!refused.contains("panicked"), "{refused}");
    assert!(
        !other.scalar::<bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname IN ('g', 'refinery_schema_history'))"
        ),
        "nothing may be written, not even the history table, when the setting is refused"
    );
    other
        .client()
        .batch_execute(&format!("GRANT SET ON PARAMETER wal_compression TO {role}"))
        .unwrap();
    as_role(&["migrate", "apply"], 0);
    assert_eq!(
        other.scalar::<String>(&format!("SELECT method FROM {role}.seen")),
        "lz4"
    );

    // `apply` (fixing drift) refuses it too, before it writes its migration file.
    other
        .client()
        .batch_execute(&format!(
            "REVOKE SET ON PARAMETER wal_compression FROM {role}; DROP INDEX {role}.g_a"
        ))
        .unwrap();
    let files = || std::fs::read_dir(dir.path()).unwrap().count();
    let before = files();
    let out = as_role(&["apply", "--yes"], 2);
    assert!(
        stderr(&out).contains("GRANT SET ON PARAMETER wal_compression"),
        "{}",
        stderr(&out)
    );
    assert_eq!(files(), before, "no migration file may be written");

    // A migration that changes the setting and then switches to a role which may not set it
    // (nor write the history table: the row is written as the login role): the migration is
    // applied and recorded; the session goes back to the login role and the run's settings
    // before the next one, which builds with zstd again.
    let plain = format!("pgw_plain_{}", db.name);
    db.client()
        .batch_execute(&format!("CREATE ROLE {plain}"))
        .unwrap();
    write(
        dir.path(),
        "V4__as_owner.sql",
        &format!("SET wal_compression = off;\nSET ROLE {plain};\nSELECT current_user;\n"),
    );
    write(
        dir.path(),
        "V5__after.sql",
        "CREATE TABLE after_v4 AS SELECT current_setting('wal_compression') AS w, current_user::text AS u;\n",
    );
    db.run(
        dir.path(),
        &["migrate", "apply", "--build-wal-compression", "zstd"],
        0,
    );
    assert_eq!(
        db.scalar::<i64>("SELECT count(*) FROM refinery_schema_history WHERE version IN (4, 5)"),
        2
    );
    let login: String = db.scalar("SELECT current_user::text");
    let seen: (String, String) = {
        let row = db
            .client()
            .query_one("SELECT w, u FROM after_v4", &[])
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(seen, ("zstd".to_string(), login));
}
