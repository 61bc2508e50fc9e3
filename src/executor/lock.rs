//! The advisory lock that makes concurrent deploys apply each migration exactly once.
//! Polled with `pg_try_advisory_lock`: a session blocked in `pg_advisory_lock` while the holder
//! runs a concurrent index build deadlocks with that build.

use crate::db::{self, DbContext, DbError};
use postgres::Client;
use std::time::{Duration, Instant};

/// "pgwarden" in ASCII: the key every pgwarden runner takes in the target database.
pub const MIGRATION_LOCK_KEY: i64 = 0x7067_7761_7264_656e;

const TRY_LOCK: &str = "SELECT pg_try_advisory_lock($1)";
const UNLOCK: &str = "SELECT pg_advisory_unlock($1)";
const HOLDER: &str = "SELECT l.pid, coalesce(a.application_name, ''), \
     coalesce(extract(epoch FROM now() - a.backend_start), 0)::float8 \
     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
     WHERE l.locktype = 'advisory' AND l.granted AND l.database = \
       (SELECT oid FROM pg_database WHERE datname = current_database()) \
       AND l.classid::int8 = ($1 >> 32) AND l.objid::int8 = ($1 & 4294967295) LIMIT 1";

/// The lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another session held it for all of `waited` seconds.
    #[error(
        "another migration run holds the pgwarden lock ({holder}) and did not release it within {waited}s; let it finish, or raise --lock-wait"
    )]
    Timeout {
        /// Who holds it: pid, `application_name` and connection age, or `holder unknown`.
        holder: String,
        /// The wait allowed (`--lock-wait`), in whole seconds.
        waited: u64,
    },
    /// Asking for it failed ("cannot take the pgwarden migration lock: ...").
    #[error(transparent)]
    Query(DbError),
    /// The session goes through a connection pooler: a session advisory lock there is not
    /// held by the session that runs the migration.
    #[error(
        "the connection goes through a pooler or a port mapping: the URL names port {url_port} but the server sees this session on {server_port}; a session advisory lock taken through a transaction-pooling PgBouncer does not protect the migration (two deploys could both apply it): pass --direct-url (or PGWARDEN_DIRECT_URL) naming the PostgreSQL server itself for the lock and the migrations; if this is a port mapping and not a pooler, pass --direct-url with the same URL"
    )]
    Pooler {
        /// The port the connection string names.
        url_port: u16,
        /// Where the server sees the session: `port N` (`inet_server_port()`), or a Unix
        /// socket.
        server_port: String,
    },
}

/// `--database-url` and `--direct-url` reach different databases.
#[derive(Debug, thiserror::Error)]
#[error(
    "--direct-url reaches database {} on the server of system identifier {}, but --database-url reaches database {} on the server of system identifier {}: the direct URL must name the same database as the pooled one, or the migrations would be applied to another database; fix one of them",
    crate::escape::inline(&.direct.1), .direct.0,
    crate::escape::inline(&.pooled.1), .pooled.0
)]
pub struct NotSameDatabase {
    /// System identifier and database name that the pooled URL reached.
    pub pooled: (String, String),
    /// The same for the direct URL.
    pub direct: (String, String),
}

/// Refuses to take the migration lock through a connection pooler: PgBouncer listens on
/// another port than the server it pools (`inet_server_port()` is the server's). Uses the
/// simple protocol, which a transaction pooler passes through whole. `url_port`: the one TCP
/// port the connection string names (`None` for a Unix socket or several hosts: not checked).
pub fn refuse_pooler(client: &mut Client, url_port: Option<u16>) -> Result<(), LockError> {
    let Some(url_port) = url_port else {
        return Ok(());
    };
    let rows = client
        .simple_query("SELECT inet_server_port()")
        .db_context(|| "cannot read inet_server_port()")
        .map_err(LockError::Query)?;
    let server_port = rows.iter().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(r) => r.get(0).and_then(|p| p.parse::<u16>().ok()),
        _ => None,
    });
    match server_port {
        Some(server_port) if server_port == url_port => Ok(()),
        // NULL: the server sees a Unix-socket session although this one came over TCP, so
        // something in between (a pooler on the same host) opened it.
        server_port => Err(LockError::Pooler {
            url_port,
            server_port: server_port.map_or("a Unix socket".into(), |p| format!("port {p}")),
        }),
    }
}

/// Proof that this session holds the lock; released with [`AdvisoryLock::release`] or when the
/// session ends.
pub struct AdvisoryLock {
    key: i64,
}

impl AdvisoryLock {
    /// Polls for the lock until `wait` runs out.
    pub fn acquire(client: &mut Client, key: i64, wait: Duration) -> Result<Self, LockError> {
        let started = Instant::now();
        let mut announced = false;
        loop {
            let got: bool = client
                .query_one(TRY_LOCK, &[&key])
                .db_context(|| "cannot take the pgwarden migration lock")
                .map_err(LockError::Query)?
                .get(0);
            if got {
                return Ok(Self { key });
            }
            let holder = describe_holder(client, key);
            if started.elapsed() >= wait {
                return Err(LockError::Timeout {
                    holder,
                    waited: wait.as_secs(),
                });
            }
            if !announced {
                tracing::info!(%holder, "another migration run holds the pgwarden lock; waiting for it");
                announced = true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Releases the lock; a failure is only logged, as the lock ends with the session anyway.
    pub fn release(self, client: &mut Client) {
        if let Err(e) = client.query_one(UNLOCK, &[&self.key]) {
            tracing::warn!(
                "could not release the pgwarden lock (it ends with the session): {}",
                db::describe(&e)
            );
        }
    }
}

fn describe_holder(client: &mut Client, key: i64) -> String {
    match client.query_opt(HOLDER, &[&key]) {
        Ok(Some(r)) => {
            let (pid, app, age): (i32, String, f64) = (r.get(0), r.get(1), r.get(2));
            format!("pid {pid}, application_name '{app}', connected {age:.0}s")
        }
        _ => "holder unknown".into(),
    }
}
