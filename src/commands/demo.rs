//! `pgwarden demo`: the main job on a built-in throwaway database, no setup needed.
//! Start a server, apply the base schema only, generate data, run `check` (violations and
//! why), run `advise` (candidates proven on a shadow copy) which writes its proposals as the
//! next migration, apply it (concurrently, through the safe executor), run `check` again, and
//! end with a before/after table.

use super::{advise, check, migrate};
use crate::ephemeral::EphemeralServer;
use crate::executor::ExecSettings;
use crate::migrations::runner::ApplyRequest;
use crate::policy::{self, Policy};
use crate::report::Report;
use crate::report::model::{Comparison, DemoReport, DemoSection};
use crate::settings::Settings;
use anyhow::Context;
use std::path::Path;
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

/// The product's default policy, shipped inside the binary.
pub const DEFAULT_POLICY: &str = include_str!("../../policies/default.toml");

/// `demo`: the whole job on a throwaway server with data at `scale`, ending with a before/after
/// table.
pub fn run(settings: &Settings, scale: f64) -> anyhow::Result<DemoReport> {
    tracing::info!("starting a throwaway PostgreSQL server");
    let server = EphemeralServer::start_with(&settings.throwaway(None))
        .context("the demo needs a throwaway PostgreSQL server")?;
    server.create_database("pgwarden_demo")?;
    let dir = tempfile::tempdir().context("cannot create a temp dir for the shipped migrations")?;
    // Only the base schema: the advisor has to find the indexes.
    let (name, sql) = SHIPPED_MIGRATIONS[0];
    std::fs::write(dir.path().join(name), sql).with_context(|| format!("cannot write {name}"))?;
    // The built-in seed policy, unless `--policy` names another (budgets of your own for the
    // same workload, say).
    let policy: Policy = if settings.policy_explicit {
        settings.policy()?
    } else {
        policy::parse(
            DEFAULT_POLICY,
            Path::new("policies/default.toml (built in)"),
        )?
    };
    let demo = Settings {
        database_url: Some(server.url("pgwarden_demo")),
        migrations_dir: dir.path().to_path_buf(),
        policy_path: if settings.policy_explicit {
            settings.policy_path.clone()
        } else {
            "policies/default.toml (built in)".into()
        },
        ..settings.clone()
    };
    let apply = |target_version| ApplyRequest {
        dry_run: false,
        target_version,
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
        "migrate apply --target 1: the base schema, no secondary indexes",
        Report::MigrateApply(migrate::apply(&demo, &apply(Some(1)))?),
    );
    tracing::info!(scale, "generating demo data");
    push(
        "data generate",
        Report::DataGenerate(super::data::generate(&demo, scale)?),
    );
    tracing::info!("checking the workload before the fix");
    let before = check::check(&demo, &policy, crate::check::CheckMode::Analyze, &[])?;
    push(
        "check: the seed workload against the 100 ms budget",
        Report::Check(before.clone()),
    );
    tracing::info!("copying the database to a shadow for the advisor");
    server.copy_database("pgwarden_demo", "pgwarden_shadow")?;
    let advise_args = advise::AdviseOptions {
        shadow_url: Some(server.url("pgwarden_shadow")),
        write_migration: true,
        ..Default::default()
    };
    let advice = advise::advise(&demo, &policy, &advise_args)?;
    push(
        "advise --write-migration: candidates proven on a shadow copy",
        Report::Advise(advice),
    );
    let dry = migrate::apply(
        &demo,
        &ApplyRequest {
            dry_run: true,
            ..apply(None)
        },
    )?;
    push(
        "the fix, as a dry run: the advisor's migration",
        Report::MigrateApply(dry),
    );
    push(
        "migrate apply: build the indexes concurrently",
        Report::MigrateApply(migrate::apply(&demo, &apply(None))?),
    );
    tracing::info!("checking the workload after the fix");
    let after = check::check(&demo, &policy, crate::check::CheckMode::Analyze, &[])?;
    push("check after the fix", Report::Check(after.clone()));
    let comparison = before
        .queries
        .iter()
        .zip(&after.queries)
        .map(|(b, a)| Comparison {
            query: b.name.clone(),
            before_ms: b.verdict.as_ref().map_or(0.0, |v| v.mean_ms),
            before: b.verdict.as_ref().map(|v| v.verdict),
            after_ms: a.verdict.as_ref().map_or(0.0, |v| v.mean_ms),
            after: a.verdict.as_ref().map(|v| v.verdict),
        })
        .collect();
    Ok(DemoReport {
        sections,
        comparison,
    })
}
