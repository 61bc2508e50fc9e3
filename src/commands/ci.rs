//! `pgwarden ci`: the merge gate in one command. Lint the new migrations, verify the applied
//! ones (when a database is given), apply everything to a throwaway database and run `check`
//! (explain mode: every workload query must still plan on the new schema) and `plan` (the
//! migrations must leave no drift, e.g. no INVALID index) there. One report, one exit code:
//! the worst of the steps.

use super::{check, lint, migrate, plan};
use crate::check::CheckMode;
use crate::db::DbContext;
use crate::ephemeral::EphemeralServer;
use crate::executor::ExecSettings;
use crate::finding::Severity;
use crate::migrations::runner::ApplyRequest;
use crate::report::Report;
use crate::report::model::CiReport;
use crate::report::model::DemoSection;
use crate::settings::Settings;
use anyhow::Context;
use std::time::Duration;

/// `ci`: lint, verify (with a database), apply to a throwaway server, then check (explain mode,
/// with a policy) and plan there; `fail_on` is lint's threshold.
pub fn run(settings: &Settings, fail_on: Severity) -> anyhow::Result<CiReport> {
    let policy = settings.optional_policy()?;
    let mut sections = Vec::new();
    let mut push = |title: &str, report: Report| {
        sections.push(DemoSection {
            title: title.into(),
            report,
        })
    };
    let lint_args = lint::LintOptions {
        paths: Vec::new(),
        all: false,
        fail_on,
        output_format: None,
    };
    push(
        "lint the migrations not yet applied",
        Report::Lint(lint::lint(settings, policy.as_ref(), &lint_args)?),
    );
    if settings.database_given() {
        push(
            "migrate verify: applied files unchanged",
            Report::MigrateVerify(migrate::verify(settings)?),
        );
    }
    // With a database given, the throwaway server runs its major version.
    let major = if settings.database_given() {
        Some(crate::db::server_major(&mut settings.target()?.connect()?)?)
    } else {
        None
    };
    let server = EphemeralServer::start_with(&settings.throwaway(major))
        .context("ci applies the migrations to a throwaway server")?;
    server.create_database("pgwarden_ci")?;
    server.create_database("pgwarden_ci_shadow")?;
    let scratch = Settings {
        database_url: Some(server.url("pgwarden_ci")),
        ..settings.clone()
    };
    let request = ApplyRequest {
        dry_run: false,
        target_version: None,
        exec: ExecSettings::default(),
        lock_wait: Duration::from_secs(60),
    };
    let applied = migrate::apply(&scratch, &request)?;
    let failed = applied.failure.is_some();
    if !failed && let Some(p) = &policy {
        // The policy's required indexes are part of the desired state: build them here too,
        // or plan would report them missing from the scratch database.
        let mut client = scratch.target()?.connect()?;
        for ddl in &p.plan.required_indexes {
            client.batch_execute(ddl).db_context(|| {
                format!(
                    "the policy's required index `{}` does not build on the migrations' schema",
                    crate::escape::inline(ddl)
                )
            })?;
        }
    }
    push(
        "migrate apply on a throwaway database",
        Report::MigrateApply(applied),
    );
    if failed {
        return Ok(CiReport { sections });
    }
    if let Some(policy) = &policy {
        push(
            "check --mode explain: the workload plans on the new schema",
            Report::Check(check::check(&scratch, policy, CheckMode::Explain, &[])?),
        );
    }
    let shadow = server.url("pgwarden_ci_shadow");
    let opts = plan::PlanOptions {
        shadow_url: Some(&shadow),
        ..Default::default()
    };
    push(
        "plan: the migrations leave no drift",
        Report::Plan(plan::plan(&scratch, policy.as_ref(), &opts)?),
    );
    Ok(CiReport { sections })
}
