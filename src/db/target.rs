//! Where to connect: a URL or key/value string, else the libpq environment variables, with
//! the password from `~/.pgpass` when none is given. Never displays a password.

use super::pgpass;
use super::tls::{TlsMode, TlsSettings, take_tls_params};
use super::{DbError, describe};
use postgres::Client;
use postgres::config::{Config, Host};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Could not work out where to connect, or could not connect.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The connection string, `PGPORT` or `sslmode` does not parse; the text says why.
    #[error("invalid connection string: {0}")]
    Invalid(String),
    /// The server refused or could not be reached; `cause` says "cannot connect to {target}"
    /// and why.
    #[error("{cause}; {hint}", hint = connect_hint(.cause, .origin.as_deref()))]
    Connect {
        /// The target, password redacted.
        target: String,
        /// Where its connection string came from (`--replica`, a targets file's entry, ...),
        /// when not from `--database-url`, `DATABASE_URL` or the libpq variables.
        origin: Option<String>,
        /// The driver's error, SQLSTATE kept when the server answered.
        cause: DbError,
    },
    /// The TLS connector could not be built (an unreadable or invalid `sslrootcert`, say); the
    /// text names the fix.
    #[error("{0}")]
    Tls(String),
    /// The server took the connection but did not finish the start-up (authentication, TLS)
    /// in time: something that is not a working PostgreSQL server listens there, or it hangs.
    #[error(
        "cannot connect to {target}: no answer to the start-up within {seconds} s (a hung server, or something else listening on that port); check the host and port"
    )]
    Timeout {
        /// The target, password redacted.
        target: String,
        /// The limit waited.
        seconds: u64,
    },
}

/// What to check after a failed connection: the credentials when the server refused them,
/// the database name when it does not exist, else whether the server is there at all; in the
/// connection string's `origin` when it did not come from `--database-url`.
fn connect_hint(cause: &DbError, origin: Option<&str>) -> String {
    use postgres::error::SqlState;
    let code = cause.sqlstate();
    let auth = code.is_some_and(|s| {
        *s == SqlState::INVALID_PASSWORD || *s == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    });
    let database = code.is_some_and(|s| *s == SqlState::INVALID_CATALOG_NAME);
    match (origin, code) {
        (_, Some(_)) if !auth && !database => {
            "the server refused the connection: see its message".into()
        }
        (None, _) if auth => "check the user and password (--database-url, DATABASE_URL, PGUSER/PGPASSWORD or ~/.pgpass)".into(),
        (None, _) if database => {
            "check the database name (--database-url, DATABASE_URL or PGDATABASE), or create it".into()
        }
        (None, _) => "check that the server is running and that --database-url, DATABASE_URL or the PG* variables point at it".into(),
        (Some(o), _) if auth => format!("check the user and password in {o} (or ~/.pgpass)"),
        (Some(o), _) if database => format!("check the database name in {o}, or create it"),
        (Some(o), _) => format!("check that the server is running and that {o} points at it"),
    }
}

/// A resolved connection target. Cloneable so a second session (progress monitor) can open.
#[derive(Clone)]
pub struct ConnectionTarget {
    config: Config,
    tls: TlsSettings,
    /// Where the connection string came from, for the hint of a failed connection; `None`:
    /// `--database-url`, `DATABASE_URL` or the libpq variables.
    origin: Option<std::sync::Arc<str>>,
}

impl std::fmt::Debug for ConnectionTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Sent first on every session.
const STANDARD_STRINGS: &str = "SET standard_conforming_strings = on";

impl ConnectionTarget {
    /// `url` (flag or `DATABASE_URL`) when given, else the libpq environment variables.
    pub fn resolve(url: Option<&str>) -> Result<Self, ConnectError> {
        match url {
            Some(u) if !u.trim().is_empty() => Self::from_url(u),
            _ => Self::from_env(),
        }
    }

    /// Parses a `postgres://` URL or a libpq key/value string. `sslmode` and `sslrootcert` are
    /// taken out and handled here (the driver knows only disable/prefer/require).
    pub fn from_url(url: &str) -> Result<Self, ConnectError> {
        let (rest, sslmode, rootcert) = take_tls_params(url);
        let mut config = Config::from_str(&rest).map_err(|e| {
            ConnectError::Invalid(
                describe(&e)
                    .trim_start_matches("invalid connection string: ")
                    .to_string(),
            )
        })?;
        let mode = match sslmode.or_else(|| env("PGSSLMODE")) {
            Some(m) => TlsMode::parse(&m).map_err(ConnectError::Invalid)?,
            None => TlsMode::Prefer,
        };
        let root_cert = rootcert.or_else(|| env("PGSSLROOTCERT")).map(PathBuf::from);
        if config.get_user().is_none() {
            config.user(default_user().as_str());
        }
        if config
            .get_hosts()
            .iter()
            .any(|h| matches!(h, Host::Tcp(h) if h.contains('@')))
        {
            return Err(ConnectError::Invalid(
                "the host holds an `@`: a password containing `@` must be percent-encoded (%40)"
                    .into(),
            ));
        }
        Ok(Self::finish(config, TlsSettings { mode, root_cert }))
    }

