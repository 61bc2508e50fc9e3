//! The report of `apply`.

use super::PlanReport;
use crate::diff::Change;
use crate::migrations::runner::ApplyReport;
use serde::Serialize;
use std::path::PathBuf;

/// What `apply` did.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyChangesReport {
    pub plan: PlanReport,
    pub accepted: Vec<Change>,
    pub skipped: Vec<(String, String)>,
    pub migration: Option<PathBuf>,
    /// The run of the migration that records the accepted changes (boxed: the report is large).
    pub run: Option<Box<ApplyReport>>,
    pub dry_run: bool,
}
