//! Policy files (TOML, versioned): budgets, check settings and the workload of named queries.
//! Unknown fields are errors, reported with file, line and column.

mod advise;
mod params;
mod validate;
mod watch;

pub use advise::AdvisePolicy;
pub use params::{ParamError, ParamValue, bind_literals, placeholder_count};
pub use watch::{AlertSink, PAGERDUTY_URL, WatchPolicy};

use serde::Deserialize;
use std::path::{Path, PathBuf};
use validate::validate;

/// The only policy format version this build reads.
pub const POLICY_VERSION: u32 = 1;

/// A whole policy file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Format version; must be 1.
    pub version: u32,
    /// `[budget]`: default budgets for every query.
    #[serde(default)]
    pub budget: BudgetPolicy,
    /// `[check]`: warm-ups, runs and timeouts of `check --mode analyze`.
    #[serde(default)]
    pub check: CheckPolicy,
    /// `[stats]`: which `pg_stat_statements` rows `check --mode stats` judges.
    #[serde(default)]
    pub stats: StatsPolicy,
    /// `[advise]`: limits on what `advise` proposes.
    #[serde(default)]
    pub advise: AdvisePolicy,
    /// `[plan]`: thresholds and required indexes of `plan`.
    #[serde(default)]
    pub plan: PlanPolicy,
    /// `[lint]`: rules switched off, the index name pattern and the small-table threshold.
    #[serde(default)]
    pub lint: LintPolicy,
    /// How `watch` samples and judges production.
    #[serde(default)]
    pub watch: WatchPolicy,
    /// Where `watch` sends alerts.
    #[serde(default, rename = "alert")]
    pub alerts: Vec<AlertSink>,
    /// Streaming replicas whose statistics count too (`[[replica]]`).
    #[serde(default, rename = "replica")]
    pub replicas: Vec<ReplicaPolicy>,
    /// The workload: named queries with parameter sets.
    #[serde(default, rename = "query")]
    pub queries: Vec<WorkloadQuery>,
}

/// A streaming replica: index scans and query statistics are counted per server, so `plan`,
/// `check --mode stats` and `watch` read it too. Its URL comes from the environment, so no
/// password is ever written in a policy file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaPolicy {
    /// The name reports use for this server.
    pub name: String,
    /// The environment variable holding the replica's connection URL.
    pub url_env: String,
}

/// Default budgets for every query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetPolicy {
    /// Mean time per query, ms (the seed: under 100 ms on average).
    #[serde(default = "default_mean_ms")]
    pub mean_ms: f64,
    /// Optional 95th percentile, ms.
    pub p95_ms: Option<f64>,
    /// Planner cost limit for `--mode explain`.
    #[serde(default = "default_max_cost")]
    pub max_cost: f64,
}

impl Default for BudgetPolicy {
    fn default() -> Self {
        Self {
            mean_ms: default_mean_ms(),
            p95_ms: None,
            max_cost: default_max_cost(),
        }
    }
}

fn default_mean_ms() -> f64 {
    100.0
}

fn default_max_cost() -> f64 {
    10_000.0
}

/// How `check --mode analyze` measures.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckPolicy {
    /// Unmeasured runs per parameter set, to warm caches.
    #[serde(default = "default_warmup")]
    pub warmup: u32,
    /// Measured runs per parameter set.
    #[serde(default = "default_runs")]
    pub runs: u32,
    /// `statement_timeout` = this factor x the query's mean budget (at least 1 s), so a check
    /// can never run away.
    #[serde(default = "default_timeout_factor")]
    pub timeout_factor: f64,
}

impl Default for CheckPolicy {
    fn default() -> Self {
        Self {
            warmup: default_warmup(),
            runs: default_runs(),
            timeout_factor: default_timeout_factor(),
        }
    }
}

fn default_warmup() -> u32 {
    1
}

fn default_runs() -> u32 {
    5
}

fn default_timeout_factor() -> f64 {
    10.0
}

/// How `check --mode stats` reads `pg_stat_statements`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsPolicy {
    /// Ignore statements called fewer times than this.
    #[serde(default = "default_min_calls")]
    pub min_calls: i64,
    /// Judge at most this many statements, by total time.
    #[serde(default = "default_top")]
    pub top: i64,
}

impl Default for StatsPolicy {
    fn default() -> Self {
        Self {
            min_calls: default_min_calls(),
            top: default_top(),
        }
    }
}

fn default_min_calls() -> i64 {
    5
}

