//! The report of `advise`.

use crate::advisor::Advice;
use crate::advisor::statement::{Excluded, StatsStatement};
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
    /// `--from-stats`: every top statement of pg_stat_statements, advised or skipped with the
    /// reason (empty for other workloads).
    pub statements: Vec<StatsStatement>,
    /// `--from-stats`: statements left out before the top ones were taken, by kind (`null`
    /// for other workloads).
    pub excluded: Option<Excluded>,
    /// The migration written with --write-migration.
    pub migration: Option<PathBuf>,
    /// Wall time of the whole command, in ms.
    pub duration_ms: u128,
}
