//! pg_stat_statements as `watch` reads it: snapshots of the counters of this database's
//! statements, and the delta between two snapshots, so that each figure describes one interval
//! and not the life of the server. A stats reset or a server restart starts a new epoch (no
//! delta across it); an entry evicted and re-created in between (`pg_stat_statements.max`) is
//! skipped for that interval, never read as negative or as a burst.

pub mod matcher;
pub mod own;

use crate::db::{DbContext, DbError};
use postgres::Client;
use std::collections::HashMap;

/// Cumulative counters of one entry (or, in a delta, their growth over an interval).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
    /// Executions.
    pub calls: i64,
    /// Total execution time, ms.
    pub total_ms: f64,
    /// Rows returned or affected.
    pub rows: i64,
    /// Shared buffer hits.
    pub shared_hit: i64,
    /// Shared blocks read (from the OS cache or disk).
    pub shared_read: i64,
}

impl Counters {
    /// Mean execution time per call, ms (0 without calls).
    pub fn mean_ms(&self) -> f64 {
        if self.calls > 0 {
            self.total_ms / self.calls as f64
        } else {
            0.0
        }
    }

    fn add(&mut self, other: &Counters) {
        self.calls += other.calls;
        self.total_ms += other.total_ms;
        self.rows += other.rows;
        self.shared_hit += other.shared_hit;
        self.shared_read += other.shared_read;
    }

    fn minus(&self, earlier: &Counters) -> Option<Counters> {
        (self.calls >= earlier.calls && self.total_ms >= earlier.total_ms).then(|| Counters {
            calls: self.calls - earlier.calls,
            total_ms: self.total_ms - earlier.total_ms,
            rows: (self.rows - earlier.rows).max(0),
            shared_hit: (self.shared_hit - earlier.shared_hit).max(0),
            shared_read: (self.shared_read - earlier.shared_read).max(0),
        })
    }
}

/// The counters of this database's statements at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Changes on a stats reset or a server restart: deltas never cross it.
    pub epoch: String,
    /// Per (queryid, userid, toplevel): one query has two entries when it also runs nested
    /// (inside a function, or EXPLAINed).
    pub entries: HashMap<(i64, u32, bool), Counters>,
    /// Entries of other roles this role may not see (no queryid without `pg_read_all_stats`).
    pub hidden: i64,
    /// The statement text per queryid (normalized, cut to [`TEXT_LIMIT`] characters and then
    /// marked with `…`).
    pub texts: HashMap<i64, String>,
}

/// Characters of a statement's text kept (memory stays bounded whatever the statements).
pub const TEXT_LIMIT: i32 = 300;

/// The epoch: stats reset and server start.
pub const EPOCH: &str = "SELECT coalesce((SELECT stats_reset::text FROM pg_stat_statements_info), '') \
       || ' ' || pg_postmaster_start_time()::text";

/// Statements of other roles without `pg_read_all_stats` have no queryid: left out. Only what
/// clients send (top level): a query inside a function counts under the function's call, and
/// pgwarden's own EXPLAINs of a policy query (nested) never count as the application's calls.
pub const ENTRIES: &str = "SELECT queryid, userid, calls, total_exec_time, rows, shared_blks_hit, \
       shared_blks_read, \
       CASE WHEN length(query) > $1 THEN left(query, $1) || '…' ELSE query END, toplevel \
     FROM pg_stat_statements \
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
       AND queryid IS NOT NULL AND toplevel";

