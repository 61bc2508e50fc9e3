//! `pgwarden migrate ...`: each function returns a report value and never prints.

use crate::catalog::{self};
use crate::db::{ConnectionTarget, DbContext};
use crate::executor::{AdvisoryLock, lock::MIGRATION_LOCK_KEY};
use crate::migrations::history::{self, HISTORY_TABLE};
use crate::migrations::runner::{self, ApplyReport, ApplyRequest};
use crate::migrations::{Discovered, MigrationState, discover, status};
use crate::report::model::{
    NewReport, RecordReport, RecordRow, StatusReport, VerifyProblem, VerifyReport,
};
use crate::settings::Settings;
use anyhow::{Context, bail};
use std::time::Duration;

fn discover_dir(settings: &Settings) -> anyhow::Result<Discovered> {
    tracing::debug!(dir = %settings.migrations_dir.display(), "reading migrations");
    Ok(discover(&settings.migrations_dir)?)
}

fn read_history(client: &mut postgres::Client) -> anyhow::Result<Option<Vec<history::AppliedRow>>> {
    Ok(history::read(client).db_context(|| format!("cannot read {HISTORY_TABLE}"))?)
}

/// Read-only status: never creates the history table.
pub fn status(settings: &Settings) -> anyhow::Result<StatusReport> {
    let found = discover_dir(settings)?;
    let target = settings.target()?;
    let mut client = target.connect()?;
    let applied = read_history(&mut client)?;
    let invalid_indexes =
        catalog::invalid_indexes(&mut client).db_context(|| "cannot read pg_index")?;
    Ok(StatusReport {
        database: target.redacted(),
        history_table_exists: applied.is_some(),
        migrations: status::compute(&found, applied.as_deref().unwrap_or_default()),
        invalid_indexes,
    })
}

/// `migrate apply`, or its dry run.
pub fn apply(settings: &Settings, request: &ApplyRequest) -> anyhow::Result<ApplyReport> {
    let found = discover_dir(settings)?;
    Ok(runner::apply(&settings.target()?, &found, request)?)
}

/// Checksums of applied migrations against the files.
pub fn verify(settings: &Settings) -> anyhow::Result<VerifyReport> {
    let found = discover_dir(settings)?;
    let target = settings.target()?;
    let mut client = target.connect()?;
    let applied = read_history(&mut client)?.unwrap_or_default();
    let rows = status::compute(&found, &applied);
    let problems = rows
        .iter()
        .filter(|r| {
            matches!(
                r.state,
                MigrationState::Modified { .. } | MigrationState::MissingFile
            )
        })
        .map(|r| {
            let (applied_checksum, file_checksum) = match &r.state {
                MigrationState::Modified {
                    applied_checksum,
                    file_checksum,
                    ..
                } => (Some(applied_checksum.clone()), Some(file_checksum.clone())),
                _ => (
                    applied
                        .iter()
                        .find(|a| Some(a.version) == r.version)
                        .map(|a| a.checksum.clone()),
                    None,
                ),
            };
            VerifyProblem {
                version: r.version.unwrap_or_default(),
                name: r.name.clone(),
                applied_checksum,
                file_checksum,
                message: status::drift_message(r),
            }
        })
        .collect();
    Ok(VerifyReport {
        database: target.redacted(),
        checked: applied.len(),
        problems,
    })
}

/// Writes the next `V<n>__<name>.sql`.
pub fn new_migration(settings: &Settings, name: &str) -> anyhow::Result<NewReport> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!(
            "migration name `{name}` must be letters, digits and underscores (refinery skips other names); try `{}`",
            name.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect::<String>()
        );
    }
    let dir = &settings.migrations_dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create migrations directory {}", dir.display()))?;
    let found = discover(dir)?;
    let (version, path) = crate::migrations::discovery::next_file_path(dir, &found, name);
    let body = format!(
        "-- V{version}__{name}: describe the change here.\n\
         -- Runs in one transaction with its history row, unless every statement must run outside one\n\
         -- (CREATE INDEX CONCURRENTLY ...). Mixing both needs `-- pgwarden:no-transaction`.\n"
    );
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, body.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(NewReport { version, path })
}

/// Records files up to `version` as applied without running them.
pub fn baseline(
    settings: &Settings,
    version: i32,
    confirm: &mut dyn FnMut(&str) -> bool,
) -> anyhow::Result<RecordReport> {
    let found = discover_dir(settings)?;
    if !found.files.iter().any(|f| f.version == version) {
        bail!(
            "no migration file has version {version} in {}; baseline names the last version the database already has",
            settings.migrations_dir.display()
        );
    }
    let target = settings.target()?;
    let mut client = target.connect()?;
    let applied = read_history(&mut client)?.unwrap_or_default();
    let rows: Vec<RecordRow> = found
        .files
        .iter()
        .filter(|f| f.version <= version && !applied.iter().any(|a| a.version == f.version))
        .map(|f| RecordRow {
            version: f.version,
            name: f.name.clone(),
            old_checksum: None,
            new_checksum: f.checksum.to_string(),
        })
        .collect();
    write_rows(&target, &mut client, "baseline", rows, confirm)
}

/// Records the files' current checksums for applied migrations whose files changed.
pub fn repair(
    settings: &Settings,
    confirm: &mut dyn FnMut(&str) -> bool,
) -> anyhow::Result<RecordReport> {
    let found = discover_dir(settings)?;
    let target = settings.target()?;
    let mut client = target.connect()?;
    let applied = read_history(&mut client)?.unwrap_or_default();
    let rows: Vec<RecordRow> = status::compute(&found, &applied)
        .into_iter()
        .filter_map(|r| match r.state {
            MigrationState::Modified {
                applied_checksum,
                file_checksum,
                ..
            } => Some(RecordRow {
                version: r.version.unwrap_or_default(),
                name: r.name,
                old_checksum: Some(applied_checksum),
                new_checksum: file_checksum,
            }),
            _ => None,
        })
        .collect();
    write_rows(&target, &mut client, "repair", rows, confirm)
}

fn write_rows(
    target: &ConnectionTarget,
    client: &mut postgres::Client,
    action: &'static str,
    rows: Vec<RecordRow>,
    confirm: &mut dyn FnMut(&str) -> bool,
) -> anyhow::Result<RecordReport> {
    let mut report = RecordReport {
        action,
        database: target.redacted(),
        rows,
        written: false,
    };
    if report.rows.is_empty()
        || !confirm(&format!(
            "write {} row(s) to {HISTORY_TABLE}?",
            report.rows.len()
        ))
    {
        return Ok(report);
    }
    crate::executor::lock::refuse_pooler(client, target.single_tcp_port())?;
    let lock = AdvisoryLock::acquire(client, MIGRATION_LOCK_KEY, Duration::from_secs(60))?;
    let result = (|| -> Result<(), postgres::Error> {
        let mut tx = client.transaction()?;
        history::ensure_table(&mut tx)?;
        for r in &report.rows {
            let checksum: u64 = r.new_checksum.parse().unwrap_or_default();
            match action {
                "repair" => {
                    history::update_checksum(&mut tx, r.version, &r.name, checksum)?;
                }
                _ => history::insert(&mut tx, r.version, &r.name, checksum)?,
            }
        }
        tx.commit()
    })();
    lock.release(client);
    result.db_context(|| format!("{action} wrote nothing"))?;
    report.written = true;
    Ok(report)
}
