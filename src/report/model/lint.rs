//! The report of `lint`.

use crate::finding::Severity;
use crate::lint::{self, IgnoredFinding, LintFinding, SYNTAX_ERROR};
use crate::report::LintFormat;
use serde::Serialize;

/// The result of `lint`.
#[derive(Debug, Clone, Serialize)]
pub struct LintReport {
    /// The files linted, as given or found in the migrations directory.
    pub files: Vec<String>,
    /// Every finding: edited applied migrations first, then each file's by line and column.
    pub findings: Vec<LintFinding>,
    /// Findings an inline `pgwarden:ignore` suppressed, with its reason.
    pub ignored: Vec<IgnoredFinding>,
    /// Locking findings dropped because their table is created earlier in the same run.
    pub on_new_tables: usize,
    /// The lock each statement takes and the tables it touches.
    pub statements: Vec<lint::locks::StatementLock>,
    /// The lowest severity that fails the run (`--fail-on`).
    pub fail_on: Severity,
    /// Whether the live database weighed the findings.
    pub database: Option<String>,
    /// The lint-only format asked for; `None` renders as `--format` says.
    #[serde(skip)]
    pub output_format: Option<LintFormat>,
}

impl LintReport {
    /// 2 when some SQL does not parse, 1 when a finding is at or above `fail_on`, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.findings.iter().any(|f| f.rule == SYNTAX_ERROR) {
            2
        } else {
            u8::from(self.findings.iter().any(|f| f.severity >= self.fail_on))
        }
    }
}
