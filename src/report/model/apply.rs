//! The report of `apply`.

use super::PlanReport;
use crate::diff::Change;
use crate::migrations::runner::ApplyReport;
use serde::Serialize;
use std::path::PathBuf;

/// What `apply` did.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyChangesReport {
    /// The plan the changes came from.
    pub plan: PlanReport,
    /// Changes to apply (in a dry run: every change the filters chose).
    pub accepted: Vec<Change>,
    /// Changes not applied: (object, why), e.g. declined at the prompt or a drop without
    /// `--allow-drop`.
    pub skipped: Vec<(String, String)>,
    /// The migration file written for the accepted changes; `None` in a dry run or when none was
    /// accepted.
    pub migration: Option<PathBuf>,
    /// The run of the migration that records the accepted changes (boxed: the report is large).
    pub run: Option<Box<ApplyReport>>,
    /// Nothing was written or run.
    pub dry_run: bool,
}
