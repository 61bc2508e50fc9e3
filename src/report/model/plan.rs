//! The report of `plan`.

use crate::catalog::ServerUsage;
use crate::diff::Change;
use crate::finding::{Finding, Severity};
use serde::Serialize;
use std::path::PathBuf;

/// The result of `plan`.
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    /// The target's connection string, password redacted.
    pub database: String,
    /// Where the desired state came from (the migrations replayed into which shadow).
    pub desired_from: String,
    /// Every finding, including those with no change (notes, constraint indexes).
    pub findings: Vec<Finding>,
    /// The changes, in the order they must run: builds, rebuilds, drops.
    pub changes: Vec<Change>,
    /// The file the plan's SQL was also saved to (`--output`).
    pub output: Option<PathBuf>,
    /// The replicas whose index scans were counted (`--replica`, `[[replica]]`), with each
    /// one's statistics age or why it could not be read; the primary's age first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<ServerUsage>,
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
