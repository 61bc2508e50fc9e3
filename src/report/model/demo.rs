//! The report of `demo`.

use crate::explain::Verdict;
use crate::report::Report;
use serde::Serialize;

/// One titled step of the demo.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSection {
    /// What the step does, in a sentence.
    pub title: String,
    /// The step's own report.
    pub report: Report,
}

/// One workload query before and after the fix.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The workload query's name in the policy.
    pub query: String,
    /// Mean time in ms before the fix (0 when it could not be measured).
    pub before_ms: f64,
    /// Within or over budget before the fix; `None` when it could not be measured.
    pub before: Option<Verdict>,
    /// Mean time in ms after the fix (0 when it could not be measured).
    pub after_ms: f64,
    /// Within or over budget after the fix; `None` when it could not be measured.
    pub after: Option<Verdict>,
}

/// Everything the demo showed.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// Each step's title and report, in the order run.
    pub sections: Vec<DemoSection>,
    /// Each workload query before and after the fix, in policy order.
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
