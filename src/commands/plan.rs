//! `pgwarden plan` and `pgwarden apply`: index health and drift against the migrations.
//!
//! The desired state is what the migrations produce: they are replayed into a shadow database
//! (a throwaway server, or `--shadow-url`, which must be empty), whose catalog is read by the
//! same reader as the target's. `apply` writes the accepted changes as the next versioned
//! migration and runs it through `migrate apply`, so the history records it and the next deploy
//! does not fight it.

use crate::apply::ExecSettings;
use crate::catalog::{Catalog, reader};
use crate::cli::settings::Settings;
use crate::db::{self, ConnectionTarget};
use crate::diff::{self, Change, DiffSettings};
use crate::ephemeral::EphemeralServer;
use crate::finding::{Finding, Severity};
use crate::migrations::runner::{self, ApplyReport, ApplyRequest};
use crate::migrations::{MigrationState, discover, discovery, history, status};
use crate::policy::Policy;
use anyhow::{Context, bail};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// The result of `plan`.
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub database: String,
    pub desired_from: String,
    pub findings: Vec<Finding>,
    pub changes: Vec<Change>,
    pub output: Option<PathBuf>,
}

impl PlanReport {
    /// 1 when there is anything to change or any warning: a CI gate for drift.
    pub fn exit_code(&self) -> u8 {
        u8::from(
            !self.changes.is_empty()
                || self
                    .findings
                    .iter()
                    .any(|f| f.severity >= Severity::Warning),
        )
    }
}

/// What `apply` did.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyChangesReport {
    pub plan: PlanReport,
    pub accepted: Vec<Change>,
    pub skipped: Vec<(String, String)>,
    pub migration: Option<PathBuf>,
    pub run: Option<ApplyReport>,
    pub dry_run: bool,
}

/// Reads the desired catalog by replaying the migrations into an empty shadow database.
/// Then builds the policy's required indexes there too.
fn desired_catalog(
    settings: &Settings,
    policy: Option<&Policy>,
    shadow_url: Option<&str>,
) -> anyhow::Result<(Catalog, String)> {
    let required: &[String] = policy.map_or(&[], |p| p.plan.required_indexes.as_slice());
    let found = discover(&settings.migrations_dir)?;
    let replay = |target: &ConnectionTarget| -> anyhow::Result<Catalog> {
        let mut client = target.connect()?;
        let tables: i64 = client
            .query_one("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND c.relname <> 'refinery_schema_history'", &[])
            .map_err(|e| anyhow::anyhow!(db::describe(&e)))?
            .get(0);
        if tables > 0 {
            bail!(
                "the shadow database {} is not empty ({tables} tables); give --shadow-url an empty database",
                target.redacted()
            );
        }
        require_extensions(&mut client, &found)?;
        let request = ApplyRequest {
            dry_run: false,
            target_version: None,
            exec: ExecSettings::default(),
            lock_wait: Duration::from_secs(60),
        };
        let report = runner::apply(target, &found, &request)?;
        if let Some(f) = report.failure {
            bail!(
                "replaying the migrations into the shadow failed at {}: {}",
                f.file,
                f.error
            );
        }
        for ddl in required {
            client.batch_execute(ddl).map_err(|e| {
                anyhow::anyhow!("the policy's required index `{ddl}` does not build on the migrations' schema: {}", db::describe(&e))
            })?;
        }
        reader::read(&mut client, true)
            .map_err(|e| anyhow::anyhow!("reading the shadow's catalog: {}", db::describe(&e)))
    };
    match shadow_url {
        Some(url) => {
            let target = ConnectionTarget::from_url(url)?;
            Ok((
                replay(&target)?,
                format!("migrations replayed into {}", target.redacted()),
            ))
        }
        None => {
            let facts = target_facts(settings)?;
            let options = crate::ephemeral::EphemeralOptions {
                extra_conf: facts.conf,
                ..Default::default()
            };
            let server = EphemeralServer::start_with(&options).context(
                "plan replays the migrations into a throwaway server (or pass --shadow-url)",
            )?;
            let target = server.create_database("pgwarden_shadow")?;
            use_search_path(&target, &facts.schemas, &found)?;
            Ok((
                replay(&target)?,
                "migrations replayed into a throwaway server".into(),
            ))
        }
    }
}

