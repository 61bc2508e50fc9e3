//! `migrate apply`: exactly once under concurrency (advisory lock), drift refused before anything
//! runs, each migration atomic with its history row where PostgreSQL allows it, concurrent
//! statements run one by one through the safe executor.

use super::discovery::Discovered;
use super::error::{ApplyError, MigrationError};
use super::history::{self, HISTORY_TABLE};
use super::plan::{self, PlannedMigration, RunMode};
use super::status::{self, MigrationState};
use crate::db::{ConnectionTarget, DbContext};
use crate::executor::{
    AdvisoryLock, ExecError, ExecSettings, Executor, StepOutcome, lock::MIGRATION_LOCK_KEY,
};
use postgres::Client;
use serde::Serialize;
use std::time::{Duration, Instant};

mod script;
use script::record_sql;
pub use script::script;

/// What `migrate apply` was asked to do.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    /// Only show the SQL that would run: take no lock, create no history table, change nothing.
    pub dry_run: bool,
    /// Apply up to and including this version.
    pub target_version: Option<i32>,
    /// Timeouts and retries of every step.
    pub exec: ExecSettings,
    /// How long to wait for another runner's lock.
    pub lock_wait: Duration,
}

/// One line of the SQL that runs (or would run), in order.
#[derive(Debug, Clone, Serialize)]
pub struct ScriptLine {
    /// One statement, exactly as it is (or would be) sent.
    pub sql: String,
    /// Sent inside the migration's transaction (false: runs and commits on its own).
    pub in_transaction: bool,
    /// For people: what a long generated line does; the exact SQL stays in `sql`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// One migration that was (or would be) applied.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationRun {
    /// The migration's version.
    pub version: i32,
    /// The name part of the file name (`add_index` in `V7__add_index.sql`).
    pub name: String,
    /// The file name, without its directory.
    pub file: String,
    /// One transaction, or statement by statement (with why); flattened in JSON.
    #[serde(flatten)]
    pub mode: RunMode,
    /// The SQL it runs, in order (a dry run also lists recovery's drops of INVALID indexes).
    pub script: Vec<ScriptLine>,
    /// `None` in a dry run.
    pub outcome: Option<RunOutcome>,
}

/// How one applied migration went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunOutcome {
    /// Wall time of the migration, retries and waits included, in ms.
    pub duration_ms: u128,
    /// Attempts of the transaction, or the most any one statement took (1: no retry).
    pub attempts: u32,
    /// INVALID indexes left by an earlier failed build, dropped before building them again.
    pub recovered_indexes: Vec<String>,
    /// Indexes an interrupted run had built with the statement's definition: adopted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub adopted_indexes: Vec<String>,
}

/// The migration that failed, and how far it got.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationFailure {
    /// The failed migration's version.
    pub version: i32,
    /// Its name part (`add_index` in `V7__add_index.sql`).
    pub name: String,
    /// Its file name, without its directory.
    pub file: String,
    /// The [`MigrationError`]'s message.
    pub error: String,
    /// Statements of a no-transaction migration that had committed before the failure.
    pub statements_committed: usize,
}

/// The result of `migrate apply`.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    /// Nothing ran: `migrations` lists what would run.
    pub dry_run: bool,
    /// The target's connection string with the password redacted.
    pub database: String,
    /// Session settings sent once before the first migration.
    pub session_setup: String,
    /// The same settings in words, for people.
    pub session_summary: String,
    /// History rows before this run (versions recorded as applied).
    pub already_applied: usize,
    /// The highest version recorded as applied before this run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_before: Option<i32>,
    /// Migrations applied (in a dry run: to apply), in order; a failed one is in `failure`.
    pub migrations: Vec<MigrationRun>,
    /// The migration that failed (the run stopped there); `None` when all went through.
    pub failure: Option<MigrationFailure>,
    /// Wall time of the whole run, connecting and locking included, in ms.
    pub duration_ms: u128,
}

