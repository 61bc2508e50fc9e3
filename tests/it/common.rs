//! Test harness: one throwaway PostgreSQL server per test run, a fresh database per test, so
//! tests run in parallel against real PostgreSQL.

use assert_cmd::Command;
use pgwarden::db::ConnectionTarget;
use pgwarden::ephemeral::EphemeralServer;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

static SERVER: OnceLock<EphemeralServer> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

pub fn server() -> &'static EphemeralServer {
    SERVER.get_or_init(|| EphemeralServer::start().expect("start the throwaway PostgreSQL server"))
}

/// A fresh, empty database on the shared server.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub target: ConnectionTarget,
}

impl TestDb {
    pub fn new(label: &str) -> Self {
        let n = NEXT_DB.fetch_add(1, Ordering::SeqCst);
        let name = format!("t_{label}_{n}");
        let target = server()
            .create_database(&name)
            .expect("create test database");
        Self {
            url: server().url(&name),
            name,
            target,
        }
    }

    /// A fresh database copied from `template` (a file copy: no session may be on it).
    pub fn copy_of(label: &str, template: &TestDb) -> Self {
        let n = NEXT_DB.fetch_add(1, Ordering::SeqCst);
        let name = format!("t_{label}_{n}");
        let mut admin = server().target("postgres").unwrap().connect().unwrap();
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY",
                pgwarden::escape::ident(&name),
                pgwarden::escape::ident(&template.name)
            ))
            .expect("copy the template database");
        Self {
            url: server().url(&name),
            target: server().target(&name).expect("target"),
            name,
        }
    }

    pub fn client(&self) -> postgres::Client {
        self.target.connect().expect("connect to test database")
    }

    /// One value from a query.
    pub fn scalar<T: for<'a> postgres::types::FromSql<'a>>(&self, sql: &str) -> T {
        self.client().query_one(sql, &[]).expect(sql).get(0)
    }

    /// `pgwarden` with --database-url pointing here and --migrations `dir`.
    pub fn pgwarden(&self, dir: &Path) -> Command {
        let mut cmd = pgwarden();
        cmd.arg("--database-url")
            .arg(&self.url)
            .arg("--migrations")
            .arg(dir);
        cmd
    }

    /// Runs `pgwarden ARGS` here with --migrations `dir`, asserts the exit code (showing
    /// stderr when it differs) and returns the output.
    pub fn run(&self, dir: &Path, args: &[&str], code: i32) -> std::process::Output {
        let out = self
            .pgwarden(dir)
            .args(args)
            .output()
            .expect("run pgwarden");
        assert_eq!(
            out.status.code(),
            Some(code),
            "pgwarden {args:?}: {}",
            stderr(&out)
        );
        out
    }

    /// The catalog in a comparable form: relations, columns, indexes with definitions.
    pub fn catalog_snapshot(&self) -> Vec<String> {
        let rows = self
            .client()
            .query(
                "SELECT c.relkind::text || ' ' || n.nspname || '.' || c.relname || ' ' || \
                   coalesce(pg_get_indexdef(i.indexrelid), '') || ' ' || coalesce(i.indisvalid::text, '') || ' ' || \
                   coalesce((SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ',' ORDER BY attnum) \
                             FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped), '') \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 LEFT JOIN pg_index i ON i.indexrelid = c.oid \
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1",
                &[],
            )
            .expect("catalog snapshot");
        rows.iter().map(|r| r.get(0)).collect()
    }
}

/// The built binary, with logs kept quiet unless a test asks, and plan's cache in a directory
/// of this test run (never the user's home).
pub fn pgwarden() -> Command {
    static CACHE: OnceLock<tempfile::TempDir> = OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("cache dir for the test run")
    });
    let mut cmd = Command::cargo_bin("pgwarden").expect("binary built");
    cmd.env_remove("DATABASE_URL")
        .env_remove("COLUMNS")
        .env_remove("RUST_LOG")
        .env_remove("PGWARDEN_NO_CACHE")
        .env("PGWARDEN_CACHE_DIR", cache.path())
        .env("NO_COLOR", "1");
    cmd
}

/// A migrations directory holding `files`.
pub fn migrations_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, sql) in files {
        write(dir.path(), name, sql);
    }
    dir
}

pub fn write(dir: &Path, name: &str, sql: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, sql).expect("write migration");
}

/// The product's own migrations directory.
pub fn shipped_migrations() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations")
}

/// Parses a command's JSON stdout.
pub fn json(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A policy file (`.toml`) holding `text`.
pub fn policy_file(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::fs::write(f.path(), text).unwrap();
    f
}

/// `s` as a TOML basic string (quoted), for policy files holding arbitrary names and SQL:
/// quotes, backslashes and every control character escaped.
pub fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `pgwarden [ARGS] --format json plan` on `db`: the report, asserting the run did its job
/// (exit 0 or 1).
pub fn plan_report(db: &TestDb, dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = db
        .pgwarden(dir)
        .args(args)
        .args(["--format", "json", "plan"])
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    json(&out)
}

/// "rule object" of each finding of a plan report that is not a note (what fails a CI gate).
pub fn loud_findings(report: &serde_json::Value) -> std::collections::BTreeSet<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "note")
        .map(|f| {
            format!(
                "{} {}",
                f["rule"].as_str().unwrap(),
                f["object"].as_str().unwrap()
            )
        })
        .collect()
}

