//! Runs the command the command line names: its arguments resolved into the command's options,
//! the command called, its report returned for `main` to render.

use super::{AdviseArgs, Cli, Command, DataCommand, FailOn, LintArgs, MigrateCommand};
use crate::commands::{
    advise, apply, apply_plan, check, ci, data, demo, doctor, lint, migrate, plan, watch,
};
use crate::finding::Severity;
use crate::migrations::runner::ApplyRequest;
use crate::report::Report;
use crate::settings::Settings;
use anyhow::Context;

/// Runs the command `cli` names. `confirm` asks the person at the terminal (or answers from
/// `--yes`).
pub fn run(
    cli: &Cli,
    settings: &Settings,
    confirm: &mut dyn FnMut(&str) -> bool,
) -> anyhow::Result<Report> {
    let lint_format = cli.global.format.lint_only();
    if let Some(f) = lint_format
        && !matches!(cli.command, Command::Lint(_))
    {
        anyhow::bail!(
            "--format {} is a lint report format: only `pgwarden lint` writes it (this command takes --format human or json; `check --junit FILE` writes JUnit)",
            f.name()
        );
    }
    let html = match &cli.command {
        Command::Check(args) => args.html.as_ref(),
        Command::Advise(args) => args.html.as_ref(),
        Command::Demo(args) => args.html.as_ref(),
        _ => None,
    };
    // Refused before anything runs: a long check or an advise that writes a migration must not
    // end with its report lost to a path that was never writable.
    if let Some(path) = html {
        writable(path)?;
    }
    if cli.fleet.given() {
        return super::fleet::run(cli, settings);
    }
    if cli.fleet.resume || cli.fleet.ledger.is_some() {
        anyhow::bail!(
            "--resume and --ledger belong to fleet runs: add --targets FILE or --targets-sql"
        );
    }
    let direct;
    let settings = match cli
        .global
        .direct_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    {
        Some(url) if takes_migration_lock(&cli.command) => {
            check_same_database(settings.database_url.as_deref(), url)?;
            direct = Settings {
                database_url: Some(url.to_string()),
                url_origin: Some("--direct-url (or PGWARDEN_DIRECT_URL)".into()),
                ..settings.clone()
            };
            &direct
        }
        _ => settings,
    };
    let report = single(cli, settings, confirm)?;
    if let Some(path) = html
        && let Some(page) = crate::report::html(&report)
    {
        std::fs::write(path, page)
            .with_context(|| format!("cannot write the HTML report {}", path.display()))?;
    }
    Ok(report)
}

/// With both URLs, the direct one must reach the database the pooled one names (a wrong
/// direct URL would apply the migrations elsewhere). A pooled URL that cannot be reached is
/// logged, not fatal: the run needs only the direct one.
fn check_same_database(pooled: Option<&str>, direct: &str) -> anyhow::Result<()> {
    let Some(pooled) = pooled.filter(|p| !p.trim().is_empty() && *p != direct) else {
        return Ok(());
    };
    let reach = |url: &str, origin: &str| -> anyhow::Result<_> {
        let mut client = crate::db::ConnectionTarget::from_url(url)?
            .with_origin(origin)
            .connect()?;
        Ok(crate::db::database_identity(&mut client)?)
    };
    let direct_id = reach(direct, "--direct-url (or PGWARDEN_DIRECT_URL)")?;
    match reach(pooled, "--database-url (or DATABASE_URL)") {
        Ok(pooled) if pooled != direct_id => Err(crate::executor::lock::NotSameDatabase {
            pooled,
            direct: direct_id,
        }
        .into()),
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(
                "cannot reach --database-url to check that --direct-url names the same database ({e:#}); going on with --direct-url"
            );
            Ok(())
        }
    }
}

/// The commands that take the migration lock: with `--direct-url` they connect there.
fn takes_migration_lock(command: &Command) -> bool {
    matches!(
        command,
        Command::Apply(_)
            | Command::Migrate(
                MigrateCommand::Apply(_)
                    | MigrateCommand::Baseline { .. }
                    | MigrateCommand::Repair { .. }
            )
    )
}

