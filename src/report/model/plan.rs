//! The report of `plan`.

use crate::diff::Change;
use crate::finding::{Finding, Severity};
use serde::Serialize;
use std::path::PathBuf;

/// The result of `plan`.
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub database: String,
    pub desired_from: String,
    pub findings: Vec<Finding>,
    pub changes: Vec<Change>,
    pub output: Option<PathBuf>,
}

impl PlanReport {
    /// 1 when there is anything to change or any warning: a CI gate for drift.
    pub fn exit_code(&self) -> u8 {
        u8::from(
            !self.changes.is_empty()
                || self
                    .findings
                    .iter()
                    .any(|f| f.severity >= Severity::Warning),
        )
    }
}
