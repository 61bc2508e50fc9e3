//! `pgwarden doctor`: what this database and this machine support, and the fix for each gap.
//! Connects like every command and only reads.

use crate::report::DoctorReport;
use crate::settings::Settings;

/// Diagnoses the target database and this machine.
pub fn doctor(settings: &Settings) -> anyhow::Result<DoctorReport> {
    let target = settings.target()?;
    let mut client = target.connect()?;
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