/// A `migrate apply` running in the background whose concurrent build of table `t` (the V2
/// `statement`, written to `dir`) waits in "waiting for writers before build" behind `writer`'s
/// open transaction: its INVALID catalog entry exists by then.
pub struct HeldBuild {
    pub writer: postgres::Client,
    pub child: std::process::Child,
    pub build_pid: i32,
}

/// Starts [`HeldBuild`]: `pgwarden GLOBAL... migrate apply ARGS...` with stderr piped.
pub fn hold_build(
    db: &TestDb,
    dir: &Path,
    statement: &str,
    (global, args): (&[&str], &[&str]),
) -> HeldBuild {
    write(dir, "V2__idx.sql", statement);
    let mut writer = db.client();
    writer
        .batch_execute("BEGIN; INSERT INTO t VALUES (0, 0);")
        .unwrap();
    let mut child = spawn_pgwarden(db, dir, global, args);
    let mut admin = db.client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let build_pid = loop {
        let row = admin
            .query_opt(
                "SELECT pid FROM pg_stat_progress_create_index \
                 WHERE relid = 't'::regclass AND phase LIKE 'waiting for writers%'",
                &[],
            )
            .unwrap();
        if let Some(r) = row {
            break r.get(0);
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut s, &mut err);
            }
            panic!("pgwarden ended ({status}) before the build started: {err}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the build never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    HeldBuild {
        writer,
        child,
        build_pid,
    }
}

/// `pgwarden GLOBAL... migrate apply ARGS...` on `db` in the background, stderr piped.
pub fn spawn_pgwarden(
    db: &TestDb,
    dir: &Path,
    global: &[&str],
    args: &[&str],
) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("pgwarden"))
        .args(global)
        .args(["--database-url", &db.url, "--migrations"])
        .arg(dir)
        .args(["migrate", "apply"])
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("DATABASE_URL")
        .env_remove("COLUMNS")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Half of `sql`'s fastest time on `db`, ms (planning plus execution from `EXPLAIN (ANALYZE,
/// TIMING OFF)`, one warm-up then five runs): a budget the query as it runs now is twice over,
/// derived from this machine's speed instead of a fixed figure that flips on a faster or
/// slower machine. `sql` has its values written in (no parameters).
pub fn half_of_measured_ms(db: &TestDb, sql: &str) -> f64 {
    let mut c = db.client();
    let mut time = || {
        let text = c
            .simple_query(&format!("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}"))
            .unwrap()
            .into_iter()
            .find_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => r.get(0).map(String::from),
                _ => None,
            })
            .unwrap();
        let plan: serde_json::Value = serde_json::from_str(&text).unwrap();
        plan[0]["Planning Time"].as_f64().unwrap() + plan[0]["Execution Time"].as_f64().unwrap()
    };
    time();
    // The fastest run, not the mean: one stall of a loaded machine inflates a mean, and a
    // budget set from it can sit above the query's later, quieter times.
    let fastest = (0..5).map(|_| time()).fold(f64::INFINITY, f64::min);
    fastest / 2.0
}

/// A child process killed when the test ends, whether it passes or panics (a failed assertion
/// must not leave a `watch` running).
pub struct Reaped(pub std::process::Child);

impl std::ops::Deref for Reaped {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A primary and its streaming replica (`pg_basebackup -R`), started once per test run for
/// the tests that need per-server statistics.
pub struct Replicated {
    pub primary: EphemeralServer,
    pub replica: EphemeralServer,
}

static REPLICATED: OnceLock<Replicated> = OnceLock::new();

pub fn replicated() -> &'static Replicated {
    REPLICATED.get_or_init(|| {
        let primary = EphemeralServer::start().expect("start the primary");
        let replica = primary
            .start_replica()
            .expect("start the streaming replica");
        Replicated { primary, replica }
    })
}

/// A fresh database on the replicated primary, and the same database on the replica.
pub struct ReplicatedDb {
    pub primary: TestDb,
    pub replica_url: String,
    pub replica: ConnectionTarget,
}

impl ReplicatedDb {
    pub fn new(label: &str) -> Self {
        let pair = replicated();
        let n = NEXT_DB.fetch_add(1, Ordering::SeqCst);
        let name = format!("r_{label}_{n}");
        let target = pair
            .primary
            .create_database(&name)
            .expect("create database");
        let db = Self {
            primary: TestDb {
                url: pair.primary.url(&name),
                name: name.clone(),
                target,
            },
            replica_url: pair.replica.url(&name),
            replica: pair.replica.target(&name).expect("replica target"),
        };
        db.wait_replayed();
        db
    }