/// Settings a migration that ran on the target may depend on, for the throwaway server: a
/// migration that takes many locks in one transaction replays only with the target's
/// `max_locks_per_transaction`.
const TARGET_SETTINGS: &str = "SELECT name, setting FROM pg_settings \
     WHERE name IN ('max_locks_per_transaction', 'max_pred_locks_per_transaction') ORDER BY name";

/// What the throwaway server takes from the target.
struct TargetFacts {
    /// `postgresql.conf` lines.
    conf: Vec<String>,
    /// The target's effective search path (`current_schemas(false)`), where its unqualified
    /// names live.
    schemas: Vec<String>,
}

fn target_facts(settings: &Settings) -> anyhow::Result<TargetFacts> {
    let target = settings.target()?;
    let mut client = target.connect()?;
    let describe = |e: postgres::Error| {
        anyhow::anyhow!(
            "reading the settings of {}: {}",
            target.redacted(),
            db::describe(&e)
        )
    };
    let rows = client.query(TARGET_SETTINGS, &[]).map_err(describe)?;
    let mut conf = Vec::new();
    for r in rows {
        let (name, value): (String, String) = (r.get(0), r.get(1));
        // Integers only: nothing else from the target reaches the configuration file.
        if let Ok(n) = value.parse::<u32>() {
            conf.push(format!("{name} = {}", n.max(64)));
        }
    }
    let schemas: Vec<String> = client
        .query_one("SELECT current_schemas(false)::text[]", &[])
        .map_err(describe)?
        .get(0);
    Ok(TargetFacts { conf, schemas })
}

/// Replays resolve unqualified names as the target does: the shadow database's search path is
/// the target's, and its schemas exist there (those the migrations create are left to them).
fn use_search_path(
    shadow: &ConnectionTarget,
    schemas: &[String],
    found: &crate::migrations::Discovered,
) -> anyhow::Result<()> {
    if schemas.is_empty() {
        return Ok(());
    }
    let created: Vec<String> = crate::migrations::created_schemas(found)
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    let mut client = shadow.connect()?;
    let mut sql = String::new();
    for s in schemas.iter().filter(|s| !created.contains(s)) {
        sql.push_str(&format!(
            "CREATE SCHEMA IF NOT EXISTS {};\n",
            crate::escape::ident(s)
        ));
    }
    let list: Vec<String> = schemas.iter().map(|s| crate::escape::ident(s)).collect();
    sql.push_str(&format!(
        "ALTER DATABASE {} SET search_path = {}",
        crate::escape::ident(&shadow.dbname()),
        list.join(", ")
    ));
    client
        .batch_execute(&sql)
        .map_err(|e| anyhow::anyhow!("preparing the shadow's schemas: {}", db::describe(&e)))
}

/// The extensions the migrations create must be available where they are replayed: an error
/// naming each missing one, the migration that needs it, and the fix.
fn require_extensions(
    client: &mut postgres::Client,
    found: &crate::migrations::Discovered,
) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    for (file, name) in crate::migrations::created_extensions(found) {
        let available: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = $1)",
                &[&name],
            )
            .map_err(|e| anyhow::anyhow!(db::describe(&e)))?
            .get(0);
        if !available {
            missing.push(format!(
                "`{}` (created by {file})",
                crate::escape::inline(&name)
            ));
        }
    }
    if !missing.is_empty() {
        bail!(
            "the server the migrations are replayed into lacks the extension(s) {}; install them for its PostgreSQL (Debian: the postgresql-<major>-<extension> or postgresql-contrib package), or pass --shadow-url naming a database where they are available",
            missing.join(", ")
        );
    }
    Ok(())
}

fn diff_settings(policy: Option<&Policy>) -> DiffSettings {
    let mut s = DiffSettings::default();
    if let Some(p) = policy.map(|p| &p.plan) {
        if let Some(days) = p.unused_after_days {
            s.unused_after_seconds = days * 86_400.0;
        }
        if let Some(ratio) = p.bloat_ratio {
            s.bloat_ratio = ratio;
        }
        if let Some(mb) = p.bloat_min_mb {
            s.bloat_min_bytes = (mb * 1e6) as i64;
        }
    }
    s
}

