//! The report of `apply --plan FILE`: the fingerprint verified on one database, and what ran.

use crate::diff::Change;
use crate::migrations::runner::ApplyReport;
use crate::reviewed::Difference;
use serde::Serialize;
use std::path::PathBuf;

/// How the database compared with the plan's fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanVerdict {
    /// The fingerprint matches: the plan runs (in a dry run: would run).
    Matches,
    /// A rerun after an interruption: the plan's migration is written but not yet recorded, and
    /// the only differences are on the indexes the plan itself builds, drops or renames.
    Resumed,
    /// The plan's migration is recorded in this database's history: nothing to do.
    AlreadyApplied,
    /// The database no longer matches: nothing ran (exit 2).
    Refused,
}

/// What `apply --plan` did on one database.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewedApplyReport {
    /// The plan file, when applied from the command line.
    pub plan_file: Option<PathBuf>,
    /// The plan's id (carried in the header of the migration written for it).
    pub plan_id: String,
    /// The database the plan was made on (redacted).
    pub made_on: String,
    /// When the plan was made.
    pub made_at: String,
    /// This database (redacted).
    pub database: String,
    /// How it compared with the fingerprint.
    pub verdict: PlanVerdict,
    /// Tables, indexes and applied migrations the fingerprint holds (what was verified).
    pub verified: Verified,
    /// Every difference from the fingerprint: why it was refused, or (resumed) the differences
    /// accepted on the plan's own indexes.
    pub differences: Vec<Difference>,
    /// The plan's changes, in order.
    pub changes: Vec<Change>,
    /// The migration file holding the plan (`None` when refused, or in a dry run before it was
    /// written).
    pub migration: Option<PathBuf>,
    /// The migration file was already there (written by an earlier run of the same plan, on this
    /// or another database) and was reused, not written again.
    pub migration_reused: bool,
    /// The run of that migration (boxed: the report is large).
    pub run: Option<Box<ApplyReport>>,
    /// Verified only: nothing was written or run.
    pub dry_run: bool,
}

/// The size of what the fingerprint covers.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Verified {
    /// Tables the plan touches.
    pub tables: usize,
    /// Indexes on them.
    pub indexes: usize,
    /// Applied migrations.
    pub migrations: usize,
}

impl ReviewedApplyReport {
    /// 2 when refused or when its migration failed, else 0 (already applied included).
    pub fn exit_code(&self) -> u8 {
        let failed = self.run.as_ref().is_some_and(|r| r.failure.is_some());
        if self.verdict == PlanVerdict::Refused || failed {
            2
        } else {
            0
        }
    }

    /// Why it did not do its job, for stderr.
    pub fn error_message(&self) -> Option<String> {
        if self.verdict == PlanVerdict::Refused {
            let list: Vec<String> = self.differences.iter().map(ToString::to_string).collect();
            return Some(format!(
                "the database no longer matches the plan's fingerprint, nothing was applied: {}; make and review a new plan (`pgwarden plan --output plan.json`)",
                list.join("; ")
            ));
        }
        self.run
            .as_ref()
            .and_then(|r| r.failure.as_ref())
            .map(|f| format!("{}; rerun the same `apply --plan` to resume", f.error))
    }
}