/// Runs the command on one database (the settings' target).
pub(super) fn single(
    cli: &Cli,
    settings: &Settings,
    confirm: &mut dyn FnMut(&str) -> bool,
) -> anyhow::Result<Report> {
    let lint_format = cli.global.format.lint_only();
    let report = match &cli.command {
        Command::Demo(args) => Report::Demo(demo::run(settings, args.scale)?),
        Command::Doctor => Report::Doctor(doctor::doctor(settings)?),
        Command::Watch(args) => {
            let policy = settings.policy()?;
            let opts = watch::WatchOptions {
                listen: args.listen,
                interval: args.interval,
                once: args.once,
                replicas: args.replica.replicas.clone(),
            };
            Report::Watch(watch::watch(settings, &policy, &opts)?)
        }
        Command::Completions(_) | Command::Man(_) => {
            anyhow::bail!("completions and man pages are printed by `cli::generated`")
        }
        Command::Check(args) => {
            let policy = settings.policy()?;
            let report = check::check(settings, &policy, args.mode, &args.replica.replicas)?;
            if let Some(path) = &args.junit {
                std::fs::write(path, crate::report::junit(&report))
                    .with_context(|| format!("cannot write the JUnit report {}", path.display()))?;
            }
            Report::Check(report)
        }
        Command::Plan(args) => {
            let policy = settings.optional_policy()?;
            let opts = plan::PlanOptions {
                shadow_url: args.shadow_url.as_deref(),
                output: args.output.as_ref(),
                advise: args.advise,
                advise_shadow_url: args.advise_shadow_url.as_deref(),
                advise_throwaway: args.advise_throwaway,
                replicas: &args.replica.replicas,
            };
            Report::Plan(plan::plan(settings, policy.as_ref(), &opts)?)
        }
        Command::Apply(args) if args.plan.is_some() => {
            let opts = apply_plan::ReviewedOptions {
                dry_run: args.dry_run,
                allow_drop: args.allow_drop,
                exec: args.exec.settings(settings.progress_bar),
            };
            let path = args.plan.as_deref().unwrap_or(std::path::Path::new(""));
            Report::ApplyPlan(apply_plan::apply_plan(settings, path, &opts)?)
        }
        Command::Apply(args) => {
            let policy = settings.optional_policy()?;
            let opts = apply::ApplyChangesOptions {
                shadow_url: args.shadow_url.as_deref(),
                yes: args.yes,
                dry_run: args.dry_run,
                allow_drop: args.allow_drop,
                only: &args.only,
                exec: args.exec.settings(settings.progress_bar),
                replicas: &args.replica.replicas,
            };
            let interactive = settings.interactive;
            let mut ask = |q: &str| super::prompt::ask_change(q, interactive);
            Report::Apply(apply::apply(settings, policy.as_ref(), &opts, &mut ask)?)
        }
        Command::Ci(args) => Report::Ci(ci::run(settings, args.fail_on.severity())?),
        Command::Lint(args) => {
            let policy = settings.optional_policy()?;
            let mut opts = lint_options(args);
            opts.output_format = opts.output_format.or(lint_format);
            Report::Lint(lint::lint(settings, policy.as_ref(), &opts)?)
        }
        Command::Advise(args) => {
            let policy = settings.policy()?;
            Report::Advise(advise::advise(settings, &policy, &advise_options(args))?)
        }
        Command::Data(DataCommand::Generate { scale }) => {
            Report::DataGenerate(data::generate(settings, *scale)?)
        }
        Command::Migrate(m) => match m {
            MigrateCommand::Status => Report::MigrateStatus(migrate::status(settings)?),
            MigrateCommand::Apply(args) => Report::MigrateApply(migrate::apply(
                settings,
                &ApplyRequest {
                    dry_run: args.dry_run,
                    target_version: args.target,
                    exec: args.exec.settings(settings.progress_bar),
                    lock_wait: args.exec.lock_wait,
                },
            )?),
            MigrateCommand::Verify => Report::MigrateVerify(migrate::verify(settings)?),
            MigrateCommand::New { name } => {
                Report::MigrateNew(migrate::new_migration(settings, name)?)
            }
            MigrateCommand::Baseline { version, yes } => {
                Report::MigrateBaseline(migrate::baseline(settings, *version, &mut |q| {
                    *yes || confirm(q)
                })?)
            }
            MigrateCommand::Repair { yes } => {
                Report::MigrateRepair(migrate::repair(settings, &mut |q| *yes || confirm(q))?)
            }
        },
    };
    Ok(report)
}

impl FailOn {
    /// The lowest severity that fails the run.
    pub fn severity(self) -> Severity {
        match self {
            FailOn::Note => Severity::Note,
            FailOn::Warning => Severity::Warning,
            FailOn::Error => Severity::Error,
        }
    }
}

/// An error naming `path` and the fix when a file cannot be written there.
fn writable(path: &std::path::Path) -> anyhow::Result<()> {
    if path.is_dir() {
        anyhow::bail!(
            "--html {} is a directory: give a file name (e.g. {}/report.html)",
            path.display(),
            path.display()
        );
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if !parent.is_dir() {
        anyhow::bail!(
            "cannot write the HTML report {}: the directory {} does not exist (nothing was run)",
            path.display(),
            parent.display()
        );
    }
    let probe = if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
    } else {
        tempfile::NamedTempFile::new_in(parent).map(drop)
    };
    probe.map_err(|e| {
        anyhow::anyhow!(
            "cannot write the HTML report {}: {} (nothing was run)",
            path.display(),
            e.kind()
        )
    })
}

fn lint_options(args: &LintArgs) -> lint::LintOptions {
    lint::LintOptions {
        paths: args.paths.clone(),
        all: args.all,
        fail_on: args.fail_on.severity(),
        output_format: args.output_format,
    }
}

fn advise_options(args: &AdviseArgs) -> advise::AdviseOptions {
    advise::AdviseOptions {
        shadow_url: args.shadow_url.clone(),
        throwaway: args.throwaway,
        no_sample_copy: args.no_sample_copy,
        write_migration: args.write_migration,
        sql: args.sql.clone(),
        from_stats: args.from_stats,
        max_indexes_per_table: args.max_indexes_per_table,
        max_total_mb: args.max_total_mb,
        write_sample_seconds: args.write_sample_seconds,
    }
}
