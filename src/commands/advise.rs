//! `pgwarden advise`: the index advisor, its dry-run diff and `--write-migration`.

use crate::advisor::{self, Advice, Lab, select::Limits};
use crate::db::ConnectionTarget;
use crate::ephemeral::sample;
use crate::migrations::discovery;
use crate::policy::Policy;
use crate::report::model::AdviseReport;
use crate::settings::Settings;
use anyhow::Context;
use std::path::PathBuf;

/// What `advise` was asked (the command line's `--shadow-url`, `--throwaway`, ...).
#[derive(Debug, Clone, Default)]
pub struct AdviseOptions {
    /// A copy of the target where candidates are built for real.
    pub shadow_url: Option<String>,
    /// Prove candidates on a throwaway copy of the live schema and rows.
    pub throwaway: bool,
    /// Write the proposals as the next versioned migration.
    pub write_migration: bool,
    /// Workload from this SQL file (`-` for stdin) instead of the policy's queries.
    pub sql: Option<PathBuf>,
    /// Workload from pg_stat_statements.
    pub from_stats: bool,
    /// At most this many new indexes per table (`--max-indexes-per-table`); `None`: the policy's.
    pub max_indexes_per_table: Option<usize>,
    /// At most this many MB (10^6 bytes) of new indexes (`--max-total-mb`); `None`: the policy's,
    /// else no limit.
    pub max_total_mb: Option<f64>,
    /// Seconds between the two reads of the write counters (`--write-sample-seconds`); `None`:
    /// the policy's.
    pub write_sample_seconds: Option<u64>,
}

/// The workload to advise on: the policy's queries, a SQL file, or pg_stat_statements.
fn workload(
    policy: &Policy,
    args: &AdviseOptions,
    client: &mut postgres::Client,
) -> anyhow::Result<(Policy, String, Vec<String>)> {
    let mut p = policy.clone();
    if let Some(path) = &args.sql {
        let (text, source) = if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .context("cannot read the workload from stdin")?;
            (text, "stdin".to_string())
        } else {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read workload file {}", path.display()))?;
            (text, path.display().to_string())
        };
        p.queries = advisor::workload::from_sql_text(&text, &source)?;
        return Ok((p, format!("SQL file {source}"), Vec::new()));
    }
    if args.from_stats {
        let columns = advisor::read_columns(client)?;
        let (queries, skipped) = advisor::workload::from_stats(
            client,
            &columns,
            policy.stats.min_calls,
            policy.stats.top,
        )?;
        p.queries = queries;
        return Ok((
            p,
            "pg_stat_statements (values from pg_stats)".into(),
            skipped,
        ));
    }
    Ok((p, "policy".into(), Vec::new()))
}

/// Where the advisor proves its candidates.
#[derive(Debug, Clone, Copy)]
pub enum Proving<'a> {
    /// A copy the user made (never the target itself).
    ShadowUrl(&'a str),
    /// A throwaway server filled with the live schema and up to `max_bytes` of its rows, run
    /// from the server binaries in `bindir` (else searched for).
    Throwaway {
        /// Copy every row while the tables total at most this many bytes, else a sample of that
        /// size.
        max_bytes: i64,
        /// The server binaries' directory (`--pg-bindir`); `None`: searched for.
        bindir: Option<&'a std::path::Path>,
    },
    /// HypoPG in the target.
    Hypothetical,
}

impl<'a> Proving<'a> {
    /// From the command-line choices: a shadow URL, else `--throwaway` (with `settings`'
    /// server binaries), else HypoPG.
    pub fn choose(
        shadow_url: Option<&'a str>,
        throwaway: bool,
        policy: &Policy,
        settings: &'a Settings,
    ) -> Self {
        match (shadow_url, throwaway) {
            (Some(url), _) => Proving::ShadowUrl(url),
            (None, true) => Proving::Throwaway {
                max_bytes: (policy.advise.throwaway_max_mb * 1024.0 * 1024.0) as i64,
                bindir: settings.pg_bindir.as_deref(),
            },
            (None, false) => Proving::Hypothetical,
        }
    }
}

/// Runs the advisor against `target` (only read), proving candidates as `proving` says.
pub fn run_advisor(
    target: &ConnectionTarget,
    client: &mut postgres::Client,
    proving: Proving<'_>,
    policy: &Policy,
    limits: Limits,
) -> anyhow::Result<Advice> {
    let advice = match proving {
        Proving::ShadowUrl(url) => {
            let shadow = ConnectionTarget::from_url(url)?;
            let mut lab = shadow
                .connect()
                .context("cannot connect to the shadow database")?;
            if crate::db::same_database(client, &mut lab)? {
                anyhow::bail!(
                    "the shadow URL names the target database itself; the shadow must be a copy (e.g. CREATE DATABASE shadow TEMPLATE {}), or pass --throwaway",
                    target.dbname()
                );
            }
            advisor::advise(
                client,
                Lab::Shadow {
                    client: &mut lab,
                    label: shadow.redacted(),
                    sample: None,
                },
                policy,
                limits,
            )
        }
        Proving::Throwaway { max_bytes, bindir } => {
            // The copy's server runs the target's major version (pg_dump must be as new).
            let options = crate::ephemeral::EphemeralOptions {
                bindir: bindir.map(std::path::Path::to_path_buf),
                major: Some(crate::db::server_major(client)?),
                ..Default::default()
            };
            let copy =
                sample::sampled_copy(target, client, max_bytes, &options).with_context(|| {
                    format!(
                        "cannot make a throwaway copy of {} to prove the candidates on",
                        target.redacted()
                    )
                })?;
            let mut lab = copy
                .target
                .connect()
                .context("cannot connect to the throwaway copy")?;
            advisor::advise(
                client,
                Lab::Shadow {
                    client: &mut lab,
                    label: copy.summary.to_string(),
                    sample: copy.summary.sampled_share(),
                },
                policy,
                limits,
            )
        }
        Proving::Hypothetical => advisor::advise(client, Lab::Hypothetical, policy, limits),
    };
    advice.with_context(|| format!("advise on {}", target.redacted()))
}

/// `advise`: reads the workload (the policy's, a `--sql` file or `pg_stat_statements`), proves
/// candidates as `args` says and writes the migration when asked; only reads the target.
pub fn advise(
    settings: &Settings,
    policy: &Policy,
    args: &AdviseOptions,
) -> anyhow::Result<AdviseReport> {
    let started = std::time::Instant::now();
    crate::check::refuse_writes(policy)?;
    let target = settings.target()?;
    let mut client = target.connect()?;
    let (mut policy, workload, skipped) = workload(policy, args, &mut client)?;
    if let Some(seconds) = args.write_sample_seconds {
        policy.advise.write_sample_seconds = seconds;
    }
    let policy = &policy;
    let limits = Limits::from_policy(
        &policy.advise,
        args.max_indexes_per_table,
        args.max_total_mb,
    );
    let proving = Proving::choose(args.shadow_url.as_deref(), args.throwaway, policy, settings);
    let advice = run_advisor(&target, &mut client, proving, policy, limits)?;
    let migration = if args.write_migration && !advice.proposals.is_empty() {
        let dir = &settings.migrations_dir;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let found = discovery::discover(dir)?;
        let (_, path) = discovery::next_file_path(dir, &found, "pgwarden_advise");
        std::fs::write(&path, advisor::migration_sql(&advice))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Some(path)
    } else {
        None
    };
    Ok(AdviseReport {
        workload,
        skipped,
        database: target.redacted(),
        advice,
        migration,
        duration_ms: started.elapsed().as_millis(),
    })
}
