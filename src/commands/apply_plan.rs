//! `pgwarden apply --plan FILE`: runs exactly a reviewed plan where the database still matches
//! its fingerprint. The plan is written once as the next migration (its header carries the plan
//! id), so applying the same file to another database of a fleet, or again after an
//! interruption, reuses that migration; the runner applies it and records it in the history.
//!
//! A fleet runner loads the file once ([`load_plan`]) and calls [`apply_to_target`] per
//! database.

use crate::catalog::reader;
use crate::db::{ConnectionTarget, DbContext};
use crate::executor::ExecSettings;
use crate::migrations::history::{self, AppliedRow};
use crate::migrations::runner::{self, ApplyRequest};
use crate::migrations::{Discovered, MigrationState, discover, discovery, status};
use crate::report::model::{PlanVerdict, ReviewedApplyReport, Verified};
use crate::reviewed::{self, Fingerprint, PlanFile, statements};
use crate::settings::Settings;
use anyhow::{Context, bail};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Options of `apply --plan`.
#[derive(Debug, Clone)]
pub struct ReviewedOptions {
    /// Verify the fingerprint and show what would run; write and run nothing.
    pub dry_run: bool,
    /// The plan may drop indexes (else a plan with a drop is refused).
    pub allow_drop: bool,
    /// Timeouts and retries for running the plan's migration.
    pub exec: ExecSettings,
}

/// The name part of the migration written for a plan (`V7__pgwarden_plan.sql`).
pub const PLAN_MIGRATION_NAME: &str = "pgwarden_plan";

/// `apply --plan FILE` on the configured database.
pub fn apply_plan(
    settings: &Settings,
    path: &Path,
    opts: &ReviewedOptions,
) -> anyhow::Result<ReviewedApplyReport> {
    let plan = load_plan(path)?;
    let mut report = apply_to_target(&settings.target()?, &settings.migrations_dir, &plan, opts)?;
    report.plan_file = Some(path.to_path_buf());
    Ok(report)
}

/// Reads and validates a plan file: kind and version, every statement of a form `plan` writes,
/// its hashes recomputed. No database is touched.
pub fn load_plan(path: &Path) -> anyhow::Result<PlanFile> {
    Ok(reviewed::load(path)?)
}

/// Verifies `plan`'s fingerprint on `target` and, when it matches, applies the plan there as a
/// migration in `migrations_dir` (written once for every target: an earlier run's file is
/// reused). A database that no longer matches is a [`PlanVerdict::Refused`] report (exit 2)
/// naming every difference, not an error; an error means nothing ran on this target.
pub fn apply_to_target(
    target: &ConnectionTarget,
    migrations_dir: &Path,
    plan: &PlanFile,
    opts: &ReviewedOptions,
) -> anyhow::Result<ReviewedApplyReport> {
    let drops: Vec<&str> = plan.drops().iter().map(|c| c.object.as_str()).collect();
    if !drops.is_empty() && !opts.allow_drop {
        bail!(
            "the plan drops {}: pass --allow-drop to apply it (a reviewed plan does not stand in for the drop confirmation)",
            drops.join(", ")
        );
    }
    let changes = plan.changes().map_err(anyhow::Error::msg)?;
    let statements = plan.statements().map_err(anyhow::Error::msg)?;
    let mut client = target.connect()?;
    let live = reader::read(&mut client, false)
        .db_context(|| format!("reading the catalog of {}", target.redacted()))?;
    let applied = history::read(&mut client)
        .db_context(|| format!("cannot read {}", history::HISTORY_TABLE))?
        .unwrap_or_default();
    drop(client);
    let found = discover(migrations_dir)?;
    let ours = reviewed::written_migration(&found, &plan.plan_id);
    let ours_state = ours.and_then(|f| {
        status::compute(&found, &applied)
            .into_iter()
            .find(|r| r.version == Some(f.version))
            .map(|r| r.state)
    });
    let mut tables: BTreeSet<(String, String)> = statements::touched_tables(&statements, &live);
    tables.extend(
        plan.fingerprint
            .tables
            .iter()
            .map(|t| (t.schema.clone(), t.name.clone())),
    );
    let now = Fingerprint::of(&live, &applied, &tables);
    let mut report = ReviewedApplyReport {
        plan_file: None,
        plan_id: plan.plan_id.clone(),
        made_on: plan.database.clone(),
        made_at: plan.created_at.clone(),
        database: target.redacted(),
        verdict: PlanVerdict::Matches,
        verified: Verified {
            tables: plan.fingerprint.tables.len(),
            indexes: plan
                .fingerprint
                .tables
                .iter()
                .map(|t| t.indexes.len())
                .sum(),
            migrations: plan.fingerprint.migrations.len(),
        },
        differences: plan.fingerprint.differences(&now),
        changes,
        migration: ours.map(|f| f.path.clone()),
        migration_reused: ours.is_some(),
        run: None,
        dry_run: opts.dry_run,
    };
    if ours_state == Some(MigrationState::Applied) {
        report.verdict = PlanVerdict::AlreadyApplied;
        report.differences.clear();
        return Ok(report);
    }
    if !report.differences.is_empty() {
        // Written but not recorded: an interrupted run of this plan may have built, dropped or
        // renamed some of its own indexes; everything else must still match.
        let own = statements::own_indexes(&statements, &live);
        let rest = plan
            .fingerprint
            .without_indexes(&own)
            .differences(&now.without_indexes(&own));
        let foreign = if ours.is_some() && rest.is_empty() {
            foreign_indexes(target, plan)?
        } else {
            Vec::new()
        };
        if ours.is_some() && rest.is_empty() && foreign.is_empty() {
            report.verdict = PlanVerdict::Resumed;
        } else if !foreign.is_empty() {
            // Not an interrupted run of this plan: an index of its name is another index.
            report.verdict = PlanVerdict::Refused;
            report.differences = foreign;
            return Ok(report);
        } else {
            report.verdict = PlanVerdict::Refused;
            if ours.is_some() {
                report.differences = rest;
            }
            return Ok(report);
        }
    }
    refuse_other_pending(&found, &applied, ours.map(|f| f.version))?;
    // A plan of no changes: verified, and nothing to write (no empty migration).
    if opts.dry_run || report.changes.is_empty() {
        return Ok(report);
    }
    let (version, path, reused) = ensure_migration(migrations_dir, plan, &report.changes)?;
    report.migration = Some(path);
    report.migration_reused = reused;
    let found = discover(migrations_dir)?;
    let request = ApplyRequest {
        dry_run: false,
        target_version: Some(version),
        exec: opts.exec.clone(),
        lock_wait: opts.exec.build_wait,
    };
    report.run = Some(Box::new(runner::apply(target, &found, &request)?));
    Ok(report)
}

