//! The wait before a concurrent index build while a streaming replica lags: a build writes its
//! whole index to the WAL, and a replica already behind falls further behind (stale reads on
//! it, a primary that keeps WAL for it). Lag is read on the primary from `pg_stat_replication`:
//! `replay_lag` keeps its last value after the replica caught up, so a replica counts as
//! lagging only while it is also behind in bytes (`pg_wal_lsn_diff(sent_lsn, replay_lsn)`).
//! Without `pg_read_all_stats` those columns are NULL: that is said, never read as no lag.

use super::ExecError;
use crate::db::{DbContext, DbError};
use postgres::{Client, SimpleQueryMessage, SimpleQueryRow};
use std::time::{Duration, Instant};

/// The streaming replicas' names and lag, as the primary sees them (a replica whose state is
/// hidden from this role counts: its lag is hidden too, and must be said). Read from
/// `pg_stat_get_wal_senders()`, the function under `pg_stat_replication` (which hides the same
/// columns from a role without `pg_read_all_stats`), with a replica's name looked up only for
/// the replicas there are: the view joins every backend's activity and costs a millisecond of
/// server CPU to parse, before every concurrent build.
const REPLICATION: &str = "SELECT coalesce((SELECT coalesce(nullif(s.application_name, ''), s.client_addr::text) \
       FROM pg_stat_get_activity(w.pid) s), 'local'), \
       extract(epoch FROM w.replay_lag)::numeric, pg_wal_lsn_diff(w.sent_lsn, w.replay_lsn) \
     FROM pg_stat_get_wal_senders() w WHERE w.state = 'streaming' OR w.state IS NULL ORDER BY 1";

/// How often the lag is read again while waiting.
const POLL: Duration = Duration::from_secs(1);

/// One replica's lag: `None` fields when this role cannot see them.
struct Lag {
    name: String,
    seconds: Option<f64>,
    bytes: Option<f64>,
}

/// One round trip (the simple protocol: nothing to prepare). The numbers travel as `numeric`
/// text (`extract` gives float8 before PostgreSQL 14, hence the cast), exact whatever the
/// session's `extra_float_digits` (a `float8` would print one digit at -15 and read 13.2 s of
/// lag as 10 s).
fn read(client: &mut Client) -> Result<Vec<Lag>, DbError> {
    let number = |r: &SimpleQueryRow, i: usize| r.get(i).and_then(|v| v.parse().ok());
    Ok(client
        .simple_query(REPLICATION)
        .db_context(|| "cannot read the replicas' lag (pg_stat_get_wal_senders())")?
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(Lag {
                name: r.get(0).unwrap_or("local").to_string(),
                seconds: number(r, 1),
                bytes: number(r, 2),
            }),
            _ => None,
        })
        .collect())
}

/// Waits until no streaming replica's replay lag is over `max` (at most `limit`), logging
/// what it waits for. `warned` remembers that hidden lag was already reported.
pub(super) fn wait_for_replicas(
    client: &mut Client,
    max: Duration,
    limit: Duration,
    warned: &mut bool,
) -> Result<(), ExecError> {
    let started = Instant::now();
    loop {
        if super::stop::requested() {
            return Err(ExecError::Interrupted);
        }
        let lags = read(client).map_err(ExecError::Session)?;
        let hidden: Vec<&str> = lags
            .iter()
            .filter(|l| l.bytes.is_none())
            .map(|l| l.name.as_str())
            .collect();
        if !hidden.is_empty() && !*warned {
            *warned = true;
            tracing::warn!(
                replicas = %hidden.join(", "),
                "cannot see the replay lag of these replicas (this role needs pg_read_all_stats): concurrent builds do not wait for them"
            );
        }
        let over: Vec<String> = lags
            .iter()
            .filter_map(|l| match (l.seconds, l.bytes) {
                (Some(s), Some(b)) if b > 0.0 && s > max.as_secs_f64() => {
                    Some(format!("{} ({s:.1} s, {b:.0} bytes behind)", l.name))
                }
                _ => None,
            })
            .collect();
        if over.is_empty() {
            if !started.elapsed().is_zero() && started.elapsed() >= POLL {
                tracing::info!(waited = ?started.elapsed(), "replicas caught up; building");
            }
            return Ok(());
        }
        let waited = started.elapsed();
        if waited >= limit {
            return Err(ExecError::ReplicaLag {
                replicas: over.join(", "),
                max,
                waited,
            });
        }
        tracing::warn!(
            replicas = %over.join(", "),
            max_replica_lag = ?max,
            "replica replay lag over --max-replica-lag: waiting before the concurrent build"
        );
        std::thread::sleep(POLL);
    }
}
