//! The report of a fleet run (`--targets`, `--targets-sql`): one line per target, the worst
//! exit code of all, and where the ledger is.

use super::super::Report;
use crate::fleet::ledger::Outcome;
use serde::Serialize;
use std::path::PathBuf;

/// One target's run.
#[derive(Debug, Clone, Serialize)]
pub struct TargetRun {
    /// The target's name.
    pub name: String,
    /// Its group.
    pub group: String,
    /// Its connection string, password redacted.
    pub database: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Highest applied migration version before (migrate commands).
    pub version_before: Option<i32>,
    /// Highest applied migration version after (migrate commands).
    pub version_after: Option<i32>,
    /// Wall time, ms.
    pub duration_ms: u64,
    /// Why it failed, or why it did not start.
    pub error: Option<String>,
    /// The command's own report for this target.
    pub report: Option<Box<Report>>,
}

/// The result of a fleet run.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    /// The command run on each target, e.g. `migrate apply` (`command` is `fleet`).
    pub target_command: String,
    /// Where the targets came from.
    pub source: String,
    /// The ledger file (`--resume` reads it).
    pub ledger: Option<PathBuf>,
    /// Each target, in run order of groups, then source order.
    pub targets: Vec<TargetRun>,
    /// Why the run stopped early, if it did (a failure with `--on-error stop`, a failed group,
    /// SIGINT).
    pub stopped: Option<String>,
}

impl FleetReport {
    /// The worst exit code of all targets (a target that never started counts as 2 unless it
    /// was done in an earlier run).
    pub fn exit_code(&self) -> u8 {
        self.targets
            .iter()
            .map(|t| t.outcome.exit_code())
            .max()
            .unwrap_or(0)
    }

    /// Targets per outcome, for the summary line.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.targets.iter().filter(|t| t.outcome == outcome).count()
    }
}
