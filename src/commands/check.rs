//! `pgwarden check` and `pgwarden data generate`.

use crate::check::{self, CheckMode};
use crate::explain::Verdict;
use crate::policy::Policy;
use crate::report::model::CheckReport;
use crate::settings::Settings;

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
            let (queries, hidden, matched) = check::check_stats(&mut client, policy)
                .map_err(|e| anyhow::anyhow!("{} ({})", e, target.redacted()))?;
            notes.extend(matched);
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
