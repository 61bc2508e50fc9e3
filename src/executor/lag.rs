//! The wait before a concurrent index build while a streaming replica lags: a build writes its
//! whole index to the WAL, and a replica already behind falls further behind (stale reads on
//! it, a primary that keeps WAL for it). Lag is read on the primary from `pg_stat_replication`:
//! `replay_lag` keeps its last value after the replica caught up, so a replica counts as
//! lagging only while it is also behind in bytes (`pg_wal_lsn_diff(sent_lsn, replay_lsn)`).
//! Without `pg_read_all_stats` those columns are NULL: that is said, never read as no lag.

use super::ExecError;
use crate::db::{DbContext, DbError};
use postgres::Client;
use std::time::{Duration, Instant};

/// The streaming replicas' names and lag, as the primary sees them.
const REPLICATION: &str = "SELECT coalesce(nullif(application_name, ''), client_addr::text, 'local')::text, \
       extract(epoch FROM replay_lag)::float8, pg_wal_lsn_diff(sent_lsn, replay_lsn)::float8 \
     FROM pg_stat_replication WHERE state = 'streaming' ORDER BY 1";

/// How often the lag is read again while waiting.
const POLL: Duration = Duration::from_secs(1);

/// One replica's lag: `None` fields when this role cannot see them.
struct Lag {
    name: String,
    seconds: Option<f64>,
    bytes: Option<f64>,
}

fn read(client: &mut Client) -> Result<Vec<Lag>, DbError> {
    Ok(client
        .query(REPLICATION, &[])
        .db_context(|| "cannot read pg_stat_replication")?
        .iter()
        .map(|r| Lag {
            name: r.get(0),
            seconds: r.get(1),
            bytes: r.get(2),
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