    /// Waits until the replica has replayed everything the primary has written so far.
    pub fn wait_replayed(&self) {
        // The insert position, not `pg_current_wal_lsn()` (the write position): the throwaway
        // servers run with `synchronous_commit = off`, so a commit just made can still sit in
        // the WAL buffers, ahead of the write position (a replica test once saw no table).
        let lsn: String = self
            .primary
            .scalar("SELECT pg_current_wal_insert_lsn()::text");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let caught_up = self.replica.connect().ok().and_then(|mut c| {
                c.query_one(
                    "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                    &[&lsn],
                )
                .ok()
                .map(|r| r.get::<_, bool>(0))
            });
            if caught_up == Some(true) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the replica did not replay up to {lsn} within 60 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    pub fn replica_client(&self) -> postgres::Client {
        self.replica.connect().expect("connect to the replica")
    }
}

static SECOND: OnceLock<EphemeralServer> = OnceLock::new();

/// A second throwaway server, started once per test run, for tests that need two servers.
pub fn second_server() -> &'static EphemeralServer {
    SECOND.get_or_init(|| EphemeralServer::start().expect("start the second PostgreSQL server"))
}

/// A fresh database on the second server.
pub fn second_db(label: &str) -> TestDb {
    let n = NEXT_DB.fetch_add(1, Ordering::SeqCst);
    let name = format!("s_{label}_{n}");
    let target = second_server()
        .create_database(&name)
        .expect("create database");
    TestDb {
        url: second_server().url(&name),
        name,
        target,
    }
}

/// PgBouncer in transaction mode in front of the shared server, started once per test run (as
/// the `postgres` user when root: PgBouncer refuses root).
pub struct Bouncer {
    pub port: u16,
    _dir: tempfile::TempDir,
    _child: Reaped,
    _exit: pgwarden::ephemeral::exit::ExitGuard,
}

static BOUNCER: OnceLock<Bouncer> = OnceLock::new();
static SOCKET_BOUNCER: OnceLock<Bouncer> = OnceLock::new();

/// PgBouncer reaching the shared server over TCP.
pub fn pgbouncer() -> &'static Bouncer {
    BOUNCER.get_or_init(|| start_bouncer("127.0.0.1".into()))
}

/// PgBouncer reaching the shared server over its Unix socket (the server then sees no port).
pub fn pgbouncer_via_socket() -> &'static Bouncer {
    SOCKET_BOUNCER.get_or_init(|| {
        let dir: String =
            TestDb::new("socketdir").scalar("SELECT current_setting('unix_socket_directories')");
        start_bouncer(dir)
    })
}

fn start_bouncer(backend_host: String) -> Bouncer {
    {
        use std::os::unix::process::CommandExt;
        let server_url = server().url("postgres");
        let password = server_url
            .strip_prefix("postgres://postgres:")
            .and_then(|rest| rest.split_once('@'))
            .map(|(pw, _)| pw.to_string())
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        std::fs::write(
            dir.path().join("userlist.txt"),
            format!("\"postgres\" \"{password}\"\n"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("pgbouncer.ini"),
            format!(
                "[databases]\n* = host={backend_host} port={}\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
                 unix_socket_dir =\nauth_type = plain\nauth_file = {d}/userlist.txt\npool_mode = transaction\n\
                 max_client_conn = 200\ndefault_pool_size = 20\nlogfile = {d}/pgbouncer.log\npidfile = {d}/pgbouncer.pid\n\
                 admin_users = postgres\nignore_startup_parameters = extra_float_digits,options\n",
                server().port()
            ),
        )
        .unwrap();
        let mut cmd = std::process::Command::new("pgbouncer");
        cmd.arg(dir.path().join("pgbouncer.ini"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some((uid, gid)) = pgwarden::ephemeral::server_user().unwrap() {
            for entry in std::fs::read_dir(dir.path()).unwrap() {
                std::os::unix::fs::chown(entry.unwrap().path(), Some(uid), Some(gid)).unwrap();
            }
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
            cmd.uid(uid).gid(gid);
        }
        let child = Reaped(
            cmd.spawn()
                .expect("start pgbouncer (Debian package pgbouncer)"),
        );
        // A static is never dropped: PgBouncer is ended and its directory removed at the test
        // process's exit, and by a watchdog if the process is killed.
        std::process::Command::new("sh")
            .args([
                "-c",
                &format!(
                    "(while kill -0 {} 2>/dev/null; do sleep 1; done; kill {}; rm -rf '{}') >/dev/null 2>&1 &",
                    std::process::id(),
                    child.id(),
                    dir.path().display()
                ),
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        let exit = {
            let (pid, path) = (child.id() as i32, dir.path().to_path_buf());
            pgwarden::ephemeral::exit::on_exit(move || {
                pgwarden::ephemeral::exit::end_process(pid, libc::SIGTERM);
                let _ = std::fs::remove_dir_all(path);
            })
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "pgbouncer did not listen"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Bouncer {
            port,
            _dir: dir,
            _child: child,
            _exit: exit,
        }
    }
}

impl Bouncer {
    /// A URL for `db` through PgBouncer.
    pub fn url(&self, db: &TestDb) -> String {
        let at = db.url.rsplit_once('@').unwrap().0;
        format!("{at}@127.0.0.1:{}/{}?sslmode=disable", self.port, db.name)
    }
}
