//! Connection poolers: through a real PgBouncer in transaction mode, a session advisory lock
//! does not protect a migration, so `migrate apply` refuses (exit 2, naming --direct-url), and
//! with `--direct-url` two concurrent deployers apply every migration exactly once.

use crate::common::*;

const MIGRATIONS: [(&str, &str); 3] = [
    (
        "V1__t.sql",
        "CREATE TABLE pooled (id int PRIMARY KEY, a int);\nINSERT INTO pooled SELECT i, i FROM generate_series(1, 20000) i;\n",
    ),
    (
        "V2__a.sql",
        "-- pgwarden:no-transaction\nCREATE INDEX CONCURRENTLY pooled_a ON pooled (a);\n",
    ),
    ("V3__b.sql", "ALTER TABLE pooled ADD COLUMN b int;\n"),
];

#[test]
fn through_pgbouncer_the_lock_needs_a_direct_url() {
    let db = TestDb::new("pooler");
    let dir = migrations_dir(&MIGRATIONS);
    let pooled = pgbouncer().url(&db);
    // Reads are fine through the pooler.
    let out = pgwarden()
        .args(["--database-url", &pooled, "--migrations"])
        .arg(dir.path())
        .args(["migrate", "status"])
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    // Taking the lock through it is refused before anything is written.
    let out = pgwarden()
        .args(["--database-url", &pooled, "--migrations"])
        .arg(dir.path())
        .args(["migrate", "apply"])
        .env_remove("PGWARDEN_DIRECT_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(e.contains("pooler") && e.contains("--direct-url"), "{e}");
    assert!(
        db.scalar::<Option<String>>("SELECT to_regclass('refinery_schema_history')::text")
            .is_none()
    );

    // Two deployers at once, both told the pooled URL and the direct one: exactly once.
    let spawn = || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("pgwarden"))
            .args(["--database-url", &pooled, "--migrations"])
            .arg(dir.path())
            .args(["migrate", "apply"])
            .env("PGWARDEN_DIRECT_URL", &db.url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    assert_eq!(
        db.scalar::<i64>("SELECT count(*) FROM refinery_schema_history"),
        3
    );
    assert_eq!(
        db.scalar::<i64>("SELECT count(*) FROM pg_class WHERE relname = 'pooled_a'"),
        1
    );
    assert_eq!(
        db.scalar::<i64>("SELECT count(*) FROM pg_index WHERE NOT indisvalid"),
        0
    );
}

#[test]
fn a_pooler_that_reaches_the_server_over_a_unix_socket_is_seen_too() {
    let db = TestDb::new("poolsock");
    let dir = migrations_dir(&MIGRATIONS);
    let out = pgwarden()
        .args([
            "--database-url",
            &pgbouncer_via_socket().url(&db),
            "--migrations",
        ])
        .arg(dir.path())
        .args(["migrate", "apply"])
        .env_remove("PGWARDEN_DIRECT_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("a Unix socket"), "{}", stderr(&out));
    assert!(
        db.scalar::<Option<String>>("SELECT to_regclass('refinery_schema_history')::text")
            .is_none()
    );
}

/// A direct URL that names another database than the pooled one is refused before anything
/// runs: the migrations would otherwise land in the wrong database.
#[test]
fn a_direct_url_to_another_database_is_refused() {
    let db = TestDb::new("pooled_here");
    let elsewhere = TestDb::new("direct_elsewhere");
    let dir = migrations_dir(&MIGRATIONS);
    let out = pgwarden()
        .args(["--database-url", &pgbouncer().url(&db), "--migrations"])
        .arg(dir.path())
        .args(["migrate", "apply", "--direct-url", &elsewhere.url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains(&format!("--direct-url reaches database {}", elsewhere.name))
            && e.contains(&format!("--database-url reaches database {}", db.name)),
        "{e}"
    );
    for d in [&db, &elsewhere] {
        assert!(
            d.scalar::<Option<String>>("SELECT to_regclass('refinery_schema_history')::text")
                .is_none(),
            "nothing may run in {}",
            d.name
        );
    }
}
