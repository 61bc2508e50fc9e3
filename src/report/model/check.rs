//! The report of `check`.

use crate::check::{CheckMode, QueryCheck};
use serde::Serialize;

/// The result of `check`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub mode: CheckMode,
    pub database: String,
    pub policy: String,
    pub queries: Vec<QueryCheck>,
    pub over_budget: usize,
    pub errors: usize,
    /// What the reader should know about what was not judged (e.g. hidden statements).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl CheckReport {
    pub fn exit_code(&self) -> u8 {
        if self.errors > 0 {
            2
        } else {
            u8::from(self.over_budget > 0)
        }
    }
}
