//! A throwaway PostgreSQL server: initdb + pg_ctl in a temp dir on a free loopback port,
//! removed when dropped (and by a watchdog if this process dies first). Serves the demo, the
//! tests and, later, shadow databases. When running as root the server runs as `postgres`.

mod binaries;
pub mod exit;
mod replica;
pub mod sample;

pub use binaries::{
    BINDIR_VARIABLE, BinariesError, Installation, Search, display_major, extension_control,
    find_bindir, search, server_version,
};

use crate::db::{ConnectionTarget, DbContext, DbError, quote_ident};
use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Why the throwaway server could not start.
#[derive(Debug, thiserror::Error)]
pub enum EphemeralError {
    /// No server binaries, or none of the target's major version.
    #[error(transparent)]
    Binaries(#[from] BinariesError),
    /// Running as root with no `postgres` user to run the server as.
    #[error(
        "running as root but there is no `postgres` user to run the throwaway server as; create one (`useradd postgres`) or run as an unprivileged user"
    )]
    NoServerUser,
    /// A step other than a statement failed (a temp dir, initdb, pg_ctl, a free port, connecting).
    #[error("{step} failed: {detail}")]
    Step {
        /// What was being done, e.g. `creating a temp dir`.
        step: String,
        /// Why it failed: the I/O error or the tool's output.
        detail: String,
    },
    /// A statement failed: "{step} failed: ...".
    #[error(transparent)]
    Db(#[from] DbError),
    /// Reading a table to copy failed: "copying table {name} failed: ...", and the fix.
    #[error("{0}; the user needs SELECT on every table; or pass --shadow-url with a copy you made")]
    CopyOut(DbError),
}

/// "{step} failed", as the context of a failed statement.
fn failed(step: &str) -> impl FnOnce() -> String + '_ {
    move || format!("{step} failed")
}

fn step_err(step: &str, detail: impl std::fmt::Display) -> EphemeralError {
    EphemeralError::Step {
        step: step.to_string(),
        detail: detail.to_string(),
    }
}

/// PEM certificate and key for a server started with TLS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The server certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM.
    pub key_pem: String,
}

/// How to start the server.
#[derive(Debug, Clone, Default)]
pub struct EphemeralOptions {
    /// Serve TLS with this certificate (as well as plain connections).
    pub tls: Option<TlsFiles>,
    /// Extra `postgresql.conf` lines.
    pub extra_conf: Vec<String>,
    /// The server binaries' directory (`--pg-bindir`); else `PGWARDEN_PG_BINDIR`, else a search.
    pub bindir: Option<PathBuf>,
    /// The major version the server must have (the target's), when there is a target.
    pub major: Option<u32>,
}

/// A running throwaway server. Dropping it stops the server and deletes its files.
pub struct EphemeralServer {
    dir: tempfile::TempDir,
    bindir: PathBuf,
    port: u16,
    password: String,
    run_as: Option<(u32, u32)>,
    preloaded: Vec<String>,
    /// Stops and removes the server at exit if it is never dropped (a static).
    exit: Option<exit::ExitGuard>,
}

impl EphemeralServer {
    /// Starts a server with default options.
    pub fn start() -> Result<Self, EphemeralError> {
        Self::start_with(&EphemeralOptions::default())
    }

    /// Starts a server, trying a few free ports in case another process takes one first.
    pub fn start_with(options: &EphemeralOptions) -> Result<Self, EphemeralError> {
        let bindir = search(options.bindir.as_deref())
            .choose(options.major)?
            .bindir;
        let run_as = server_user()?;
        let dir = tempfile::Builder::new()
            .prefix("pgwarden-pg-")
            .tempdir()
            .map_err(|e| step_err("creating a temp dir", e))?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(|e| step_err("handing the temp dir to the postgres user", e))?;
        }
        let password = random_token();
        let mut server = Self {
            dir,
            bindir,
            port: 0,
            password,
            run_as,
            preloaded: Vec::new(),
            exit: None,
        };
        server.initdb()?;
        server.configure(options)?;
        let mut last = None;
        for _ in 0..5 {
            server.port = free_port()?;
            server.write_port()?;
            match server.pg_ctl_start() {
                Ok(()) => {
                    server.guard();
                    return Ok(server);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| step_err("starting the server", "no attempt made")))
    }

    /// The directory of the server's files, removed with it.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Where the server binaries (and `pg_dump`) are.
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Libraries loaded through `shared_preload_libraries`.
    pub fn preloaded(&self) -> &[String] {
        &self.preloaded
    }

    /// A URL with the superuser's password for database `dbname`.
    pub fn url(&self, dbname: &str) -> String {
        self.url_with("127.0.0.1", dbname, "sslmode=disable")
    }

    /// A URL for `dbname` through host name `host` (it must resolve to loopback) with extra
    /// query parameters such as `sslmode=verify-full&sslrootcert=...`.
    pub fn url_with(&self, host: &str, dbname: &str, params: &str) -> String {
        format!(
            "postgres://postgres:{}@{host}:{}/{dbname}?{params}",
            self.password, self.port
        )
    }

    /// Connection target for `dbname`.
    pub fn target(&self, dbname: &str) -> Result<ConnectionTarget, EphemeralError> {
        ConnectionTarget::from_url(&self.url(dbname))
            .map_err(|e| step_err("building the connection target", e))
    }

    /// Creates database `name` and returns its target.
    pub fn create_database(&self, name: &str) -> Result<ConnectionTarget, EphemeralError> {
        self.run_admin(&format!("CREATE DATABASE {}", quote_ident(name)), name)
    }

