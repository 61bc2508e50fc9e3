//! `pgwarden apply`: runs the plan through the safe executor. The accepted changes are written
//! as the next versioned migration and run by `migrate apply`, so the history records them and
//! the next deploy does not fight them.

use super::plan::{PlanOptions, changes_sql, plan};
use crate::db::DbContext;
use crate::diff::Change;
use crate::executor::ExecSettings;
use crate::migrations::runner::{self, ApplyRequest};
use crate::migrations::{MigrationState, discover, discovery, history, status};
use crate::policy::Policy;
use crate::report::model::ApplyChangesReport;
use crate::rules::{PlanRule, RuleId};
use crate::settings::Settings;
use anyhow::{Context, bail};

/// Options of `apply`.
pub struct ApplyChangesOptions<'a> {
    /// An empty database to replay the migrations into; `None`: a throwaway server.
    pub shadow_url: Option<&'a str>,
    /// Accept every change without asking (a drop still needs `allow_drop` or a yes).
    pub yes: bool,
    /// List the changes the filters choose and change nothing.
    pub dry_run: bool,
    /// Drops need no confirmation.
    pub allow_drop: bool,
    /// Only changes of these rule ids (empty: every change); an unknown id is an error.
    pub only: &'a [String],
    /// Timeouts and retries for running the recorded migration.
    pub exec: ExecSettings,
    /// `--replica` arguments: their index scans count when judging an index unused.
    pub replicas: &'a [String],
}

/// Every `--only` id is one of plan's rules (parsed through [`RuleId`], the one parser of ids).
fn only_plan_rules(only: &[String]) -> anyhow::Result<()> {
    let plan_rules = || {
        PlanRule::ALL
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for id in only {
        match id.parse::<RuleId>() {
            Ok(RuleId::Plan(_)) => {}
            Ok(other) => bail!(
                "rule `{other}` in --only is not one of plan's rules; rules: {}",
                plan_rules()
            ),
            Err(e) => bail!(
                "unknown rule `{}` in --only{}; rules: {}",
                crate::escape::inline(id),
                e.near
                    .first()
                    .map(|n| format!(" (did you mean `{n}`?)"))
                    .unwrap_or_default(),
                plan_rules()
            ),
        }
    }
    Ok(())
}

/// Runs the plan through the safe executor, as a recorded migration.
pub fn apply(
    settings: &Settings,
    policy: Option<&Policy>,
    opts: &ApplyChangesOptions,
    ask: &mut dyn FnMut(&str) -> Answer,
) -> anyhow::Result<ApplyChangesReport> {
    only_plan_rules(opts.only)?;
    refuse_pending(settings)?;
    let plan = plan(
        settings,
        policy,
        &PlanOptions {
            shadow_url: opts.shadow_url,
            replicas: opts.replicas,
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
            Answer::No => report
                .skipped
                .push((c.object.clone(), "declined at the prompt".into())),
            Answer::Unanswered => report.skipped.push((
                c.object.clone(),
                if c.is_drop {
                    "a drop: pass --allow-drop, or answer yes at a terminal".into()
                } else {
                    "no terminal to confirm on: pass --yes, or answer at a terminal".into()
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
    // A session setting the server refuses must stop the run before the file is written.
    opts.exec
        .check_settable(&mut settings.target()?.connect()?)?;
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
    report.run = Some(Box::new(runner::apply(
        &settings.target()?,
        &found,
        &request,
    )?));
    Ok(report)
}

/// How the person (or `--yes`) answered for one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Accepted: the change is applied.
    Yes,
    /// Declined: the change is skipped.
    No,
    /// Yes to this and every later change (drops still ask without `--allow-drop`).
    All,
    /// Nothing is applied, not even changes accepted earlier.
    Quit,
    /// No terminal to ask on: skipped, with the flag that would have applied it.
    Unanswered,
}

/// `apply` adds a migration: every earlier one must be applied first, or it would run them too.
fn refuse_pending(settings: &Settings) -> anyhow::Result<()> {
    let found = discover(&settings.migrations_dir)?;
    let target = settings.target()?;
    let mut client = target.connect()?;
    let applied = history::read(&mut client)
        .db_context(|| format!("cannot read {}", history::HISTORY_TABLE))?
        .unwrap_or_default();
    let pending = unapplied(&found, &applied, None);
    if !pending.is_empty() {
        bail!(
            "apply records its changes as a new migration, so every migration must be applied first: {}; run `pgwarden migrate apply`",
            pending.join(", ")
        );
    }
    Ok(())
}

/// Every migration not applied (pending, drifted), `V<n>__<name> (state)`, leaving out
/// version `except` (a reviewed plan's own migration).
pub(super) fn unapplied(
    found: &crate::migrations::Discovered,
    applied: &[history::AppliedRow],
    except: Option<i32>,
) -> Vec<String> {
    status::compute(found, applied)
        .iter()
        .filter(|r| r.state != MigrationState::Applied && (except.is_none() || r.version != except))
        .map(|r| {
            format!(
                "V{}__{} ({})",
                r.version.unwrap_or_default(),
                r.name,
                r.state.label()
            )
        })
        .collect()
}
