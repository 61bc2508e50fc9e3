//! The report of `ci`.

use super::DemoSection;
use serde::Serialize;

/// Every step's report.
#[derive(Debug, Clone, Serialize)]
pub struct CiReport {
    pub sections: Vec<DemoSection>,
}

impl CiReport {
    pub fn exit_code(&self) -> u8 {
        self.sections
            .iter()
            .map(|s| s.report.exit_code())
            .max()
            .unwrap_or(0)
    }
}