    /// Builds the target from `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`,
    /// `PGSSLMODE`, `PGSSLROOTCERT` with libpq's defaults.
    pub fn from_env() -> Result<Self, ConnectError> {
        let mut config = Config::new();
        let host = env("PGHOST").unwrap_or_else(|| "localhost".into());
        for h in host.split(',') {
            config.host(h);
        }
        let port = env("PGPORT").unwrap_or_else(|| "5432".into());
        config.port(
            port.parse()
                .map_err(|_| ConnectError::Invalid(format!("PGPORT `{port}` is not a port")))?,
        );
        let user = env("PGUSER").unwrap_or_else(default_user);
        config.dbname(env("PGDATABASE").unwrap_or_else(|| user.clone()).as_str());
        config.user(&user);
        if let Some(pw) = env("PGPASSWORD") {
            config.password(pw);
        }
        let mode = match env("PGSSLMODE") {
            Some(m) => TlsMode::parse(&m).map_err(ConnectError::Invalid)?,
            None => TlsMode::Prefer,
        };
        let root_cert = env("PGSSLROOTCERT").map(PathBuf::from);
        Ok(Self::finish(config, TlsSettings { mode, root_cert }))
    }

    fn finish(mut config: Config, tls: TlsSettings) -> Self {
        config.ssl_mode(tls.mode.ssl_mode());
        if config.get_application_name().is_none() {
            config.application_name("pgwarden");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_password().is_none()
            && let Some(path) = pgpass::default_path()
            && let Some(pw) = pgpass::lookup(
                &path,
                &first_host(&config),
                config.get_ports().first().copied().unwrap_or(5432),
                config.get_dbname().unwrap_or_default(),
                config.get_user().unwrap_or_default(),
            )
        {
            config.password(pw);
        }
        Self {
            config,
            tls,
            origin: None,
        }
    }

    /// The same server, another database.
    pub fn with_dbname(&self, dbname: &str) -> Self {
        let mut copy = self.clone();
        copy.config.dbname(dbname);
        copy
    }

    /// The same target with a different `application_name` (for a helper session).
    pub fn with_application_name(&self, name: &str) -> Self {
        let mut copy = self.clone();
        copy.config.application_name(name);
        copy
    }

    /// The same target whose sessions start with `search_path` set to `schemas` (each quoted;
    /// spaces and backslashes escaped as the `options` startup parameter requires).
    pub fn with_search_path(&self, schemas: &[String]) -> Self {
        let list: Vec<String> = schemas.iter().map(|s| crate::escape::ident(s)).collect();
        let value = list.join(",").replace('\\', "\\\\").replace(' ', "\\ ");
        let mut copy = self.clone();
        copy.config.options(&format!("-c search_path={value}"));
        copy
    }

    /// The port the connection string names (the first, when it names several).
    pub fn port(&self) -> Option<u16> {
        self.config.get_ports().first().copied()
    }

    /// The one TCP port a session reaches, when the string names a single TCP host (with
    /// several, which one answered is not known).
    pub fn single_tcp_port(&self) -> Option<u16> {
        let hosts = self.config.get_hosts();
        let ports = self.config.get_ports();
        match (hosts, ports) {
            ([Host::Tcp(_)], [port]) => Some(*port),
            ([Host::Tcp(_)], []) => Some(5432),
            _ => None,
        }
    }

    /// Whether the sessions go over TCP (not a Unix socket).
    pub fn over_tcp(&self) -> bool {
        self.config
            .get_hosts()
            .iter()
            .all(|h| matches!(h, Host::Tcp(_)))
    }

    /// `host:port` of the server (the first, when the string names several): a name for it in
    /// reports, with no user, database or password.
    pub fn server_label(&self) -> String {
        format!(
            "{}:{}",
            first_host(&self.config),
            self.port().unwrap_or(5432)
        )
    }

    /// The database name the target names (empty when a URL names none).
    pub fn dbname(&self) -> &str {
        self.config.get_dbname().unwrap_or_default()
    }

    /// The `sslmode` in effect, as libpq spells it (`prefer` when none was given).
    pub fn tls_mode(&self) -> &'static str {
        self.tls.mode.as_str()
    }

