//! The report of `advise`.

use crate::advisor::Advice;
use serde::Serialize;
use std::path::PathBuf;

/// The result of `advise`.
#[derive(Debug, Clone, Serialize)]
pub struct AdviseReport {
    /// The target's connection string, password redacted.
    pub database: String,
    /// The advisor's result, its fields flattened into the report's JSON.
    #[serde(flatten)]
    pub advice: Advice,
    /// Where the workload came from.
    pub workload: String,
    /// Statements left out of the workload, and why.
    pub skipped: Vec<String>,
    /// The migration written with --write-migration.
    pub migration: Option<PathBuf>,
    /// Wall time of the whole command, in ms.
    pub duration_ms: u128,
}