/// Reads this database's entries. Statements whose queryid is in `exclude` (pgwarden's own)
/// are left out.
pub fn snapshot(client: &mut Client, exclude: &[i64]) -> Result<Snapshot, DbError> {
    let epoch: String = client
        .query_one(EPOCH, &[])
        .db_context(|| "cannot read pg_stat_statements_info")?
        .get(0);
    let rows = client
        .query(ENTRIES, &[&TEXT_LIMIT])
        .db_context(|| "cannot read pg_stat_statements")?;
    let hidden: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
               AND queryid IS NULL",
            &[],
        )
        .db_context(|| "cannot read pg_stat_statements")?
        .get(0);
    let mut s = Snapshot {
        epoch,
        hidden,
        ..Snapshot::default()
    };
    for r in rows {
        let id: i64 = r.get(0);
        if exclude.contains(&id) {
            continue;
        }
        let user: u32 = r.get(1);
        let toplevel: bool = r.get(8);
        s.entries.insert(
            (id, user, toplevel),
            Counters {
                calls: r.get(2),
                total_ms: r.get(3),
                rows: r.get(4),
                shared_hit: r.get(5),
                shared_read: r.get(6),
            },
        );
        s.texts.entry(id).or_insert_with(|| r.get(7));
    }
    Ok(s)
}

/// The whole normalized text of statement `queryid` (for planning it: the snapshot keeps only
/// the start).
pub fn full_text(client: &mut Client, queryid: i64) -> Result<Option<String>, DbError> {
    Ok(client
        .query_opt(
            "SELECT query FROM pg_stat_statements WHERE queryid = $1 AND toplevel LIMIT 1",
            &[&queryid],
        )
        .db_context(|| "cannot read a statement's text")?
        .map(|r| r.get(0)))
}

/// What each statement did between `earlier` and `later`, summed over the roles that ran it;
/// `None` when there is no comparable earlier snapshot (the first, or a reset or restart in
/// between). Only statements called in the interval appear.
pub fn delta(earlier: Option<&Snapshot>, later: &Snapshot) -> Option<HashMap<i64, Counters>> {
    let earlier = earlier.filter(|e| e.epoch == later.epoch)?;
    let mut out: HashMap<i64, Counters> = HashMap::new();
    for (key, now) in &later.entries {
        let grown = match earlier.entries.get(key) {
            Some(before) => match now.minus(before) {
                Some(d) => d,
                // Evicted and created again in between: this interval is unknown for it.
                None => continue,
            },
            // Created within the interval: everything it counts happened in it.
            None => *now,
        };
        if grown.calls > 0 {
            out.entry(key.0).or_default().add(&grown);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(epoch: &str, entries: &[((i64, u32, bool), i64, f64)]) -> Snapshot {
        Snapshot {
            epoch: epoch.into(),
            entries: entries
                .iter()
                .map(|(k, calls, ms)| {
                    (
                        *k,
                        Counters {
                            calls: *calls,
                            total_ms: *ms,
                            ..Counters::default()
                        },
                    )
                })
                .collect(),
            texts: HashMap::new(),
            hidden: 0,
        }
    }

    #[test]
    fn a_delta_is_the_growth_summed_over_roles() {
        let a = snap(
            "e",
            &[((1, 10, true), 100, 1000.0), ((1, 11, true), 5, 50.0)],
        );
        let b = snap(
            "e",
            &[((1, 10, true), 110, 1300.0), ((1, 11, true), 7, 70.0)],
        );
        let d = delta(Some(&a), &b).unwrap();
        assert_eq!(d[&1].calls, 12);
        assert_eq!(d[&1].total_ms, 320.0);
        assert!((d[&1].mean_ms() - 26.666).abs() < 0.01);
    }

    #[test]
    fn a_reset_or_restart_gives_no_delta_and_an_eviction_no_burst() {
        let a = snap("e1", &[((1, 10, true), 100, 1000.0)]);
        let b = snap("e2", &[((1, 10, true), 3, 30.0)]);
        assert!(delta(Some(&a), &b).is_none(), "a reset in between");
        assert!(delta(None, &b).is_none(), "the first sample");
        // Evicted and re-created within the interval: fewer calls than before, skipped.
        let c = snap("e1", &[((1, 10, true), 4, 40.0), ((2, 10, true), 9, 90.0)]);
        let d = delta(Some(&a), &c).unwrap();
        assert!(!d.contains_key(&1));
        // A statement new in the interval counts whole.
        assert_eq!(d[&2].calls, 9);
        // Idle statements do not appear.
        let e = snap("e1", &[((1, 10, true), 100, 1000.0)]);
        assert!(delta(Some(&a), &e).unwrap().is_empty());
    }
}
