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
    /// With HypoPG: no sample copy for the candidates HypoPG cannot model.
    pub no_sample_copy: bool,
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

/// The workload to advise on, where it came from, and what was left out of it.
struct Workload {
    policy: Policy,
    source: String,
    skipped: Vec<String>,
    /// `--from-stats`: the statements read, and which queries are planned as generic plans.
    stats: Option<advisor::StatsWorkload>,
}

/// The workload to advise on: the policy's queries, a SQL file, or pg_stat_statements.
fn workload(
    policy: &Policy,
    args: &AdviseOptions,
    client: &mut postgres::Client,
) -> anyhow::Result<Workload> {
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
        return Ok(Workload {
            policy: p,
            source: format!("SQL file {source}"),
            skipped: Vec::new(),
            stats: None,
        });
    }
    if args.from_stats {
        let columns = advisor::read_columns(client)?;
        let own = crate::statements::own::recorded(client).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the record of pgwarden's own statements");
            Vec::new()
        });
        let stats = advisor::from_stats(
            client,
            &columns,
            (policy.stats.min_calls, policy.stats.top),
            &own,
        )?;
        p.queries = stats.queries.clone();
        return Ok(Workload {
            policy: p,
            source: format!("pg_stat_statements ({})", stats.values_from),
            skipped: Vec::new(),
            stats: Some(stats),
        });
    }
    Ok(Workload {
        policy: p,
        source: "policy".into(),
        skipped: Vec::new(),
        stats: None,
    })
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
    /// HypoPG in the target; what it cannot model is proven on a throwaway sample copy of up
    /// to `max_bytes` of rows, when `sample` allows one.
    Hypothetical {
        /// The sample copy's limits; `None`: no copy (`--no-sample-copy`).
        sample: Option<(i64, Option<&'a std::path::Path>)>,
    },
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
            (None, false) => Proving::Hypothetical {
                sample: Some((
                    (policy.advise.throwaway_max_mb * 1024.0 * 1024.0) as i64,
                    settings.pg_bindir.as_deref(),
                )),
            },
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
    let input = AdviseInput {
        policy,
        limits,
        generic: &[],
    };
    run_advisor_with(target, client, proving, input)
}

/// What the advisor works on: the workload (in `policy`), the limits on its proposals, and
/// which workload queries are planned as generic plans (see [`advisor::advise_workload`]).
pub struct AdviseInput<'a> {
    /// The policy, its queries the workload.
    pub policy: &'a Policy,
    /// Limits on the proposals.
    pub limits: Limits,
    /// Per workload query: `Some(pg_stat_statements' mean ms)` when planned generically.
    pub generic: &'a [Option<f64>],
}

/// [`run_advisor`] with queries planned as generic plans.
pub fn run_advisor_with(
    target: &ConnectionTarget,
    client: &mut postgres::Client,
    proving: Proving<'_>,
    input: AdviseInput<'_>,
) -> anyhow::Result<Advice> {
    let AdviseInput {
        policy,
        limits,
        generic,
    } = input;
    lab_session(client)?;
    let advice = match proving {
        Proving::ShadowUrl(url) => {
            let shadow = ConnectionTarget::from_url(url)?.with_origin("--shadow-url");
            let mut lab = shadow
                .connect()
                .context("cannot connect to the shadow database")?;
            lab_session(&mut lab)?;
            if crate::db::same_database(client, &mut lab)? {
                anyhow::bail!(
                    "the shadow URL names the target database itself; the shadow must be a copy (e.g. CREATE DATABASE shadow TEMPLATE {}), or pass --throwaway",
                    target.dbname()
                );
            }
            advisor::advise_workload(
                client,
                Lab::Shadow {
                    client: &mut lab,
                    label: shadow.redacted(),
                    sample: None,
                },
                policy,
                limits,
                generic,
            )
        }
        Proving::Throwaway { max_bytes, bindir } => {
            let copy = throwaway_copy(target, client, max_bytes, bindir)?;
            record_own_statements(client);
            let mut lab = copy
                .target
                .connect()
                .context("cannot connect to the throwaway copy")?;
            lab_session(&mut lab)?;
            advisor::advise_workload(
                client,
                Lab::Shadow {
                    client: &mut lab,
                    label: copy.summary.to_string(),
                    sample: copy.summary.sampled_share(),
                },
                policy,
                limits,
                generic,
            )
        }
        Proving::Hypothetical { sample } => {
            let major = crate::db::server_major(client)?;
            let starter = sample.map(|(max_bytes, bindir)| -> advisor::SampleStarter<'_> {
                Box::new(move || sample_for_hypopg(target, major, max_bytes, bindir))
            });
            advisor::advise_workload(
                client,
                Lab::Hypothetical { starter },
                policy,
                limits,
                generic,
            )
        }
    };
    advice.with_context(|| format!("advise on {}", target.redacted()))
}