    /// The same target, its connection string said to come from `origin` (e.g. `--replica`)
    /// in the hint of a failed connection.
    pub fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into().into());
        self
    }

    /// Opens a session.
    pub fn connect(&self) -> Result<Client, ConnectError> {
        tracing::debug!(target = %self.redacted(), "connecting");
        // `connect_timeout` bounds the socket connect only: a peer that accepts and never
        // answers would hang the start-up forever, so the whole of it runs against a deadline
        // (an abandoned attempt ends with the process or when the peer closes).
        let (config, tls) = (self.config.clone(), self.tls.clone());
        let connector = match tls.mode {
            TlsMode::Disable => None,
            _ => Some(tls.maker().map_err(ConnectError::Tls)?),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let result = match connector {
                None => config.connect(postgres::NoTls),
                Some(c) => config.connect(c),
            };
            let _ = tx.send(result);
        });
        let limit = self
            .config
            .get_connect_timeout()
            .copied()
            .unwrap_or(Duration::from_secs(10))
            .saturating_mul(2)
            .max(Duration::from_secs(5));
        let connected = rx.recv_timeout(limit).map_err(|_| ConnectError::Timeout {
            target: self.redacted(),
            seconds: limit.as_secs(),
        })?;
        let refused = |pg| ConnectError::Connect {
            target: self.redacted(),
            origin: self.origin.as_deref().map(str::to_string),
            cause: DbError::new(format!("cannot connect to {}", self.redacted()), pg),
        };
        let mut client = connected.map_err(refused)?;
        // pgwarden splits and checks SQL with a tokenizer that reads strings the standard way;
        // the server must read them the same way, or `'x\' --'` hides a statement from the
        // check and runs it. Its own round trip: a SET in the same batch comes too late.
        client.batch_execute(STANDARD_STRINGS).map_err(refused)?;
        Ok(client)
    }

    /// The libpq environment variables naming this target, for a client program such as
    /// `pg_dump` (the password travels in the child's environment, never on its command line).
    pub fn libpq_env(&self) -> Vec<(&'static str, String)> {
        let mut vars = vec![
            ("PGHOST", first_host(&self.config)),
            (
                "PGPORT",
                self.config
                    .get_ports()
                    .first()
                    .copied()
                    .unwrap_or(5432)
                    .to_string(),
            ),
            (
                "PGUSER",
                self.config.get_user().unwrap_or_default().to_string(),
            ),
            ("PGDATABASE", self.dbname().to_string()),
            ("PGSSLMODE", self.tls.mode.as_str().to_string()),
            ("PGAPPNAME", "pgwarden".to_string()),
        ];
        if let Some(pw) = self.config.get_password() {
            vars.push(("PGPASSWORD", String::from_utf8_lossy(pw).into_owned()));
        }
        if let Some(cert) = &self.tls.root_cert {
            vars.push(("PGSSLROOTCERT", cert.display().to_string()));
        }
        vars
    }

    /// `postgres://user@host:port/db` with no password, for every log line and message.
    pub fn redacted(&self) -> String {
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!(
            "postgres://{}@{}:{}/{} (sslmode={})",
            self.config.get_user().unwrap_or_default(),
            first_host(&self.config),
            port,
            self.dbname(),
            self.tls.mode.as_str()
        )
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn default_user() -> String {
    env("USER").unwrap_or_else(|| "postgres".into())
}

fn first_host(config: &Config) -> String {
    match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_params_are_taken_from_urls_and_key_value_strings() {
        let (rest, mode, cert) = take_tls_params(
            "postgres://u:secret@h:5/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&connect_timeout=3",
        );
        assert_eq!(rest, "postgres://u:secret@h:5/db?connect_timeout=3");
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(cert.as_deref(), Some("/tmp/ca.pem"));
        let (rest, mode, _) = take_tls_params("host=h user=u sslmode=require dbname=d");
        assert_eq!(rest, "host=h user=u dbname=d");
        assert_eq!(mode.as_deref(), Some("require"));
    }

    #[test]
    fn an_unencoded_at_in_the_password_is_refused_not_shown_as_a_host() {
        let e = ConnectionTarget::from_url("postgres://u:TOP@SECRET@h:5432/db").unwrap_err();
        assert!(e.to_string().contains("%40"), "{e}");
        assert!(!e.to_string().contains("SECRET"), "{e}");
        assert!(ConnectionTarget::from_url("postgres://u:TOP%40SECRET@h:5432/db").is_ok());
    }

    #[test]
    fn redacted_form_never_holds_the_password() {
        let t =
            ConnectionTarget::from_url("postgres://alice:hunter2@db.internal:6543/app").unwrap();
        let shown = t.redacted();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.starts_with("postgres://alice@db.internal:6543/app"),
            "{shown}"
        );
        assert!(!format!("{t:?}").contains("hunter2"));
    }

    #[test]
    fn bad_sslmode_is_rejected_with_the_choices() {
        let err = ConnectionTarget::from_url("postgres://u@h/d?sslmode=sometimes").unwrap_err();
        assert!(err.to_string().contains("verify-full"), "{err}");
    }
}
