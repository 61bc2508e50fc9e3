//! The report of `demo`.

use crate::explain::Verdict;
use crate::report::Report;
use serde::Serialize;

/// One titled step of the demo.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSection {
    pub title: String,
    pub report: Report,
}

/// One workload query before and after the fix.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub query: String,
    pub before_ms: f64,
    pub before: Option<Verdict>,
    pub after_ms: f64,
    pub after: Option<Verdict>,
}

/// Everything the demo showed.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub sections: Vec<DemoSection>,
    pub comparison: Vec<Comparison>,
}

impl DemoReport {
    /// The demo fails when a step failed (2) or the workload is still over budget after the
    /// fix (1); the "before" check is expected to find violations.
    pub fn exit_code(&self) -> u8 {
        let step_error = self.sections.iter().any(|s| s.report.exit_code() == 2);
        let still_over = self
            .comparison
            .iter()
            .any(|c| c.after != Some(Verdict::Within));
        if step_error { 2 } else { u8::from(still_over) }
    }
}
