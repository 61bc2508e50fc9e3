//! `--targets` / `--targets-sql`: which command runs on the fleet, where the targets come
//! from, and the same command's single-database path run on each.

use super::{Cli, Command, MigrateCommand};
use crate::commands::fleet::{self, FleetOptions};
use crate::db::DbContext;
use crate::fleet::Group;
use crate::report::Report;
use crate::settings::Settings;
use anyhow::{Context, bail};

/// The command's name in reports and the ledger, and whether it reads migration versions;
/// an error for a command that does not run on a fleet.
fn command_name(cli: &Cli) -> anyhow::Result<(String, bool)> {
    Ok(match &cli.command {
        Command::Migrate(MigrateCommand::Status) => ("migrate status".into(), true),
        Command::Migrate(MigrateCommand::Apply(a)) if a.dry_run => {
            ("migrate apply --dry-run".into(), true)
        }
        Command::Migrate(MigrateCommand::Apply(_)) => ("migrate apply".into(), true),
        Command::Migrate(MigrateCommand::Verify) => ("migrate verify".into(), true),
        Command::Lint(_) => ("lint".into(), false),
        Command::Check(c) if c.junit.is_some() || c.html.is_some() => {
            bail!("check --junit/--html write one file: not with --targets (use --format json)")
        }
        Command::Check(_) => ("check".into(), false),
        Command::Plan(p) if p.output.is_some() => {
            bail!("plan --output writes one file: not with --targets (use --format json)")
        }
        Command::Plan(_) => ("plan".into(), false),
        Command::Apply(a) if a.plan.is_some() => ("apply --plan".into(), true),
        _ => bail!(
            "--targets and --targets-sql run migrate status|apply|verify, lint, check, plan and apply --plan; not this command"
        ),
    })
}

/// The targets, from the file or the query.
fn groups(cli: &Cli, settings: &Settings) -> anyhow::Result<(Vec<Group>, String)> {
    if let Some(path) = &cli.fleet.targets {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the targets file {}", path.display()))?;
        let name = path.display().to_string();
        let toml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        let groups = if toml {
            crate::fleet::parse_toml(&name, &text)?
        } else {
            crate::fleet::parse_lines(&name, &text)?
        };
        let source = std::fs::canonicalize(path).map_or(name, |p| p.display().to_string());
        return Ok((groups, source));
    }
    let sql = cli.fleet.targets_sql.as_deref().unwrap_or_default();
    if !settings.database_given() {
        bail!("--targets-sql runs on the control database: give it with --database-url");
    }
    let control = settings.target()?;
    let mut client = control.connect()?;
    let mut tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .db_context(|| "cannot start a read-only transaction on the control database")?;
    let rows = tx
        .query(sql, &[])
        .db_context(|| format!("--targets-sql failed on {}", control.redacted()))?;
    let mut out = Vec::new();
    for r in &rows {
        let text = |i: usize| r.try_get::<_, Option<String>>(i);
        match (text(0), text(1), r.len()) {
            (Ok(Some(name)), Ok(Some(url)), 2) => out.push((name, url, None)),
            (Ok(Some(name)), Ok(Some(url)), 3) => match text(2) {
                Ok(group) => out.push((name, url, group)),
                Err(_) => bail!(
                    "--targets-sql: the third column (the group) must be text (cast with ::text)"
                ),
            },
            _ => bail!(
                "--targets-sql must return text columns name, url and optionally group, none NULL (cast with ::text)"
            ),
        }
    }
    let source = format!("--targets-sql on {}: {sql}", control.redacted());
    Ok((crate::fleet::from_rows(out)?, source))
}

/// Runs the command on every target.
pub(super) fn run(cli: &Cli, settings: &Settings) -> anyhow::Result<Report> {
    if let Some(f) = cli.global.format.lint_only().or(match &cli.command {
        Command::Lint(l) => l.output_format,
        _ => None,
    }) {
        bail!(
            "--format {} writes one lint report: with --targets the report is one table or --format json (each target's lint report inside)",
            f.name()
        );
    }
    if cli.global.direct_url.is_some() {
        bail!(
            "--direct-url names one server: with --targets put each target's direct URL in the targets file (the pooled one is not needed for migrate apply)"
        );
    }
    let (command, versions) = command_name(cli)?;
    let (groups, source) = groups(cli, settings)?;
    let opts = FleetOptions {
        command: command.clone(),
        source,
        parallel: usize::from(cli.fleet.parallel),
        per_host: usize::from(cli.fleet.per_host),
        on_error: cli.fleet.on_error.unwrap_or(
            if command == "migrate apply" || command == "apply --plan" {
                fleet::OnError::Stop
            } else {
                fleet::OnError::Continue
            },
        ),
        ledger: cli.fleet.ledger.clone(),
        resume: cli.fleet.resume,
        versions,
    };
    let run_one = |one: &Settings| super::dispatch::single(cli, one, &mut |_| false);
    Ok(Report::Fleet(fleet::run(
        settings, groups, &opts, &run_one,
    )?))
}
