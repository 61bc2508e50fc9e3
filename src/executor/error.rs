//! Why a DDL step failed for good: its lock never came, its statement failed (with the
//! PostgreSQL error kept), an index of its name is another index, or the session failed.

use super::Blocker;
use crate::db::DbError;
use std::time::Duration;

/// A step failed for good.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Every attempt timed out waiting for a lock (or deadlocked).
    #[error("{}", lock_timeout_message(.line, .attempts, .lock_timeout, .blockers))]
    LockTimeout {
        /// 1-based line of the statement that waited (of the first statement, for a transaction
        /// whose history row waited).
        line: u64,
        /// Attempts made (the first plus every retry).
        attempts: u32,
        /// The `lock_timeout` each attempt waited.
        lock_timeout: Duration,
        /// Sessions that held the lock during the failed attempts, one per pid; empty when none was
        /// seen.
        blockers: Vec<Blocker>,
    },
    /// The statement at `line` failed; `cause` reads "statement at line {line} failed: ...".
    #[error("{cause}\n    {excerpt}")]
    Statement {
        /// 1-based line of the failing statement (of the first statement when the history row
        /// failed).
        line: u64,
        /// The statement on one line, cut at 160 characters; empty when the history row failed.
        excerpt: String,
        /// PostgreSQL's error, in the context "statement at line N failed".
        cause: DbError,
    },
    /// An index of the statement's name exists with another definition: refused, not retried.
    #[error(
        "statement at line {line} failed: index {} already exists with another definition:\n    existing:  {}\n    statement: {}\n    drop or rename the existing one, or change the migration\n    {excerpt}",
        crate::escape::ident(.index),
        crate::escape::inline(.existing),
        crate::escape::inline(.wanted)
    )]
    IndexDiffers {
        /// 1-based line of the `CREATE INDEX` statement.
        line: u64,
        /// The statement on one line, cut at 160 characters.
        excerpt: String,
        /// The index name, as stored.
        index: String,
        /// What exists under that name: its `pg_get_indexdef`, or the kind of relation it is.
        existing: String,
        /// The statement's definition (as PostgreSQL deparses it when it could be compared).
        wanted: String,
    },
    /// Streaming replicas stayed over `--max-replica-lag` for the whole wait: the build was not
    /// started.
    #[error(
        "replica(s) {replicas} stayed over --max-replica-lag {} for {}: the concurrent build was not started; rerun once they catch up (a paused replay: SELECT pg_wal_replay_resume() on the replica), or raise --max-replica-lag / --lock-wait",
        humantime::format_duration(*.max),
        humantime::format_duration(std::time::Duration::from_secs(.waited.as_secs()))
    )]
    ReplicaLag {
        /// Each lagging replica with its lag.
        replicas: String,
        /// The lag allowed.
        max: Duration,
        /// How long the wait lasted.
        waited: Duration,
    },
    /// A stop was asked for (SIGINT or SIGTERM) before the statement started.
    #[error(
        "interrupted (SIGINT or SIGTERM) before this step started; rerun the same command to finish"
    )]
    Interrupted,
    /// Setting up, restoring or recording on the session failed.
    #[error(transparent)]
    Session(DbError),
    /// The migration's statements committed, but putting the session's settings back after
    /// them failed: the run stops, so that nothing else runs under the migration's settings.
    #[error("{0}; the run stops so that nothing else runs under the migration's settings")]
    NotRestored(DbError),
    /// The server refused a session setting an option asked for; the second field says what
    /// to do. Nothing ran.
    #[error("{0}; {1}")]
    Setting(DbError, String),
}

impl ExecError {
    /// The PostgreSQL error behind this failure, if one is.
    pub fn db_error(&self) -> Option<&DbError> {
        match self {
            ExecError::Statement { cause, .. }
            | ExecError::Session(cause)
            | ExecError::NotRestored(cause)
            | ExecError::Setting(cause, _) => Some(cause),
            ExecError::LockTimeout { .. }
            | ExecError::IndexDiffers { .. }
            | ExecError::ReplicaLag { .. }
            | ExecError::Interrupted => None,
        }
    }
}

fn lock_timeout_message(
    line: &u64,
    attempts: &u32,
    timeout: &Duration,
    blockers: &[Blocker],
) -> String {
    let who = if blockers.is_empty() {
        "the blocking session could not be identified".to_string()
    } else {
        let list: Vec<String> = blockers.iter().map(|b| b.to_string()).collect();
        format!("blocked by {}", list.join("; "))
    };
    format!(
        "statement at line {line} could not get its lock within lock_timeout {}ms after {attempts} attempts; {who}; end or wait for that session, or raise --lock-timeout / --retries",
        timeout.as_millis()
    )
}
