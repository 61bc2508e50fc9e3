//! `pgwarden doctor`: what this database and this machine support, and the fix for each gap.
//! Connects like every command and only reads.

use crate::report::DoctorReport;
use crate::settings::Settings;

/// Diagnoses the target database and this machine.
pub fn doctor(settings: &Settings) -> anyhow::Result<DoctorReport> {
    let target = settings.target()?;
    let mut client = target.connect()?;
    // Its own limits, whatever the role inherits: a lock held on a catalog or the history
    // table, or a role's 1 ms statement_timeout, must not hang or fail the diagnosis.
    client
        .batch_execute(
            "SET statement_timeout = '30s'; SET lock_timeout = '5s'; \
             SET idle_in_transaction_session_timeout = 0",
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot set doctor's own timeouts: {}",
                crate::db::describe(&e)
            )
        })?;
    let found = crate::doctor::diagnose(
        &mut client,
        &target,
        &settings.migrations_dir,
        settings.pg_bindir.as_deref(),
    )?;
    Ok(DoctorReport {
        database: target.redacted(),
        server: found.server,
        checks: found.checks,
    })
}
