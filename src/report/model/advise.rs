//! The report of `advise`.

use crate::advisor::Advice;
use serde::Serialize;
use std::path::PathBuf;

/// The result of `advise`.
#[derive(Debug, Clone, Serialize)]
pub struct AdviseReport {
    pub database: String,
    #[serde(flatten)]
    pub advice: Advice,
    /// Where the workload came from.
    pub workload: String,
    /// Statements left out of the workload, and why.
    pub skipped: Vec<String>,
    /// The migration written with --write-migration.
    pub migration: Option<PathBuf>,
    pub duration_ms: u128,
}
