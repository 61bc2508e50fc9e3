//! Command-line arguments (clap) and their resolution into settings.

mod args;
mod dispatch;
mod fleet;
mod generate;
pub mod prompt;
pub mod settings;

pub use dispatch::run;
pub use generate::generated;

pub use crate::report::{Format, LintFormat};
pub use args::{
    AdviseArgs, ApplyChangesArgs, CheckArgs, FleetArgs, PlanArgs, ReplicaArgs, WatchArgs,
};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// pgwarden keeps a PostgreSQL database's schema and indexes honest: versioned migrations that
/// are safe on every deploy, query budgets, index advice, all with dry runs.
#[derive(Debug, Parser)]
#[command(
    name = "pgwarden",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("PGWARDEN_GIT_COMMIT"), ")"),
    about,
    long_about = None
)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// Fleet runs (`--targets`, `--targets-sql`).
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// `--format`: the report formats, plus lint's CI formats (only `lint` accepts those).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// Tables and a one-line summary, for people.
    Human,
    /// JSON with a `schema_version`, for programs.
    Json,
    /// Lint only: GitHub Actions annotations.
    Github,
    /// Lint only: SARIF 2.1.0, for code scanning.
    Sarif,
    /// Lint only: JUnit XML.
    Junit,
}

impl FormatArg {
    /// The format every command renders in (a lint-only format renders lint's own way).
    pub fn format(self) -> Format {
        match self {
            FormatArg::Human => Format::Human,
            _ => Format::Json,
        }
    }

    /// The lint format this names, when it is one only `lint` has.
    pub fn lint_only(self) -> Option<LintFormat> {
        match self {
            FormatArg::Human | FormatArg::Json => None,
            FormatArg::Github => Some(LintFormat::Github),
            FormatArg::Sarif => Some(LintFormat::Sarif),
            FormatArg::Junit => Some(LintFormat::Junit),
        }
    }
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Database to work on (postgres:// URL or libpq key=value string). Without it:
    /// DATABASE_URL, then PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE and ~/.pgpass.
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Output format for results on stdout: human or json; lint also takes github, sarif and
    /// junit (as with its --output-format).
    #[arg(long, global = true, value_enum, default_value_t = FormatArg::Human)]
    pub format: FormatArg,
    /// Directory of V<version>__<name>.sql migration files.
    #[arg(long, global = true, default_value = "migrations")]
    pub migrations: PathBuf,
    /// More log output on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr, no progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Policy file (budgets, workload) [default: policies/default.toml, when it exists].
    #[arg(long, global = true)]
    pub policy: Option<PathBuf>,
    /// PostgreSQL server binaries (initdb, pg_ctl, postgres) for throwaway servers [default:
    /// searched on PATH, via pg_config and in the usual directories, of the target's major
    /// version]. Empty means unset.
    #[arg(long, global = true, env = "PGWARDEN_PG_BINDIR", value_name = "DIR")]
    pub pg_bindir: Option<String>,
    /// A direct connection to the PostgreSQL server (not through a pooler such as PgBouncer)
    /// for the commands that take the migration lock: migrate apply/baseline/repair and apply.
    #[arg(
        long,
        global = true,
        env = "PGWARDEN_DIRECT_URL",
        hide_env_values = true
    )]
    pub direct_url: Option<String>,
    /// Where plan caches the desired state.
    #[command(flatten)]
    pub cache: settings::CacheArgs,
}

/// `--log-format`: how log lines on stderr are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Plain text lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Versioned migrations: status, apply, verify, new, baseline, repair.
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// Check the workload's live query plans against the budgets. Exit 1 when a query is over.
    Check(CheckArgs),
    /// Propose indexes that bring the workload under budget, proven on a shadow database or
    /// with HypoPG. Never changes the target database.
    Advise(AdviseArgs),
    /// What is wrong with the indexes, against the migrations, and the exact SQL that fixes it.
    /// Exit 1 when the plan is not empty.
    Plan(PlanArgs),
    /// Run the plan safely (per-change confirmation, or --yes), recorded as a new migration.
    Apply(ApplyChangesArgs),
    /// Check migrations for statements that will hurt: squawk's rules plus pgwarden's own,
    /// weighed by the live table size with --database-url. Exit 1 at or above --fail-on.
    Lint(LintArgs),
    /// The CI gate: lint, verify, apply to a throwaway database, check and plan there.
    Ci(CiArgs),
    /// Demo data for the seed schema.
    #[command(subcommand)]
    Data(DataCommand),
    /// The main job on a built-in throwaway database: no setup needed.
    Demo(DemoArgs),
    /// Watch production: pg_stat_statements deltas against the budgets and their own baseline,
    /// index health, Prometheus metrics on --listen. Runs until SIGTERM/SIGINT; --once takes
    /// one sample (exit 1 when it finds something).
    Watch(WatchArgs),
    /// What this database and this machine support, and the fix for each gap. Only reads.
    /// Exit 1 when a command cannot run fully (notes on optional features do not count).
    Doctor,
    /// Shell completions on stdout, e.g. `pgwarden completions bash >
    /// ~/.local/share/bash-completion/completions/pgwarden`.
    Completions(generate::CompletionsArgs),
    /// Manual pages generated from these definitions: pgwarden(1) on stdout, or one page per
    /// command into --dir (e.g. `pgwarden man --dir /usr/local/share/man/man1`).
    Man(generate::ManArgs),
}