/// Applies (or, in a dry run, shows) the pending migrations. A migration that fails is in the
/// report ([`ApplyReport::failure`]); an error means nothing ran.
pub fn apply(
    target: &ConnectionTarget,
    found: &Discovered,
    req: &ApplyRequest,
) -> Result<ApplyReport, ApplyError> {
    refuse_unusable(found)?;
    let started = Instant::now();
    let mut client = target.connect()?;
    req.exec.check_settable(&mut client)?;
    let lock = if req.dry_run {
        None
    } else {
        crate::executor::lock::refuse_pooler(&mut client, target.single_tcp_port())?;
        Some(AdvisoryLock::acquire(
            &mut client,
            MIGRATION_LOCK_KEY,
            req.lock_wait,
        )?)
    };
    if !req.dry_run {
        history::ensure_table(&mut client)
            .db_context(|| format!("cannot create {HISTORY_TABLE}"))?;
    }
    let history_name = history::qualified_name(&mut client)
        .db_context(|| format!("cannot look up {HISTORY_TABLE}"))?;
    let applied = history::read(&mut client)
        .db_context(|| format!("cannot read {HISTORY_TABLE}"))?
        .unwrap_or_default();
    tracing::debug!(applied = applied.len(), "history read");
    let rows = status::compute(found, &applied);
    refuse_drift(&rows)?;
    let pending: Vec<PlannedMigration> = found
        .files
        .iter()
        .filter(|f| !applied.iter().any(|r| r.version == f.version))
        .filter(|f| req.target_version.is_none_or(|t| f.version <= t))
        .map(plan::plan)
        .collect::<Result<_, _>>()?;
    let mut report = ApplyReport {
        dry_run: req.dry_run,
        database: target.redacted(),
        session_setup: req.exec.alone_setup_sql(),
        session_summary: req.exec.alone_setup_summary(),
        already_applied: applied.len(),
        version_before: applied.iter().map(|r| r.version).max(),
        migrations: Vec::new(),
        failure: None,
        duration_ms: 0,
    };
    if req.dry_run {
        for p in &pending {
            let invalid = invalid_to_recover(&mut client, p)?;
            report.migrations.push(run_entry(
                p,
                script(p, &req.exec, &invalid, &history_name),
                None,
            ));
        }
    } else {
        tracing::debug!(pending = pending.len(), "planned");
        let mut exec = Executor::new(client, target, req.exec.clone())?;
        run_all(&mut exec, &pending, &req.exec, &history_name, &mut report);
        tracing::debug!("all migrations run");
        if let Some(lock) = lock {
            lock.release(exec.client());
        }
    }
    report.duration_ms = started.elapsed().as_millis();
    Ok(report)
}

fn refuse_unusable(found: &Discovered) -> Result<(), ApplyError> {
    if found.unusable.is_empty() {
        return Ok(());
    }
    Err(ApplyError::Unusable(found.unusable.clone()))
}

fn refuse_drift(rows: &[status::MigrationStatus]) -> Result<(), ApplyError> {
    let drift: Vec<status::MigrationStatus> = rows
        .iter()
        .filter(|r| r.state.is_drift())
        .cloned()
        .collect();
    if drift.is_empty() {
        return Ok(());
    }
    Err(ApplyError::Drift(drift))
}

fn run_all(
    exec: &mut Executor,
    pending: &[PlannedMigration],
    settings: &ExecSettings,
    history: &str,
    report: &mut ApplyReport,
) {
    for p in pending {
        let started = Instant::now();
        tracing::info!(version = p.file.version, name = %p.file.name, "applying migration");
        match run_one(exec, p, history) {
            Ok(outcome) => {
                let outcome = RunOutcome {
                    duration_ms: started.elapsed().as_millis(),
                    attempts: outcome.attempts,
                    recovered_indexes: outcome.recovered_indexes,
                    adopted_indexes: outcome.adopted_indexes,
                };
                report.migrations.push(run_entry(
                    p,
                    script(p, settings, &[], history),
                    Some(outcome),
                ));
            }
            Err(e) => {
                if e.applied() {
                    let outcome = RunOutcome {
                        duration_ms: started.elapsed().as_millis(),
                        attempts: 1,
                        ..Default::default()
                    };
                    report.migrations.push(run_entry(
                        p,
                        script(p, settings, &[], history),
                        Some(outcome),
                    ));
                }
                report.failure = Some(MigrationFailure {
                    version: p.file.version,
                    name: p.file.name.clone(),
                    file: p.file.file_name(),
                    error: e.to_string(),
                    statements_committed: e.statements_committed(),
                });
                return;
            }
        }
    }
}