/// Findings and the ordered changes that fix them.
/// Options of `plan`.
#[derive(Default)]
pub struct PlanOptions<'a> {
    pub shadow_url: Option<&'a str>,
    pub output: Option<&'a PathBuf>,
    /// Add the index advisor's proposals for the policy's workload.
    pub advise: bool,
    /// A data copy where the advisor proves candidates (else HypoPG in the target).
    pub advise_shadow_url: Option<&'a str>,
    /// Prove the advisor's candidates on a throwaway copy of the live schema and rows.
    pub advise_throwaway: bool,
}

pub fn plan(
    settings: &Settings,
    policy: Option<&Policy>,
    opts: &PlanOptions,
) -> anyhow::Result<PlanReport> {
    let (shadow_url, output) = (opts.shadow_url, opts.output);
    let (desired, desired_from) = desired_catalog(settings, policy, shadow_url)?;
    let target = settings.target()?;
    let mut client = target.connect()?;
    let live = reader::read(&mut client, false).map_err(|e| {
        anyhow::anyhow!(
            "reading the catalog of {}: {}",
            target.redacted(),
            db::describe(&e)
        )
    })?;
    let (mut findings, mut changes) = diff::compare(&desired, &live, &diff_settings(policy));
    if opts.advise {
        let policy = policy.ok_or_else(|| {
            anyhow::anyhow!("plan --advise needs a policy with a workload (--policy FILE)")
        })?;
        let proving =
            super::advise::Proving::choose(opts.advise_shadow_url, opts.advise_throwaway, policy);
        advisor_changes(
            &target,
            &mut client,
            policy,
            proving,
            &mut findings,
            &mut changes,
        )?;
    }
    if let Some(path) = output {
        std::fs::write(path, changes_sql(&changes))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(PlanReport {
        database: target.redacted(),
        desired_from,
        findings,
        changes,
        output: output.cloned(),
    })
}

/// The advisor's proposals as findings and `+` changes, before the other changes' drops.
fn advisor_changes(
    target: &ConnectionTarget,
    client: &mut postgres::Client,
    policy: &Policy,
    proving: super::advise::Proving<'_>,
    findings: &mut Vec<Finding>,
    changes: &mut Vec<Change>,
) -> anyhow::Result<()> {
    let limits = crate::advisor::select::Limits::from_policy(&policy.advise, None, None);
    let advice = super::advise::run_advisor(target, client, proving, policy, limits)?;
    for p in advice.proposals {
        findings.push(Finding {
            rule: crate::finding::ADVISOR_PROPOSAL,
            severity: Severity::Warning,
            object: format!("{}.{}", p.table, p.name),
            message: format!("the workload needs {}: {}", p.name, p.why),
            help: "build it (plan/apply), or record it with `pgwarden advise --write-migration`"
                .into(),
        });
        changes.push(Change {
            rule: crate::finding::ADVISOR_PROPOSAL,
            sign: '+',
            object: p.name.clone(),
            statements: vec![p.ddl],
            reason: format!("advisor ({}): {}", advice.evaluation, p.why),
            lock: "SHARE UPDATE EXCLUSIVE (reads and writes continue)",
            estimate_seconds: 0.0,
            is_drop: false,
        });
    }
    diff::order(changes);
    Ok(())
}

/// The changes as a SQL script (one statement per line, reasons as comments).
pub fn changes_sql(changes: &[Change]) -> String {
    let mut out = String::from(
        "-- pgwarden:no-transaction\n-- Written by pgwarden: every statement runs on its own (none can run in a transaction).\n",
    );
    for c in changes {
        out.push_str(&format!(
            "\n-- {} {}: {}\n",
            c.rule,
            crate::escape::comment(&c.object),
            crate::escape::comment(&c.reason)
        ));
        for s in &c.statements {
            out.push_str(s);
            out.push_str(";\n");
        }
    }
    out
}

/// Options of `apply`.
pub struct ApplyChangesOptions<'a> {
    pub shadow_url: Option<&'a str>,
    pub yes: bool,
    pub dry_run: bool,
    pub allow_drop: bool,
    pub only: &'a [String],
    pub exec: ExecSettings,
}

