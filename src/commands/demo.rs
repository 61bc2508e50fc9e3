//! `pgwarden demo`: the main job on a built-in throwaway database, no setup needed.
//! Today it shows the deploy path on the seed platform's migrations: status, the dry run,
//! the apply (concurrent index builds included), and the clean status after.

use super::migrate;
use crate::apply::ExecSettings;
use crate::cli::settings::Settings;
use crate::ephemeral::EphemeralServer;
use crate::migrations::runner::ApplyRequest;
use crate::report::Report;
use anyhow::Context;
use serde::Serialize;
use std::time::Duration;

/// The seed platform's migrations, shipped inside the binary so the demo runs anywhere.
pub const SHIPPED_MIGRATIONS: &[(&str, &str)] = &[
    (
        "V1__base_schema.sql",
        include_str!("../../migrations/V1__base_schema.sql"),
    ),
    (
        "V2__idx_projects_status.sql",
        include_str!("../../migrations/V2__idx_projects_status.sql"),
    ),
    (
        "V3__idx_tasks_developer_id.sql",
        include_str!("../../migrations/V3__idx_tasks_developer_id.sql"),
    ),
    (
        "V4__idx_users_skills.sql",
        include_str!("../../migrations/V4__idx_users_skills.sql"),
    ),
    (
        "V5__idx_payments_status.sql",
        include_str!("../../migrations/V5__idx_payments_status.sql"),
    ),
];

/// One titled step of the demo.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSection {
    pub title: String,
    pub report: Report,
}

/// Everything the demo showed.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub sections: Vec<DemoSection>,
}

impl DemoReport {
    /// The demo fails when any of its steps did.
    pub fn exit_code(&self) -> u8 {
        self.sections
            .iter()
            .map(|s| s.report.exit_code())
            .max()
            .unwrap_or(0)
    }
}

pub fn run(settings: &Settings) -> anyhow::Result<DemoReport> {
    tracing::info!("starting a throwaway PostgreSQL server");
    let server =
        EphemeralServer::start().context("the demo needs a throwaway PostgreSQL server")?;
    let target = server.create_database("pgwarden_demo")?;
    let dir = tempfile::tempdir().context("cannot create a temp dir for the shipped migrations")?;
    for (name, sql) in SHIPPED_MIGRATIONS {
        std::fs::write(dir.path().join(name), sql)
            .with_context(|| format!("cannot write {name}"))?;
    }
    let demo_settings = Settings {
        database_url: Some(server.url("pgwarden_demo")),
        migrations_dir: dir.path().to_path_buf(),
        ..settings.clone()
    };
    tracing::info!(database = %target.redacted(), "throwaway database ready");
    let request = |dry_run| ApplyRequest {
        dry_run,
        target_version: None,
        exec: ExecSettings {
            progress_bar: settings.progress_bar,
            ..ExecSettings::default()
        },
        lock_wait: Duration::from_secs(60),
    };
    let mut sections = Vec::new();
    let mut push = |title: &str, report: Report| {
        sections.push(DemoSection {
            title: title.to_string(),
            report,
        })
    };
    push(
        "migrate status on a fresh database",
        Report::MigrateStatus(migrate::status(&demo_settings)?),
    );
    push(
        "migrate apply --dry-run",
        Report::MigrateApply(migrate::apply(&demo_settings, &request(true))?),
    );
    push(
        "migrate apply",
        Report::MigrateApply(migrate::apply(&demo_settings, &request(false))?),
    );
    push(
        "migrate status after the deploy",
        Report::MigrateStatus(migrate::status(&demo_settings)?),
    );
    Ok(DemoReport { sections })
}