/// The plan's migration runs alone: any other migration not yet applied here must be applied
/// first (`migrate apply` would run it too).
fn refuse_other_pending(
    found: &Discovered,
    applied: &[AppliedRow],
    ours: Option<i32>,
) -> anyhow::Result<()> {
    let pending = super::apply::unapplied(found, applied, ours);
    if !pending.is_empty() {
        bail!(
            "the plan runs as a new migration, so every other migration must be applied first: {}; run `pgwarden migrate apply`",
            pending.join(", ")
        );
    }
    Ok(())
}

/// The plan's migration: its text is the plan id header and the changes' SQL.
pub fn migration_sql(plan: &PlanFile, changes: &[crate::diff::Change]) -> String {
    format!(
        "{}{}",
        reviewed::header_line(&plan.plan_id),
        super::plan::changes_sql(changes)
    )
}

/// The plan's migration file: the one an earlier run wrote (it must still hold exactly the
/// plan), else written now as the next version without ever replacing a file (two runs racing
/// settle on one file). Returns (version, path, reused).
pub fn ensure_migration(
    dir: &Path,
    plan: &PlanFile,
    changes: &[crate::diff::Change],
) -> anyhow::Result<(i32, PathBuf, bool)> {
    let sql = migration_sql(plan, changes);
    for _ in 0..5 {
        let found = discover(dir)?;
        if let Some(f) = reviewed::written_migration(&found, &plan.plan_id) {
            if f.sql != sql {
                bail!(
                    "{} carries this plan's id but no longer holds exactly its statements; restore it from version control (or delete it if it never ran) and apply the plan again",
                    f.path.display()
                );
            }
            return Ok((f.version, f.path.clone(), true));
        }
        let (version, path) = discovery::next_file_path(dir, &found, PLAN_MIGRATION_NAME);
        let mut tmp = tempfile::Builder::new()
            .prefix(".pgwarden-plan")
            .tempfile_in(dir)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        std::io::Write::write_all(&mut tmp, sql.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        match tmp.persist_noclobber(&path) {
            Ok(_) => return Ok((version, path, false)),
            // Another run took that version first: look again (it may be this plan's).
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e.error).with_context(|| format!("cannot write {}", path.display()));
            }
        }
    }
    bail!("cannot find a free migration version in {}", dir.display())
}

/// The plan's index builds whose name is already taken on the target by an index of another
/// definition: a rerun would refuse them half way, so the plan is refused before anything runs.
fn foreign_indexes(
    target: &crate::db::ConnectionTarget,
    plan: &PlanFile,
) -> anyhow::Result<Vec<reviewed::Difference>> {
    let mut client = target.connect()?;
    let mut out = Vec::new();
    for change in plan.changes().map_err(anyhow::Error::msg)? {
        for text in &change.statements {
            let Ok(split) = crate::sql::split(text) else {
                continue;
            };
            for s in split.statements {
                let Some(build) = &s.index_build else {
                    continue;
                };
                let found = crate::executor::existing(
                    &mut client,
                    build,
                    &s.text,
                    std::time::Duration::ZERO,
                )
                .db_context(|| format!("cannot compare the existing index {}", build.index_name))?;
                if let Some(crate::executor::Existing::Differs { existing, .. }) = found {
                    out.push(reviewed::Difference {
                        kind: "index",
                        object: build.index_name.clone(),
                        change: format!(
                            "exists with another definition ({})",
                            crate::escape::inline(&existing)
                        ),
                    });
                }
            }
        }
    }
    Ok(out)
}