/// Runs the plan through the safe executor, as a recorded migration.
pub fn apply(
    settings: &Settings,
    policy: Option<&Policy>,
    opts: &ApplyChangesOptions,
    ask: &mut dyn FnMut(&str) -> Answer,
) -> anyhow::Result<ApplyChangesReport> {
    if let Some(rule) = opts
        .only
        .iter()
        .find(|r| !crate::finding::ALL_RULES.contains(&r.as_str()))
    {
        bail!(
            "unknown rule `{rule}` in --only; rules: {}",
            crate::finding::ALL_RULES.join(", ")
        );
    }
    refuse_pending(settings)?;
    let plan = plan(
        settings,
        policy,
        &PlanOptions {
            shadow_url: opts.shadow_url,
            ..Default::default()
        },
    )?;
    let mut report = ApplyChangesReport {
        plan: plan.clone(),
        accepted: Vec::new(),
        skipped: Vec::new(),
        migration: None,
        run: None,
        dry_run: opts.dry_run,
    };
    let mut all = opts.yes;
    let mut quit = false;
    let chosen: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| opts.only.is_empty() || opts.only.iter().any(|r| r == c.rule))
        .collect();
    for c in &chosen {
        if opts.dry_run {
            report.accepted.push((*c).clone());
            continue;
        }
        let decision = if c.is_drop && !opts.allow_drop {
            ask(&format!(
                "{} {} ({}) -- a drop",
                c.sign,
                c.statements.join("; "),
                c.reason
            ))
        } else if all {
            Answer::Yes
        } else {
            ask(&format!(
                "{} {} ({})",
                c.sign,
                c.statements.join("; "),
                c.reason
            ))
        };
        match decision {
            Answer::Yes => report.accepted.push((*c).clone()),
            Answer::All => {
                all = true;
                report.accepted.push((*c).clone());
            }
            Answer::No => report.skipped.push((
                c.object.clone(),
                if c.is_drop {
                    "drops need --allow-drop or a yes at the prompt".into()
                } else {
                    "declined".into()
                },
            )),
            Answer::Quit => {
                quit = true;
                break;
            }
        }
    }
    if quit {
        // `q` quits without applying anything, even what was accepted before it.
        report.accepted.clear();
        report.skipped = chosen
            .iter()
            .map(|c| {
                (
                    c.object.clone(),
                    "quit at the prompt: nothing applied".into(),
                )
            })
            .collect();
    }
    if opts.dry_run || report.accepted.is_empty() {
        return Ok(report);
    }
    let dir = &settings.migrations_dir;
    let found = discover(dir)?;
    let (version, path) = discovery::next_file_path(dir, &found, "pgwarden_apply");
    std::fs::write(&path, changes_sql(&report.accepted))
        .with_context(|| format!("cannot write {}", path.display()))?;
    report.migration = Some(path);
    let found = discover(dir)?;
    let request = ApplyRequest {
        dry_run: false,
        target_version: Some(version),
        exec: opts.exec.clone(),
        // --lock-wait: how long to wait for another migration run (and a leftover build).
        lock_wait: opts.exec.build_wait,
    };
    report.run = Some(runner::apply(&settings.target()?, &found, &request)?);
    Ok(report)
}

/// How the person (or `--yes`) answered for one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    All,
    Quit,
}

/// `apply` adds a migration: every earlier one must be applied first, or it would run them too.
fn refuse_pending(settings: &Settings) -> anyhow::Result<()> {
    let found = discover(&settings.migrations_dir)?;
    let target = settings.target()?;
    let mut client = target.connect()?;
    let applied = history::read(&mut client)
        .map_err(|e| anyhow::anyhow!(db::describe(&e)))?
        .unwrap_or_default();
    let pending: Vec<String> = status::compute(&found, &applied)
        .iter()
        .filter(|r| r.state != MigrationState::Applied)
        .map(|r| {
            format!(
                "V{}__{} ({})",
                r.version.unwrap_or_default(),
                r.name,
                r.state.label()
            )
        })
        .collect();
    if !pending.is_empty() {
        bail!(
            "apply records its changes as a new migration, so every migration must be applied first: {}; run `pgwarden migrate apply`",
            pending.join(", ")
        );
    }
    Ok(())
}
