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
        line: u64,
        attempts: u32,
        lock_timeout: Duration,
        blockers: Vec<Blocker>,
    },
    /// The statement at `line` failed; `cause` reads "statement at line {line} failed: ...".
    #[error("{cause}\n    {excerpt}")]
    Statement {
        line: u64,
        excerpt: String,
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
        line: u64,
        excerpt: String,
        index: String,
        existing: String,
        wanted: String,
    },
    /// Setting up, restoring or recording on the session failed.
    #[error(transparent)]
    Session(DbError),
}

impl ExecError {
    /// The PostgreSQL error behind this failure, if one is.
    pub fn db_error(&self) -> Option<&DbError> {
        match self {
            ExecError::Statement { cause, .. } | ExecError::Session(cause) => Some(cause),
            ExecError::LockTimeout { .. } | ExecError::IndexDiffers { .. } => None,
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
