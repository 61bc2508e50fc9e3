//! The report of `watch`: the last sample (the only one with `--once`).

use crate::watch::Sample;
use serde::Serialize;

/// What `watch` saw.
#[derive(Debug, Clone, Serialize)]
pub struct WatchReport {
    /// The target, password redacted.
    pub database: String,
    /// Samples taken (1 with `--once`).
    pub samples: u64,
    /// `--once`: the exit code says whether the sample found something.
    pub once: bool,
    /// The last sample taken, if any.
    pub last: Option<Sample>,
}

impl WatchReport {
    /// `--once`: 1 when the sample found something (a statement over budget or regressed, an
    /// INVALID index, a long lock wait); a long-running watch that stops cleanly: 0.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.once && self.last.as_ref().is_some_and(Sample::has_findings))
    }
}
