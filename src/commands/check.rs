//! `pgwarden check` and `pgwarden data generate`.

use crate::check::{self, CheckMode};
use crate::explain::Verdict;
use crate::policy::Policy;
use crate::report::model::{CheckReport, ReplicaCheck};
use crate::settings::Settings;

/// Checks the workload (or pg_stat_statements) against the budgets; in stats mode on each of
/// `replicas` (`--replica` arguments, plus the policy's) too.
pub fn check(
    settings: &Settings,
    policy: &Policy,
    mode: CheckMode,
    replicas: &[String],
) -> anyhow::Result<CheckReport> {
    if mode != CheckMode::Stats {
        check::refuse_writes(policy)?;
    }
    // The policy's replicas matter only to the statistics; analyze and explain run on the
    // target alone.
    let replicas = if mode == CheckMode::Stats {
        super::replicas::resolve(replicas, Some(policy))?
    } else if replicas.is_empty() {
        Vec::new()
    } else {
        anyhow::bail!(
            "replicas are judged from their statistics only: use --mode stats with --replica (analyze and explain run on the target)"
        );
    };
    let mut report = check_one(&settings.target()?, policy, mode, settings, false)?;
    for r in &replicas {
        let (report_of, error) = match check_one(&r.target, policy, mode, settings, true) {
            Ok(rep) => (Some(rep), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        };
        report.replicas.push(ReplicaCheck {
            server: r.name.clone(),
            report: report_of,
            error,
        });
    }
    Ok(report)
}

/// The check of one server.
fn check_one(
    target: &crate::db::ConnectionTarget,
    policy: &Policy,
    mode: CheckMode,
    settings: &Settings,
    replica: bool,
) -> anyhow::Result<CheckReport> {
    let mut client = target.connect()?;
    if replica {
        super::replicas::require_standby(&mut client)?;
    }
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
        replicas: Vec::new(),
    })
}