/// No wait for a lock longer than 10 s on the advisor's sessions: creating a hypothetical
/// index or building a candidate waits behind any lock on its table (a migration, a
/// `LOCK TABLE`), and the run would hang without a word.
fn lab_session(client: &mut postgres::Client) -> anyhow::Result<()> {
    client
        .batch_execute("SET lock_timeout = '10s'")
        .context("cannot set lock_timeout on the advisor's session")
}

/// A throwaway server holding the live schema and up to `max_bytes` of rows of `target`, run
/// from the binaries of the target's major version.
fn throwaway_copy(
    target: &ConnectionTarget,
    client: &mut postgres::Client,
    max_bytes: i64,
    bindir: Option<&std::path::Path>,
) -> anyhow::Result<sample::SampledCopy> {
    // The copy's server runs the target's major version (pg_dump must be as new).
    let options = crate::ephemeral::EphemeralOptions {
        bindir: bindir.map(std::path::Path::to_path_buf),
        major: Some(crate::db::server_major(client)?),
        ..Default::default()
    };
    sample::sampled_copy(target, client, max_bytes, &options).with_context(|| {
        format!(
            "cannot make a throwaway copy of {} to prove the candidates on",
            target.redacted()
        )
    })
}

/// The sample copy HypoPG's lab asks for when a candidate is beyond HypoPG: its own
/// connection to the target (the lab holds the first), or why there is none, with the fix.
fn sample_for_hypopg(
    target: &ConnectionTarget,
    major: u32,
    max_bytes: i64,
    bindir: Option<&std::path::Path>,
) -> Result<advisor::StartedSample, String> {
    let mut source = target.connect().map_err(|e| format!("{e:#}"))?;
    let options = crate::ephemeral::EphemeralOptions {
        bindir: bindir.map(std::path::Path::to_path_buf),
        major: Some(major),
        ..Default::default()
    };
    let copy = sample::sampled_copy(target, &mut source, max_bytes, &options).map_err(|e| {
        format!("{e:#}; pass --shadow-url with a copy of the database to prove them there")
    })?;
    record_own_statements(&mut source);
    let client = copy
        .target
        .connect()
        .map_err(|e| format!("cannot connect to the sample copy: {e:#}"))?;
    Ok(advisor::StartedSample {
        client,
        label: copy.summary.to_string(),
        sample: copy.summary.sampled_share(),
        keep_alive: Box::new(copy),
    })
}

/// Records the query identifiers of the statements the throwaway copy ran on the target (when
/// pg_stat_statements is there), so that `--from-stats` leaves them out; a failure only warns.
fn record_own_statements(client: &mut postgres::Client) {
    if crate::check::require_pg_stat_statements(client).is_err() {
        return;
    }
    if let Err(e) = crate::statements::own::record(client) {
        tracing::warn!(error = %e, "cannot record pgwarden's own statements");
    }
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
    // Before any copy is made (the advisor refuses it again, for every way in).
    advisor::refuse_writing_queries(policy)?;
    let target = settings.target()?;
    let mut client = target.connect()?;
    let Workload {
        policy,
        source: workload,
        skipped,
        stats,
    } = workload(policy, args, &mut client)?;
    let mut policy = policy;
    if let Some(seconds) = args.write_sample_seconds {
        policy.advise.write_sample_seconds = seconds;
    }
    let policy = &policy;
    let limits = Limits::from_policy(
        &policy.advise,
        args.max_indexes_per_table,
        args.max_total_mb,
    );
    let mut proving = Proving::choose(args.shadow_url.as_deref(), args.throwaway, policy, settings);
    if args.no_sample_copy {
        proving = Proving::Hypothetical { sample: None };
    }
    let input = AdviseInput {
        policy,
        limits,
        generic: stats.as_ref().map_or(&[][..], |s| s.generic.as_slice()),
    };
    let advice = run_advisor_with(&target, &mut client, proving, input)?;
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
        statements: stats
            .as_ref()
            .map(|s| s.statements.clone())
            .unwrap_or_default(),
        excluded: stats.map(|s| s.excluded),
        database: target.redacted(),
        advice,
        migration,
        duration_ms: started.elapsed().as_millis(),
    })
}
