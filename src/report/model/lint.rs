//! The report of `lint`.

use crate::finding::Severity;
use crate::lint::{self, LintFinding, SYNTAX_ERROR};
use crate::report::LintFormat;
use serde::Serialize;

/// The result of `lint`.
#[derive(Debug, Clone, Serialize)]
pub struct LintReport {
    pub files: Vec<String>,
    pub findings: Vec<LintFinding>,
    /// The lock each statement takes and the tables it touches.
    pub statements: Vec<lint::locks::StatementLock>,
    pub fail_on: Severity,
    /// Whether the live database weighed the findings.
    pub database: Option<String>,
    #[serde(skip)]
    pub output_format: Option<LintFormat>,
}

impl LintReport {
    pub fn exit_code(&self) -> u8 {
        if self.findings.iter().any(|f| f.rule == SYNTAX_ERROR) {
            2
        } else {
            u8::from(self.findings.iter().any(|f| f.severity >= self.fail_on))
        }
    }
}
