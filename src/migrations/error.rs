//! Why `migrate apply` applied nothing ([`ApplyError`]), and why one migration failed
//! ([`MigrationError`], which the report keeps with what ran before it).

use super::discovery::UnusableFile;
use super::plan::PlanError;
use super::status::{self, MigrationStatus};
use crate::db::{ConnectError, DbError};
use crate::executor::{ExecError, LockError};

/// `migrate apply` stopped before running any migration.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Files refinery would skip: applying around them would leave a hole in the history.
    #[error(
        "nothing was applied: {} migration file(s) cannot be used:\n  {}",
        .0.len(),
        unusable_lines(.0)
    )]
    Unusable(Vec<UnusableFile>),
    /// Applied migrations whose files changed or vanished.
    #[error(
        "nothing was applied: the migrations have drifted from the database:\n  {}",
        drift_lines(.0)
    )]
    Drift(Vec<MigrationStatus>),
    /// A pending file does not plan (SQL that does not split, transaction control, a mix).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The target could not be reached.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// Another run holds the migration lock, or it could not be asked for.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The history table or the catalog could not be read (or the table created).
    #[error(transparent)]
    Db(#[from] DbError),
    /// The migration session could not be set up.
    #[error(transparent)]
    Session(#[from] ExecError),
}

fn unusable_lines(files: &[UnusableFile]) -> String {
    let lines: Vec<String> = files
        .iter()
        .map(|u| format!("{}: {}", u.path.display(), u.reason))
        .collect();
    lines.join("\n  ")
}

fn drift_lines(rows: &[MigrationStatus]) -> String {
    let lines: Vec<String> = rows.iter().map(status::drift_message).collect();
    lines.join("\n  ")
}

/// One migration failed; the runs before it stay applied. (The executor's error is boxed: it
/// is large, and this travels through every `Result` of the run.)
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// A statement or the history row failed in a transaction migration: none of it stayed.
    #[error("migration {file} was rolled back: {cause}")]
    RolledBack {
        /// The migration's file name.
        file: String,
        /// Why: a lock that never came, or the failing statement's PostgreSQL error.
        cause: Box<ExecError>,
    },
    /// A migration committed and was recorded, then the session could not be put back after
    /// it: applied, and the run stops there.
    #[error("migration {file} was applied and recorded, but the run stopped after it: {cause}")]
    AppliedThenStopped {
        /// The migration's file name.
        file: String,
        /// Statements that ran and committed (all of them).
        committed: usize,
        /// Why the session could not go on.
        cause: Box<ExecError>,
    },
    /// A statement of a no-transaction migration failed; `committed` statements before it
    /// stay committed.
    #[error(
        "migration {file} stopped after {committed} of {total} statements (each commits on its own; it is not recorded, so the next run starts it again): {cause}"
    )]
    Stopped {
        /// The migration's file name.
        file: String,
        /// Statements that ran and committed before the failing one.
        committed: usize,
        /// Statements in the file.
        total: usize,
        /// Why: a lock that never came, or the failing statement's PostgreSQL error.
        cause: Box<ExecError>,
    },
    /// Every statement ran, but a concurrent build left an INVALID index: not recorded.
    #[error(
        "migration {file} ran, but an index it builds is INVALID, so it was not recorded; the next `migrate apply` drops and rebuilds it"
    )]
    InvalidIndex {
        /// The migration's file name.
        file: String,
        /// Statements that ran and committed (all of them).
        committed: usize,
    },
    /// Every statement of a no-transaction migration ran; writing its history row failed.
    #[error("migration {file} ran but was not recorded: {cause}")]
    NotRecorded {
        /// The migration's file name.
        file: String,
        /// Statements that ran and committed (all of them).
        committed: usize,
        /// Why the history row could not be written.
        cause: Box<ExecError>,
    },
}

impl MigrationError {
    /// Statements of the migration that had committed before it failed (0 in a transaction).
    pub fn statements_committed(&self) -> usize {
        match self {
            MigrationError::RolledBack { .. } => 0,
            MigrationError::AppliedThenStopped { committed, .. }
            | MigrationError::Stopped { committed, .. }
            | MigrationError::InvalidIndex { committed, .. }
            | MigrationError::NotRecorded { committed, .. } => *committed,
        }
    }

    /// Whether the migration is applied and recorded all the same.
    pub fn applied(&self) -> bool {
        matches!(self, MigrationError::AppliedThenStopped { .. })
    }

    /// The executor's error behind it, if there is one.
    pub fn exec_error(&self) -> Option<&ExecError> {
        match self {
            MigrationError::RolledBack { cause, .. }
            | MigrationError::AppliedThenStopped { cause, .. }
            | MigrationError::Stopped { cause, .. }
            | MigrationError::NotRecorded { cause, .. } => Some(cause),
            MigrationError::InvalidIndex { .. } => None,
        }
    }
}
