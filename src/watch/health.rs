//! Index health as `watch` sees it each interval: INVALID indexes, index builds in progress
//! (phase and share done), and sessions waiting on a lock, with who blocks them.

use crate::db::{DbContext, DbError};
use postgres::Client;
use serde::Serialize;

/// An index build running now (`pg_stat_progress_create_index`).
#[derive(Debug, Clone, Serialize)]
pub struct Build {
    /// `schema.index` (the table when the index has no name yet).
    pub index: String,
    /// The build's phase as PostgreSQL names it (`building index: scanning table`, ...).
    pub phase: String,
    /// Share done in the current phase, 0 to 1, when the phase counts blocks or tuples.
    pub ratio: Option<f64>,
}

/// A session waiting for a lock longer than the policy's `lock_wait_alert`.
#[derive(Debug, Clone, Serialize)]
pub struct LockWait {
    /// The waiting session.
    pub pid: i32,
    /// How long it has waited.
    pub waiting_seconds: f64,
    /// The sessions it waits for (`pg_blocking_pids`).
    pub blocked_by: Vec<i32>,
    /// The blocking session's query (empty without `pg_read_all_stats`).
    pub blocker_query: String,
}

/// One interval's view of index health.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Health {
    /// `schema.index` of each INVALID index.
    pub invalid_indexes: Vec<String>,
    /// Index builds in progress.
    pub builds: Vec<Build>,
    /// Sessions waiting on a lock right now (any duration).
    pub lock_waiters: i64,
    /// Those waiting longer than the alert threshold.
    pub long_waits: Vec<LockWait>,
}

/// INVALID indexes.
pub const INVALID: &str = "SELECT n.nspname || '.' || c.relname FROM pg_index i \
     JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE NOT i.indisvalid ORDER BY 1";

/// Index builds in progress.
pub const BUILDS: &str = "SELECT coalesce(p.index_relid::regclass::text, p.relid::regclass::text), p.phase, \
       CASE WHEN p.blocks_total > 0 THEN p.blocks_done::float8 / p.blocks_total \
            WHEN p.tuples_total > 0 THEN p.tuples_done::float8 / p.tuples_total END \
     FROM pg_stat_progress_create_index p ORDER BY 1";

/// Sessions waiting on a lock.
pub const WAITERS: &str = "SELECT a.pid, extract(epoch FROM now() - l.waitstart)::float8, \
       pg_blocking_pids(a.pid), \
       coalesce((SELECT left(b.query, 300) FROM pg_stat_activity b \
                 WHERE b.pid = (pg_blocking_pids(a.pid))[1]), '') \
     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
     WHERE NOT l.granted AND l.waitstart IS NOT NULL AND a.datname = current_database() \
     ORDER BY 2 DESC";

/// Reads index health; waits longer than `alert_seconds` are listed.
pub fn read(client: &mut Client, alert_seconds: f64) -> Result<Health, DbError> {
    let invalid_indexes = client
        .query(INVALID, &[])
        .db_context(|| "cannot look for INVALID indexes")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let builds = client
        .query(BUILDS, &[])
        .db_context(|| "cannot read pg_stat_progress_create_index")?
        .iter()
        .map(|r| Build {
            index: r.get(0),
            phase: r.get(1),
            ratio: r.get(2),
        })
        .collect();
    let waits = client
        .query(WAITERS, &[])
        .db_context(|| "cannot read the lock waits")?;
    let lock_waiters = waits.len() as i64;
    let long_waits = waits
        .iter()
        .map(|r| LockWait {
            pid: r.get(0),
            waiting_seconds: r.get::<_, Option<f64>>(1).unwrap_or(0.0),
            blocked_by: r.get(2),
            blocker_query: r.get(3),
        })
        .filter(|w| w.waiting_seconds > alert_seconds)
        .collect();
    Ok(Health {
        invalid_indexes,
        builds,
        lock_waiters,
        long_waits,
    })
}

/// Every statement `watch` itself runs on a server of `major` (its samples, these health
/// reads, the catalog reads): never judged as the application's.
pub fn own_statements(major: u32) -> Vec<String> {
    [
        crate::statements::EPOCH,
        crate::statements::ENTRIES,
        INVALID,
        BUILDS,
        WAITERS,
    ]
    .map(String::from)
    .into_iter()
    .chain(crate::catalog::reader::all_queries(major))
    .collect()
}