/// Runs one migration; its error says how many statements had committed.
fn run_one(
    exec: &mut Executor,
    p: &PlannedMigration,
    history: &str,
) -> Result<StepOutcome, MigrationError> {
    let label = p.file.file_name();
    let record = record_sql(p, &history::now_rfc3339(), history);
    match p.mode {
        RunMode::Transaction => exec
            .run_transaction(
                &label,
                &p.statements,
                crate::executor::Record {
                    sql: &record,
                    table: history::HISTORY_TABLE,
                },
            )
            .map_err(|cause| match cause {
                // Committed and recorded: only the session could not be put back after it.
                ExecError::NotRestored(_) => MigrationError::AppliedThenStopped {
                    file: label.clone(),
                    committed: p.statements.len(),
                    cause: Box::new(cause),
                },
                cause => MigrationError::RolledBack {
                    file: label.clone(),
                    cause: Box::new(cause),
                },
            }),
        RunMode::NoTransaction(_) => {
            let mut total = StepOutcome::default();
            for (i, s) in p.statements.iter().enumerate() {
                let o = exec
                    .run_alone(&label, s)
                    .map_err(|cause| MigrationError::Stopped {
                        file: label.clone(),
                        committed: i,
                        total: p.statements.len(),
                        cause: Box::new(cause),
                    })?;
                total.attempts = total.attempts.max(o.attempts);
                total.recovered_indexes.extend(o.recovered_indexes);
                total.adopted_indexes.extend(o.adopted_indexes);
            }
            let committed = p.statements.len();
            // The history row first: its guard names the migration's tables as the migration
            // did, under its search_path (as a transaction migration's row, in its transaction).
            let recorded = exec.record(&record);
            if let Err(cause) = exec.end_migration() {
                return Err(match recorded {
                    Ok(n) if n > 0 => MigrationError::AppliedThenStopped {
                        file: label,
                        committed,
                        cause: Box::new(cause),
                    },
                    _ => MigrationError::NotRecorded {
                        file: label,
                        committed,
                        cause: Box::new(cause),
                    },
                });
            }
            match recorded {
                Ok(0) => Err(MigrationError::InvalidIndex {
                    file: label,
                    committed,
                }),
                Ok(_) => Ok(total),
                Err(cause) => Err(MigrationError::NotRecorded {
                    file: label,
                    committed,
                    cause: Box::new(cause),
                }),
            }
        }
    }
}

fn run_entry(
    p: &PlannedMigration,
    script: Vec<ScriptLine>,
    outcome: Option<RunOutcome>,
) -> MigrationRun {
    MigrationRun {
        version: p.file.version,
        name: p.file.name.clone(),
        file: p.file.file_name(),
        mode: p.mode.clone(),
        script,
        outcome,
    }
}

fn invalid_to_recover(
    client: &mut Client,
    p: &PlannedMigration,
) -> Result<Vec<String>, ApplyError> {
    let mut found = Vec::new();
    let builds = p.statements.iter().filter_map(|s| s.index_build.as_ref());
    for build in builds.filter(|b| b.concurrently) {
        if let Some(name) = crate::executor::find_invalid(client, build)
            .db_context(|| "cannot look for invalid indexes")?
        {
            found.push(name);
        }
    }
    Ok(found)
}

/// Whether `state` counts as a finding for `migrate status`.
pub fn needs_attention(state: &MigrationState) -> bool {
    !matches!(state, MigrationState::Applied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::discovery::UnusableFile;
    use crate::migrations::status::MigrationStatus;
    use std::path::PathBuf;

    fn row(version: i32, name: &str, state: MigrationState) -> MigrationStatus {
        MigrationStatus {
            version: Some(version),
            name: name.into(),
            path: Some(PathBuf::from(format!("migrations/V{version}__{name}.sql"))),
            applied_on: None,
            state,
        }
    }

    #[test]
    fn drift_is_refused_with_the_drifted_rows_only() {
        let modified = MigrationState::Modified {
            applied_checksum: "123".into(),
            applied_name: "add_index".into(),
            file_checksum: "456".into(),
        };
        let rows = [
            row(1, "base", MigrationState::Applied),
            row(2, "add_index", modified.clone()),
            row(3, "gone", MigrationState::MissingFile),
            row(4, "next", MigrationState::Pending),
        ];
        let err = refuse_drift(&rows).expect_err("drift");
        let ApplyError::Drift(drifted) = &err else {
            panic!("not a drift refusal: {err:?}");
        };
        let versions: Vec<_> = drifted.iter().map(|r| r.version).collect();
        assert_eq!(versions, [Some(2), Some(3)]);
        assert_eq!(drifted[0].state, modified);
        let message = err.to_string();
        assert!(
            message.starts_with("nothing was applied: the migrations have drifted")
                && message.contains("V2__add_index.sql was applied (as add_index) with checksum 123 but the file now hashes to 456")
                && message.contains("V3__gone is recorded as applied"),
            "{message}"
        );
    }

    #[test]
    fn applied_and_pending_rows_are_not_drift() {
        let rows = [
            row(1, "base", MigrationState::Applied),
            row(2, "next", MigrationState::Pending),
        ];
        assert!(refuse_drift(&rows).is_ok());
    }

    #[test]
    fn unusable_files_are_refused_by_name() {
        let found = Discovered {
            files: Vec::new(),
            unusable: vec![UnusableFile {
                path: PathBuf::from("migrations/V1_missing_underscore.sql"),
                reason: "refinery skips this name".into(),
            }],
        };
        let err = refuse_unusable(&found).expect_err("unusable");
        assert!(
            matches!(&err, ApplyError::Unusable(files) if files.len() == 1),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "nothing was applied: 1 migration file(s) cannot be used:\n  migrations/V1_missing_underscore.sql: refinery skips this name"
        );
        assert!(refuse_unusable(&Discovered::default()).is_ok());
    }
}
