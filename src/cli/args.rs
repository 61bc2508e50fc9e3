//! Arguments of the commands that judge the database: `watch`, `check`, `advise`, `plan` and
//! `apply`, and the replicas they read.

use super::{ExecArgs, parse_duration};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `watch`: where to serve the metrics, how often to sample, or one sample.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Replicas read too.
    #[command(flatten)]
    pub replica: ReplicaArgs,
    /// Serve Prometheus metrics on http://ADDR/metrics (e.g. 127.0.0.1:9187); none without it.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Time between samples (default: the policy's `[watch] interval`, else 60s).
    #[arg(long, value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// One sample of the counters since the last reset, printed, then exit.
    #[arg(long)]
    pub once: bool,
}

/// Streaming replicas whose statistics count too.
#[derive(Debug, Args, Default)]
pub struct ReplicaArgs {
    /// A streaming replica of the database, as URL or name=URL (repeatable; adds to the
    /// policy's [[replica]] entries): index scans and query statistics are counted per server.
    #[arg(long = "replica", value_name = "URL")]
    pub replicas: Vec<String>,
}

/// Arguments of `check`: how the workload is judged, and the extra reports to write.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Replicas read too.
    #[command(flatten)]
    pub replica: ReplicaArgs,
    /// analyze: run each query (rolled back) and time it; explain: planner cost only, runs
    /// nothing; stats: judge pg_stat_statements, adds no load.
    #[arg(long, value_enum, default_value_t = crate::check::CheckMode::Analyze)]
    pub mode: crate::check::CheckMode,
    /// Also write a JUnit XML report here (for CI systems).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Also write a self-contained HTML page here: each query's time against its budget as
    /// bars, and what dominates its plan.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// Arguments of `advise`: where candidates are proven, the workload's source, limits and outputs.
#[derive(Debug, Args)]
pub struct AdviseArgs {
    /// A copy of the target database (same schema and data, never production) where candidates
    /// are built for real and timed. Without it (or --throwaway), HypoPG in the target is used.
    #[arg(long, env = "PGWARDEN_SHADOW_URL", hide_env_values = true)]
    pub shadow_url: Option<String>,
    /// Prove candidates on a throwaway server filled with the live schema and the rows (all up
    /// to the policy's `[advise] throwaway_max_mb`, else a sample of that size).
    #[arg(long, conflicts_with = "shadow_url")]
    pub throwaway: bool,
    /// With HypoPG (no --shadow-url or --throwaway): never copy a sample of the rows to a
    /// throwaway server for the candidates HypoPG cannot model (GIN, GiST); they are then
    /// listed with the flag that proves them, and sizes stay HypoPG's estimates.
    #[arg(long, conflicts_with_all = ["shadow_url", "throwaway"])]
    pub no_sample_copy: bool,
    /// Write the proposals as the next versioned migration in --migrations.
    #[arg(long)]
    pub write_migration: bool,
    /// Workload from a SQL file of SELECTs with literal values (`-` for stdin) instead of the
    /// policy's queries (the policy still gives the budget).
    #[arg(long, conflicts_with = "from_stats")]
    pub sql: Option<PathBuf>,
    /// Workload from pg_stat_statements (top statements by total time; parameter values from
    /// pg_stats).
    #[arg(long)]
    pub from_stats: bool,
    /// At most this many new indexes per table (default: the policy's `[advise]`, else 3).
    #[arg(long)]
    pub max_indexes_per_table: Option<usize>,
    /// At most this many megabytes of new indexes in total (default: the policy's, else none).
    #[arg(long)]
    pub max_total_mb: Option<f64>,
    /// Seconds between the two reads of the live table statistics that give each table's write
    /// rate (default: the policy's `[advise] write_sample_seconds`, else 10; 0: no sample).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub write_sample_seconds: Option<u64>,
    /// Also write a self-contained HTML page here: each query before and after the proposals
    /// against its budget, and the proposals.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// Arguments of `plan`: the shadow, the SQL file and the advisor's part.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Replicas read too.
    #[command(flatten)]
    pub replica: ReplicaArgs,
    /// An empty database to replay the migrations into (default: a throwaway server).
    #[arg(long, env = "PGWARDEN_SHADOW_URL", hide_env_values = true)]
    pub shadow_url: Option<String>,
    /// Also save the plan to FILE: a name ending in .json writes a reviewed plan (statements,
    /// locks and a fingerprint of what they touch) for `apply --plan`; any other name, the SQL.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Add the index advisor's proposals for the policy's workload.
    #[arg(long)]
    pub advise: bool,
    /// With --advise: a copy of the database (with data) where candidates are proven; without
    /// it (or --advise-throwaway), HypoPG in the target.
    #[arg(long, requires = "advise")]
    pub advise_shadow_url: Option<String>,
    /// With --advise: prove candidates on a throwaway copy of the live schema and rows.
    #[arg(long, requires = "advise", conflicts_with = "advise_shadow_url")]
    pub advise_throwaway: bool,
}

/// Arguments of `apply`: the shadow, which changes, confirmation and the executor's settings.
#[derive(Debug, Args)]
pub struct ApplyChangesArgs {
    /// Replicas read too.
    #[command(flatten)]
    pub replica: ReplicaArgs,
    /// An empty database to replay the migrations into (default: a throwaway server).
    #[arg(long, env = "PGWARDEN_SHADOW_URL", hide_env_values = true)]
    pub shadow_url: Option<String>,
    /// Apply exactly this reviewed plan (`plan --output plan.json`), refused (exit 2, naming
    /// what changed) where the database no longer matches its fingerprint; no prompts.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["only", "shadow_url", "replicas"])]
    pub plan: Option<PathBuf>,
    /// Apply every change without asking (drops still need --allow-drop).
    #[arg(long)]
    pub yes: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Allow DROP INDEX changes.
    #[arg(long)]
    pub allow_drop: bool,
    /// Only changes of these rules (repeatable), e.g. --only invalid-index.
    #[arg(long)]
    pub only: Vec<String>,
    /// Timeouts and retries of the safe executor.
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// Fleet runs: one command on many databases.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// Run on every database of FILE: `name = postgres://...` or a bare URL per line (`#`
    /// comments), or TOML (`.toml`) with `[[target]] name, url` and `[[group]] name, targets`.
    /// For migrate status|apply|verify, lint, check and plan.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        conflicts_with = "targets_sql"
    )]
    pub targets: Option<PathBuf>,
    /// Run on the databases a query on --database-url returns: name, url[, group].
    #[arg(long, global = true, value_name = "SQL")]
    pub targets_sql: Option<String>,
    /// Targets run at once.
    #[arg(long, global = true, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallel: u16,
    /// Targets run at once on one server (host and port after resolution), so one server is
    /// not flooded with concurrent index builds.
    #[arg(long, global = true, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub per_host: u16,
    /// After a failed target: stop (no new target starts; running ones finish) or continue
    /// [default: stop for migrate apply, continue for the commands that change nothing].
    #[arg(long, global = true, value_enum)]
    pub on_error: Option<crate::commands::fleet::OnError>,
    /// The run ledger [default: $XDG_STATE_HOME/pgwarden/, else ~/.local/state/pgwarden/].
    #[arg(long, global = true, value_name = "FILE")]
    pub ledger: Option<PathBuf>,
    /// Run only the targets the ledger does not record as finished.
    #[arg(long, global = true)]
    pub resume: bool,
}

impl FleetArgs {
    /// A fleet was named.
    pub fn given(&self) -> bool {
        self.targets.is_some() || self.targets_sql.is_some()
    }
}
