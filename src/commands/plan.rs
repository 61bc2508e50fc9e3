//! `pgwarden plan`: index health and drift against the migrations.
//!
//! The desired state is what the migrations produce (see `shadow`), read by the same reader as
//! the target's; the comparison is `diff`'s pure function. `apply` (its own module) runs the
//! plan.

use super::shadow::desired_catalog;
use crate::catalog::{ServerUsage, reader};
use crate::db::{ConnectionTarget, DbContext};
use crate::diff::{self, Change, DiffSettings};
use crate::finding::{Finding, Severity};
use crate::policy::Policy;
use crate::report::model::PlanReport;
use crate::settings::Settings;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// Options of `plan`.
#[derive(Default)]
pub struct PlanOptions<'a> {
    /// An empty database to replay the migrations into; `None`: a throwaway server.
    pub shadow_url: Option<&'a str>,
    /// Also save the plan to this file: a reviewed plan (JSON, with the fingerprint
    /// `apply --plan` verifies) when its name ends in `.json`, else the SQL.
    pub output: Option<&'a PathBuf>,
    /// Add the index advisor's proposals for the policy's workload.
    pub advise: bool,
    /// A data copy where the advisor proves candidates (else HypoPG in the target).
    pub advise_shadow_url: Option<&'a str>,
    /// Prove the advisor's candidates on a throwaway copy of the live schema and rows.
    pub advise_throwaway: bool,
    /// `--replica` arguments (URL or name=URL): their index scans count too.
    pub replicas: &'a [String],
}

/// Findings and the ordered changes that fix them: the migrations replayed into a shadow against
/// the target's catalog, plus the advisor's proposals with `advise`.
pub fn plan(
    settings: &Settings,
    policy: Option<&Policy>,
    opts: &PlanOptions,
) -> anyhow::Result<PlanReport> {
    let (shadow_url, output) = (opts.shadow_url, opts.output);
    let replicas = super::replicas::resolve(opts.replicas, policy)?;
    let target = settings.target()?;
    // The live catalog is read while the desired one is replayed or loaded from the cache:
    // both wait mostly on a server (on 40,000 indexes, the cache's 0.3 s hid behind the
    // catalog query's second). A failure of the desired side is reported first.
    let (desired, live) = std::thread::scope(|scope| {
        let live = scope.spawn(|| -> anyhow::Result<_> {
            let mut client = target.connect()?;
            let live = reader::read(&mut client, false)
                .db_context(|| format!("reading the catalog of {}", target.redacted()))?;
            Ok((client, live))
        });
        let desired = desired_catalog(settings, policy, shadow_url);
        let live = live
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (desired, live)
    });
    let (desired, desired_from) = desired?;
    let (mut client, live) = live?;
    let mut servers = super::replicas::usage(&replicas);
    let (mut findings, mut changes) = diff::compare_with_replicas(
        &desired,
        &live,
        &servers,
        &DiffSettings::from_policy(policy),
    );
    if !servers.is_empty() {
        servers.insert(
            0,
            ServerUsage {
                server: "primary".into(),
                stats_age_seconds: Some(live.stats_age_seconds),
                scans: Default::default(),
                error: None,
            },
        );
    }
    if opts.advise {
        let policy = policy.ok_or_else(|| {
            anyhow::anyhow!("plan --advise needs a policy with a workload (--policy FILE)")
        })?;
        let proving = super::advise::Proving::choose(
            opts.advise_shadow_url,
            opts.advise_throwaway,
            policy,
            settings,
        );
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
        if crate::reviewed::is_json_path(path) {
            save_plan_file(path, &target, &mut client, &live, &changes)?;
        } else {
            std::fs::write(path, changes_sql(&changes))
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(PlanReport {
        database: target.redacted(),
        desired_from,
        findings,
        changes,
        output: output.cloned(),
        servers,
    })
}

/// `plan --output FILE.json`: the plan with the fingerprint of what it touches, for
/// `apply --plan`; written atomically.
fn save_plan_file(
    path: &Path,
    target: &ConnectionTarget,
    client: &mut postgres::Client,
    live: &crate::catalog::Catalog,
    changes: &[Change],
) -> anyhow::Result<()> {
    let applied = crate::migrations::history::read(client)
        .db_context(|| format!("reading the migration history of {}", target.redacted()))?
        .unwrap_or_default();
    let file = crate::reviewed::PlanFile::made(target.redacted(), changes, live, &applied)
        .map_err(|why| anyhow::anyhow!("cannot save the plan as a reviewed plan: {why}"))?;
    crate::reviewed::save(path, &file).with_context(|| format!("cannot write {}", path.display()))
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
        let last = c.statements.len().saturating_sub(1);
        for (i, s) in c.statements.iter().enumerate() {
            if c.rule == crate::finding::INDEX_DEFINITION_DIFFERS && i == last {
                // The swap's rename gives the index back its own name: no client breaks.
                out.push_str("-- pgwarden:ignore renaming-object\n");
            }
            out.push_str(s);
            out.push_str(";\n");
        }
    }
    out
}
