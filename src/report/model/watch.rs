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
    /// Each replica watched (`--replica`, `[[replica]]`): statements are counted per server.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<ReplicaWatch>,
}

/// What `watch` saw on one replica.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaWatch {
    /// The replica's name (the `server` label of its metrics).
    pub server: String,
    /// Its connection string, password redacted.
    pub database: String,
    /// Samples taken of it.
    pub samples: u64,
    /// Its last sample, if any.
    pub last: Option<Sample>,
    /// Why its last sample failed, if it did.
    pub error: Option<String>,
}

impl WatchReport {
    /// `--once`: 2 when a replica could not be sampled, 1 when a sample found something (a
    /// statement over budget or regressed, an INVALID index, a long lock wait) on any server;
    /// a long-running watch that stops cleanly: 0.
    pub fn exit_code(&self) -> u8 {
        if !self.once {
            return 0;
        }
        if self.replicas.iter().any(|r| r.error.is_some()) {
            return 2;
        }
        let found = |last: &Option<Sample>| last.as_ref().is_some_and(Sample::has_findings);
        u8::from(found(&self.last) || self.replicas.iter().any(|r| found(&r.last)))
    }
}