/// Arguments of `lint`: what to lint, the failing severity and the output format.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// Files or directories (default: the migrations not yet applied with a database, else all).
    pub paths: Vec<PathBuf>,
    /// Lint every migration, applied or not.
    #[arg(long)]
    pub all: bool,
    /// Lowest severity that fails the run.
    #[arg(long, value_enum, default_value_t = FailOn::Warning)]
    pub fail_on: FailOn,
    /// Output: human, json, github (Actions annotations), sarif (code scanning), junit.
    /// Defaults to --format.
    #[arg(long, value_enum)]
    pub output_format: Option<LintFormat>,
}

/// Arguments of `ci`.
#[derive(Debug, Args)]
pub struct CiArgs {
    /// Lowest lint severity that fails the run.
    #[arg(long, value_enum, default_value_t = FailOn::Warning)]
    pub fail_on: FailOn,
}

/// `--fail-on`: the lowest severity that makes the run exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Fail on any finding: notes, warnings and errors.
    Note,
    /// Fail on warnings and errors.
    Warning,
    /// Fail on errors only.
    Error,
}

/// `pgwarden data ...`: demo data for the seed schema.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Fill the (empty) seed schema with deterministic synthetic data.
    Generate {
        /// 1.0 is about 11 million rows (users 1.6M, projects 1.5M, tasks 4M, payments 4M).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
    },
}

/// Arguments of `demo`: the data scale and the HTML page.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Data scale for the demo database (see `data generate`).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Also write a self-contained HTML page here: each query before and after the fix
    /// against its budget, and the indexes proposed.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// `pgwarden migrate ...`: versioned migrations.
#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// One row per migration (applied, pending, modified, missing, unparseable) and any INVALID
    /// index. Read-only. Exit 1 when anything needs attention.
    Status,
    /// Apply pending migrations in order, exactly once, without blocking writes for long.
    Apply(ApplyArgs),
    /// Compare the checksums of applied migrations with the files. Exit 1 on any difference.
    Verify,
    /// Write the next V<n>__<name>.sql file.
    New {
        /// Name: letters, digits and underscores.
        name: String,
    },
    /// Adopt an existing database: record versions up to VERSION as applied without running them.
    Baseline {
        /// The last version the database already has: files up to it are recorded as applied.
        version: i32,
        /// Write without asking.
        #[arg(long)]
        yes: bool,
    },
    /// After a reviewed, harmless edit (whitespace, comments), record the files' new checksums.
    Repair {
        /// Write without asking.
        #[arg(long)]
        yes: bool,
    },
}

/// Arguments of `migrate apply`: dry run, target version and the executor's settings.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Print exactly the SQL that would run, in order, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply up to and including this version.
    #[arg(long)]
    pub target: Option<i32>,
    /// Timeouts and retries of the safe executor.
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// Timeouts and retries of the safe DDL executor.
#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// Longest wait for a table lock per attempt (e.g. 5s, 500ms).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub lock_timeout: Duration,
    /// statement_timeout inside migration transactions (0 disables).
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub statement_timeout: Duration,
    /// statement_timeout for statements run outside a transaction, such as concurrent index
    /// builds (0 disables: a timeout would abort a large build and leave an INVALID index).
    #[arg(long, default_value = "0", value_parser = parse_duration)]
    pub build_statement_timeout: Duration,
    /// Retries after a lock timeout or deadlock, with doubling backoff.
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
    /// First backoff delay.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub retry_delay: Duration,
    /// How long to wait for another migration run to finish (and for lagging replicas).
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub lock_wait: Duration,
    /// Parallel workers per index build (max_parallel_maintenance_workers). 0: one process,
    /// slower builds but steadier latency for production on the same cores.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=64))]
    pub build_workers: u32,
    /// maintenance_work_mem for index builds, e.g. 256MB or 1GB (default: the server's).
    #[arg(long, value_name = "SIZE", value_parser = parse_memory)]
    pub maintenance_work_mem: Option<String>,
    /// wal_compression of the migration session (default: the server's). zstd roughly halves
    /// the WAL an index build writes, so writers' commits wait less behind it and replicas
    /// lag less, for a slower build; needs a superuser or `GRANT SET ON PARAMETER
    /// wal_compression` (PostgreSQL 15+, whose builds accept lz4 and zstd).
    #[arg(long, value_name = "METHOD", value_parser = ["off", "pglz", "lz4", "zstd"])]
    pub build_wal_compression: Option<String>,
    /// Before each concurrent index build, wait while a streaming replica's replay lag is
    /// over this (0: do not wait).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub max_replica_lag: Duration,
}

/// Parses a PostgreSQL memory size: a number and a unit (`kB`, `MB`, `GB`, `TB`).
pub fn parse_memory(s: &str) -> Result<String, String> {
    let t = s.trim();
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    let unit = t[digits..].trim();
    if digits == 0 || !["kB", "MB", "GB", "TB"].contains(&unit) {
        return Err(format!(
            "`{}` is not a memory size: give a number and kB, MB, GB or TB, e.g. 256MB",
            crate::escape::inline(s)
        ));
    }
    Ok(format!("{}{unit}", &t[..digits]))
}

/// Parses `0`, `500ms`, `5s`, `2m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration like 500ms, 5s or 2m: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("soon").is_err());
    }
}
