//! `pgwarden check` and `pgwarden data generate`.

use crate::check::{self, CheckMode, QueryCheck};
use crate::datagen::{self, GenerateReport};
use crate::explain::Verdict;
use crate::policy::{self, Policy};
use crate::settings::Settings;
use serde::Serialize;

/// The result of `check`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub mode: CheckMode,
    pub database: String,
    pub policy: String,
    pub queries: Vec<QueryCheck>,
    pub over_budget: usize,
    pub errors: usize,
    /// What the reader should know about what was not judged (e.g. hidden statements).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl CheckReport {
    pub fn exit_code(&self) -> u8 {
        if self.errors > 0 {
            2
        } else {
            u8::from(self.over_budget > 0)
        }
    }
}

/// Loads the policy named by the settings.
pub fn load_policy(settings: &Settings) -> anyhow::Result<Policy> {
    Ok(policy::load(&settings.policy_path)?)
}

/// The policy when its file exists (a broken file is an error); `None` when the default file is
/// absent, for commands that work without one. A policy named with `--policy` must exist.
pub fn optional_policy(settings: &Settings) -> anyhow::Result<Option<Policy>> {
    if settings.policy_explicit || settings.policy_path.exists() {
        Ok(Some(policy::load(&settings.policy_path)?))
    } else {
        Ok(None)
    }
}

/// Checks the workload (or pg_stat_statements) against the budgets.
pub fn check(settings: &Settings, policy: &Policy, mode: CheckMode) -> anyhow::Result<CheckReport> {
    if mode != CheckMode::Stats {
        check::refuse_writes(policy)?;
    }
    let target = settings.target()?;
    let mut client = target.connect()?;
    let mut notes = Vec::new();
    let queries = match mode {
        CheckMode::Stats => {
            let (queries, hidden) = check::check_stats(&mut client, policy)
                .map_err(|e| anyhow::anyhow!("{} ({})", e, target.redacted()))?;
            notes.extend(check::stats::hidden_note(hidden));
            queries
        }
        _ => check::check_workload(&mut client, policy, mode),
    };
    let over_budget = queries
        .iter()
        .filter(|q| {
            q.verdict
                .as_ref()
                .is_some_and(|v| v.verdict == Verdict::Over)
        })
        .count();
    let errors = queries.iter().filter(|q| q.error.is_some()).count();
    Ok(CheckReport {
        mode,
        database: target.redacted(),
        policy: settings.policy_path.display().to_string(),
        queries,
        over_budget,
        errors,
        notes,
    })
}

/// `data generate`.
pub fn generate(settings: &Settings, scale: f64) -> anyhow::Result<GenerateReport> {
    let target = settings.target()?;
    Ok(datagen::generate(&target, scale, settings.progress_bar)?)
}
