//! The report of `migrate`.

use crate::catalog::InvalidIndex;
use crate::migrations::MigrationStatus;
use crate::migrations::runner;
use serde::Serialize;
use std::path::PathBuf;

/// `migrate status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// The target's connection string, password redacted.
    pub database: String,
    /// Whether `refinery_schema_history` exists (status never creates it).
    pub history_table_exists: bool,
    /// One row per migration: files and history rows by version, then unusable files.
    pub migrations: Vec<MigrationStatus>,
    /// Every INVALID index outside the system schemas.
    pub invalid_indexes: Vec<InvalidIndex>,
}

impl StatusReport {
    /// True when a migration is not applied or an INVALID index exists: exit 1.
    pub fn needs_attention(&self) -> bool {
        !self.invalid_indexes.is_empty()
            || self
                .migrations
                .iter()
                .any(|m| runner::needs_attention(&m.state))
    }
}

/// `migrate verify`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The target's connection string, password redacted.
    pub database: String,
    /// History rows compared with the files.
    pub checked: usize,
    /// Applied migrations whose file changed or is missing.
    pub problems: Vec<VerifyProblem>,
}

/// An applied migration whose file changed or is gone.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyProblem {
    /// The migration's version.
    pub version: i32,
    /// The migration's name (the file's, or the recorded one when the file is missing).
    pub name: String,
    /// The checksum the history records; `None` only when the history row cannot be found.
    pub applied_checksum: Option<String>,
    /// The file's checksum now; `None` when the file is missing.
    pub file_checksum: Option<String>,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// `migrate new`.
#[derive(Debug, Clone, Serialize)]
pub struct NewReport {
    /// The version given to the new file.
    pub version: i32,
    /// The file written, under the migrations directory.
    pub path: PathBuf,
}

/// `migrate baseline` and `migrate repair`: history rows written (or that would be).
#[derive(Debug, Clone, Serialize)]
pub struct RecordReport {
    /// `baseline` or `repair`.
    pub action: &'static str,
    /// The target's connection string, password redacted.
    pub database: String,
    /// The rows to write (empty when there was nothing to do).
    pub rows: Vec<RecordRow>,
    /// The rows were confirmed and written.
    pub written: bool,
}

/// One history row `baseline` inserts or `repair` updates.
#[derive(Debug, Clone, Serialize)]
pub struct RecordRow {
    /// The migration's version.
    pub version: i32,
    /// The migration's name, from its file.
    pub name: String,
    /// The checksum recorded before a repair; `None` for a baseline.
    pub old_checksum: Option<String>,
    /// The file's checksum, which is written.
    pub new_checksum: String,
}