fn default_top() -> i64 {
    50
}

/// Settings of `lint`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LintPolicy {
    /// Rule ids switched off.
    #[serde(default)]
    pub disable: Vec<String>,
    /// A regular expression every new index name must match, e.g. `^idx_`.
    pub index_name_pattern: Option<String>,
    /// With a database: a locking finding on a table under this many rows is a note, and a
    /// blocking one on a table of at least 100 times as many an error (default 10,000).
    pub small_table_rows: Option<i64>,
}

impl LintPolicy {
    /// The `disable` ids as rule ids (validated when the policy loads: unknown ones are dropped
    /// here only for a policy built in code).
    pub fn disabled_rules(&self) -> Vec<crate::rules::RuleId> {
        self.disable
            .iter()
            .filter_map(|id| id.parse().ok())
            .collect()
    }
}

/// Thresholds of `plan`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanPolicy {
    /// Report an index never scanned when the statistics are at least this old (default 14).
    pub unused_after_days: Option<f64>,
    /// Report an index at least this many times its estimated size (default 2).
    pub bloat_ratio: Option<f64>,
    /// ... and at least this large, in MB (default 10).
    pub bloat_min_mb: Option<f64>,
    /// Indexes the database must have besides those the migrations create: `CREATE INDEX`
    /// statements (with a name), built in the shadow after the migrations.
    #[serde(default)]
    pub required_indexes: Vec<String>,
}

/// One named query of the workload.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadQuery {
    /// Unique name, naming the query in reports and errors.
    pub name: String,
    /// SQL with `$1`-style parameters.
    pub sql: String,
    /// Parameter sets: each a list of values for `$1`, `$2`, ...; none for a query without
    /// parameters.
    #[serde(default)]
    pub params: Vec<Vec<ParamValue>>,
    /// Calls per minute in production (for weighting).
    pub weight: Option<f64>,
    /// Overrides of the default budget.
    pub mean_ms: Option<f64>,
    /// Overrides `budget.p95_ms` for this query.
    pub p95_ms: Option<f64>,
    /// Overrides `budget.max_cost` for this query (explain mode).
    pub max_cost: Option<f64>,
    /// Allow a data-changing statement; it still runs in a transaction that is rolled back.
    #[serde(default)]
    pub allow_writes: bool,
}

/// A policy that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read policy file {}: {cause}; pass --policy FILE", path.display())]
    Read {
        /// The policy file.
        path: PathBuf,
        /// The I/O error's message.
        cause: String,
    },
    /// The TOML does not parse, or does not fit the policy's fields.
    #[error("policy file {}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The policy file.
        path: PathBuf,
        /// 1-based line of the error (0 when the parser gives no position).
        line: usize,
        /// 1-based column in characters (0 when the parser gives no position).
        column: usize,
        /// The TOML parser's message.
        message: String,
    },
    /// The policy parses but breaks a rule `validate` checks (version, numbers, parameters).
    #[error("policy file {}: {message}", path.display())]
    Invalid {
        /// The policy file.
        path: PathBuf,
        /// What is wrong, naming the query or setting.
        message: String,
    },
}

/// Reads and validates a policy file.
pub fn load(path: &Path) -> Result<Policy, PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Read {
        path: path.to_path_buf(),
        cause: e.to_string(),
    })?;
    parse(&text, path)
}

/// Parses policy text; `path` names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<Policy, PolicyError> {
    let mut policy: Policy = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map_or((0, 0), |s| line_column(text, s.start));
        PolicyError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().to_string(),
        }
    })?;
    validate(&policy).map_err(|message| PolicyError::Invalid {
        path: path.to_path_buf(),
        message,
    })?;
    // The one statement, without the comments around it: a trailing `-- comment` would
    // otherwise swallow what pgwarden appends (`;`, the ROLLBACK of check's transaction).
    for q in &mut policy.queries {
        if let Ok(split) = crate::sql::split(&q.sql)
            && let [only] = split.statements.as_slice()
        {
            q.sql = only.text.clone();
        }
    }
    Ok(policy)
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl Policy {
    /// The budget for `q`: its overrides over the defaults.
    pub fn budget_for(&self, q: &WorkloadQuery) -> crate::explain::Budget {
        crate::explain::Budget {
            mean_ms: q.mean_ms.unwrap_or(self.budget.mean_ms),
            p95_ms: q.p95_ms.or(self.budget.p95_ms),
        }
    }
}

#[cfg(test)]
mod tests;
