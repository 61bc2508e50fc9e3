//! The report of `migrate`.

use crate::catalog::InvalidIndex;
use crate::migrations::MigrationStatus;
use crate::migrations::runner;
use serde::Serialize;
use std::path::PathBuf;

/// `migrate status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub database: String,
    pub history_table_exists: bool,
    pub migrations: Vec<MigrationStatus>,
    pub invalid_indexes: Vec<InvalidIndex>,
}

impl StatusReport {
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
    pub database: String,
    pub checked: usize,
    pub problems: Vec<VerifyProblem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyProblem {
    pub version: i32,
    pub name: String,
    pub applied_checksum: Option<String>,
    pub file_checksum: Option<String>,
    pub message: String,
}

/// `migrate new`.
#[derive(Debug, Clone, Serialize)]
pub struct NewReport {
    pub version: i32,
    pub path: PathBuf,
}

/// `migrate baseline` and `migrate repair`: history rows written (or that would be).
#[derive(Debug, Clone, Serialize)]
pub struct RecordReport {
    pub action: &'static str,
    pub database: String,
    pub rows: Vec<RecordRow>,
    pub written: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordRow {
    pub version: i32,
    pub name: String,
    pub old_checksum: Option<String>,
    pub new_checksum: String,
}
