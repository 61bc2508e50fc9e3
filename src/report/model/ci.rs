//! The report of `ci`.

use super::DemoSection;
use serde::Serialize;

/// Every step's report.
#[derive(Debug, Clone, Serialize)]
pub struct CiReport {
    /// Each step's title and report, in the order run; the run stops after a failed `migrate
    /// apply`.
    pub sections: Vec<DemoSection>,
}

impl CiReport {
    /// The worst exit code of the steps.
    pub fn exit_code(&self) -> u8 {
        self.sections
            .iter()
            .map(|s| s.report.exit_code())
            .max()
            .unwrap_or(0)
    }
}