    /// Creates database `name` as a copy of `template` (which must have no open sessions).
    pub fn copy_database(
        &self,
        template: &str,
        name: &str,
    ) -> Result<ConnectionTarget, EphemeralError> {
        let sql = format!(
            "CREATE DATABASE {} TEMPLATE {}",
            quote_ident(name),
            quote_ident(template)
        );
        self.run_admin(&sql, name)
    }

    fn run_admin(&self, sql: &str, name: &str) -> Result<ConnectionTarget, EphemeralError> {
        let mut client = self
            .target("postgres")?
            .connect()
            .map_err(|e| step_err("connecting to the throwaway server", e))?;
        client
            .batch_execute(sql)
            .db_context(failed(&format!("creating database {name}")))?;
        self.target(name)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bindir.join(program));
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        cmd.env_remove("PGDATA").current_dir(self.dir.path());
        cmd
    }

    fn run(&self, step: &str, cmd: &mut Command) -> Result<(), EphemeralError> {
        let out = cmd.output().map_err(|e| step_err(step, e))?;
        if out.status.success() {
            return Ok(());
        }
        let mut detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if let Ok(log) = std::fs::read_to_string(self.dir.path().join("server.log")) {
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            detail.push_str("\nserver log:\n");
            detail.push_str(&tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        Err(step_err(step, detail))
    }

    fn initdb(&self) -> Result<(), EphemeralError> {
        let pwfile = self.dir.path().join("pwfile");
        self.write_owned(&pwfile, &self.password, 0o600)?;
        self.run(
            "initdb",
            self.command("initdb")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-U", "postgres", "-E", "UTF8", "--no-locale", "--no-sync"])
                .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
                .arg(format!("--pwfile={}", pwfile.display())),
        )
    }

    fn configure(&mut self, options: &EphemeralOptions) -> Result<(), EphemeralError> {
        self.preloaded = binaries::preloadable_libraries(&self.bindir);
        let mut conf = vec![
            "listen_addresses = '127.0.0.1'".to_string(),
            format!("unix_socket_directories = '{}'", self.dir.path().display()),
            format!("shared_preload_libraries = '{}'", self.preloaded.join(",")),
            "fsync = off".into(),
            "synchronous_commit = off".into(),
            "full_page_writes = off".into(),
            "max_connections = 200".into(),
            "shared_buffers = 256MB".into(),
            "pg_stat_statements.track = all".into(),
            "log_min_messages = warning".into(),
            "include_if_exists = 'port.conf'".into(),
        ];
        if let Some(tls) = &options.tls {
            let data = self.data_dir();
            self.write_owned(&data.join("server.crt"), &tls.cert_pem, 0o600)?;
            self.write_owned(&data.join("server.key"), &tls.key_pem, 0o600)?;
            conf.push("ssl = on".into());
        }
        conf.extend(options.extra_conf.iter().cloned());
        let path = self.data_dir().join("postgresql.conf");
        let mut text =
            std::fs::read_to_string(&path).map_err(|e| step_err("reading postgresql.conf", e))?;
        text.push_str("\n# pgwarden throwaway server\n");
        text.push_str(&conf.join("\n"));
        text.push('\n');
        std::fs::write(&path, text).map_err(|e| step_err("writing postgresql.conf", e))
    }

    fn write_port(&self) -> Result<(), EphemeralError> {
        let path = self.data_dir().join("port.conf");
        self.write_owned(&path, &format!("port = {}\n", self.port), 0o600)
    }

    fn write_owned(&self, path: &Path, text: &str, mode: u32) -> Result<(), EphemeralError> {
        use std::os::unix::fs::PermissionsExt;
        let step = format!("writing {}", path.display());
        std::fs::write(path, text).map_err(|e| step_err(&step, e))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| step_err(&step, e))?;
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| step_err(&step, e))?;
        }
        Ok(())
    }

    fn pg_ctl_start(&self) -> Result<(), EphemeralError> {
        self.run(
            "starting the throwaway server (pg_ctl start)",
            self.command("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .arg("-l")
                .arg(self.dir.path().join("server.log"))
                .args(["-w", "-t", "60", "start"])
                .stdout(Stdio::null()),
        )
    }

    /// Once started: a watchdog for a killed process, and an exit action for a server never
    /// dropped.
    fn guard(&mut self) {
        exit::spawn_watchdog(&self.data_dir(), self.dir.path());
        self.exit = Some(exit::on_exit(exit::stop_and_remove(
            self.data_dir(),
            self.dir.path().to_path_buf(),
        )));
    }
}

impl EphemeralServer {
    /// Stops the server now and removes its files in a detached process: after a replay of
    /// thousands of tables the removal took 37 s here, longer than the rest of `plan`. Removed
    /// in place when no process can be started.
    pub fn discard(mut self) {
        self.stop();
        self.exit = None;
        let spawned = Command::new("rm")
            .arg("-rf")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        if spawned.is_ok() {
            std::mem::forget(self); // the files are the detached process's (and the watchdog's)
        }
    }

    fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for EphemeralServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The user a throwaway server runs as: `None` for the current user, the `postgres` user when
/// running as root (the server refuses root); an error when root has no such user.
pub fn server_user() -> Result<Option<(u32, u32)>, EphemeralError> {
    let euid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1);
    if euid != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == "postgres")
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .map(Some)
        .ok_or(EphemeralError::NoServerUser)
}

fn free_port() -> Result<u16, EphemeralError> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| step_err("finding a free port", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| step_err("finding a free port", e))
}

fn random_token() -> String {
    use std::collections::hash_map::RandomState;
    let random = || RandomState::new().build_hasher().finish();
    format!("pw{:016x}{:016x}", random(), random())
}
