//! Measuring a workload against its budgets on a live database. Every query runs inside a
//! transaction that is always rolled back (READ ONLY unless the policy allows writes), with a
//! `statement_timeout` derived from its budget, so a check can neither change data nor run away.

pub mod stats;

pub use stats::{check_stats, require_pg_stat_statements};

use crate::db::{self, DbError};
use crate::explain::{
    self, Budget, BudgetVerdict, Measurement, PlanFindings, judge_cost, judge_times,
};
use crate::policy::{ParamError, Policy, WorkloadQuery, bind_literals};
use postgres::Client;
use postgres::error::SqlState;
use serde::Serialize;

/// Why a workload query could not be measured, or pg_stat_statements read.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The measured statement failed. The query's row names it, so the message is
    /// PostgreSQL's alone.
    #[error("{}", db::describe(.0))]
    Query(postgres::Error),
    /// A parameter set does not bind to the query.
    #[error(transparent)]
    Params(#[from] ParamError),
    /// EXPLAIN's JSON did not read as a plan.
    #[error("cannot read the plan: {0}")]
    Plan(serde_json::Error),
    /// Planning alone outlasted its 10 s timeout.
    #[error("planning took longer than 10 s")]
    PlanningTimeout,
    /// `pg_stat_statements` is not installed in the database.
    #[error(
        "pg_stat_statements is not installed in this database: add it to shared_preload_libraries, restart, and run `CREATE EXTENSION pg_stat_statements`; or use the policy's workload instead (check --mode analyze, advise without --from-stats)"
    )]
    NoPgStatStatements,
    /// Reading `pg_stat_statements` (or whether it is there) failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// How queries are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum CheckMode {
    /// EXPLAIN (ANALYZE, BUFFERS): runs the queries (rolled back) and times them.
    Analyze,
    /// EXPLAIN only: planner cost against `max_cost`; runs nothing.
    Explain,
    /// pg_stat_statements: production timings, zero added load.
    Stats,
}

impl CheckMode {
    /// The mode's name on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckMode::Analyze => "analyze",
            CheckMode::Explain => "explain",
            CheckMode::Stats => "stats",
        }
    }
}

/// The result for one query.
#[derive(Debug, Clone, Serialize)]
pub struct QueryCheck {
    /// The query's name in the policy (`queryid <n>` in stats mode).
    pub name: String,
    /// The SQL as measured with the first parameter set bound.
    pub sql: String,
    /// Parameter sets measured (1 for a query without parameters).
    pub param_sets: usize,
    /// Results the verdict is based on: measured runs (warm-ups and the per-node timing run left
    /// out) in analyze mode, plans in explain mode, calls in stats mode.
    pub runs: usize,
    /// Calls per minute in production, from the policy (`None` in stats mode or when not given).
    pub weight: Option<f64>,
    /// The limits the query is judged against: its overrides over the policy's defaults.
    pub budget: Budget,
    /// `None` when the query could not be measured (see `error`).
    pub verdict: Option<BudgetVerdict>,
    /// What the plan says about where the time goes: the slowest parameter set's warm run with
    /// per-node timing (analyze), the costliest plan (explain).
    pub findings: PlanFindings,
    /// Why the query could not be measured, as the check's error message; `None` when measured.
    pub error: Option<String>,
}

/// A workload query refused before anything ran.
#[derive(Debug, thiserror::Error)]
#[error(
    "query `{name}` in the policy changes data ({keyword}); checks never change data: remove it, or set `allow_writes = true` to measure it in a transaction that is rolled back"
)]
pub struct WriteRefused {
    /// The query's name in the policy.
    pub name: String,
    /// The first keyword that changes data (`INSERT`, `DELETE`, `CREATE`, ...).
    pub keyword: String,
}

/// Refuses data-changing workload queries that the policy does not allow.
pub fn refuse_writes(policy: &Policy) -> Result<(), WriteRefused> {
    for q in &policy.queries {
        if let Some(keyword) = crate::sql::data_changing_keyword(&q.sql)
            && !q.allow_writes
        {
            return Err(WriteRefused {
                name: q.name.clone(),
                keyword,
            });
        }
    }
    Ok(())
}

/// Runs every workload query in `mode` (analyze or explain).
pub fn check_workload(client: &mut Client, policy: &Policy, mode: CheckMode) -> Vec<QueryCheck> {
    policy
        .queries
        .iter()
        .map(|q| {
            tracing::info!(query = %q.name, "checking");
            let budget = policy.budget_for(q);
            let first_sql = q
                .params
                .first()
                .map_or_else(|| Ok(q.sql.clone()), |p| bind_literals(&q.sql, p))
                .unwrap_or_else(|_| q.sql.clone());
            let mut result = QueryCheck {
                name: q.name.clone(),
                sql: first_sql.trim().to_string(),
                param_sets: q.params.len().max(1),
                runs: 0,
                weight: q.weight,
                budget,
                verdict: None,
                findings: PlanFindings::default(),
                error: None,
            };
            let measured = match mode {
                CheckMode::Explain => explain_query(client, policy, q, &mut result),
                _ => analyze_query(client, policy, q, &mut result),
            };
            if let Err(e) = measured {
                result.error = Some(e.to_string());
            }
            result
        })
        .collect()
}

/// The query's SQL with each parameter set bound (the SQL itself when it has none).
pub(crate) fn param_sets(q: &WorkloadQuery) -> Result<Vec<String>, ParamError> {
    if q.params.is_empty() {
        return Ok(vec![q.sql.clone()]);
    }
    q.params.iter().map(|p| bind_literals(&q.sql, p)).collect()
}

fn timeout_ms(policy: &Policy, budget: &Budget) -> u64 {
    ((budget.mean_ms * policy.check.timeout_factor).max(1000.0)) as u64
}

/// Runs `explains` (each `EXPLAIN (...) sql`) in one transaction that is rolled back, as a
/// single round trip. `Ok(None)` when the statement_timeout cut it.
pub(crate) fn explain_batch(
    client: &mut Client,
    q: &WorkloadQuery,
    timeout_ms: u64,
    explains: &[String],
) -> Result<Option<Vec<explain::Explain>>, CheckError> {
    let access = if q.allow_writes {
        "READ WRITE"
    } else {
        "READ ONLY"
    };
    let mut batch = format!("BEGIN {access};\nSET LOCAL statement_timeout = '{timeout_ms}ms';\n");
    for e in explains {
        batch.push_str(e);
        batch.push_str(";\n");
    }
    batch.push_str("ROLLBACK");
    let messages = match client.simple_query(&batch) {
        Ok(m) => m,
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK");
            if e.code() == Some(&SqlState::QUERY_CANCELED) {
                return Ok(None);
            }
            return Err(CheckError::Query(e));
        }
    };
    let plans = messages
        .iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => r.get(0).map(explain::parse),
            _ => None,
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(CheckError::Plan)?;
    Ok(Some(plans))
}

/// Times the query: per parameter set, warm-up runs, then one warm run with per-node timing
/// (its plan explains where the time goes; the first, cold run would blame a node for time
/// spent reading from disk), then measured runs with `TIMING OFF`, whose totals are not
/// inflated by per-row clock reads.
fn analyze_query(
    client: &mut Client,
    policy: &Policy,
    q: &WorkloadQuery,
    out: &mut QueryCheck,
) -> Result<(), CheckError> {
    let timeout = timeout_ms(policy, &out.budget);
    let warmup = policy.check.warmup.max(1) as usize;
    let mut measurement = Measurement::default();
    let mut slowest: Option<(f64, explain::PlanNode)> = None;
    for sql in param_sets(q)? {
        let mut explains =
            vec![format!("EXPLAIN (ANALYZE, TIMING OFF, BUFFERS, FORMAT JSON) {sql}"); warmup];
        explains.push(format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}"));
        explains.extend(vec![
            format!(
                "EXPLAIN (ANALYZE, TIMING OFF, BUFFERS, FORMAT JSON) {sql}"
            );
            policy.check.runs as usize
        ]);
        let Some(plans) = explain_batch(client, q, timeout, &explains)? else {
            measurement.cut_at_ms = Some(timeout as f64);
            break;
        };
        let diagnostic = warmup;
        let times: Vec<f64> = plans[diagnostic + 1..]
            .iter()
            .map(|e| e.planning_time.unwrap_or(0.0) + e.execution_time.unwrap_or(0.0))
            .collect();
        let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
        if slowest.as_ref().is_none_or(|(t, _)| mean > *t)
            && let Some(warm) = plans.into_iter().nth(diagnostic)
        {
            slowest = Some((mean, warm.plan));
        }
        measurement.samples_ms.extend(times);
    }
    out.runs = measurement.samples_ms.len();
    out.verdict = Some(judge_times(&out.budget, &measurement));
    if let Some((_, plan)) = slowest {
        out.findings = explain::findings(&plan);
    } else if measurement.cut_at_ms.is_some() {
        // Cut before any run finished: the plain plan still says where the time would go.
        let sql = param_sets(q)?.into_iter().next().unwrap_or_default();
        let plan = explain_batch(
            client,
            q,
            timeout,
            &[format!("EXPLAIN (FORMAT JSON) {sql}")],
        )?;
        out.findings = plan
            .and_then(|p| p.into_iter().next())
            .map(|e| explain::findings(&e.plan))
            .unwrap_or_default();
    }
    Ok(())
}

fn explain_query(
    client: &mut Client,
    policy: &Policy,
    q: &WorkloadQuery,
    out: &mut QueryCheck,
) -> Result<(), CheckError> {
    let max_cost = q.max_cost.unwrap_or(policy.budget.max_cost);
    let mut costs = Vec::new();
    let mut worst: Option<explain::PlanNode> = None;
    for sql in param_sets(q)? {
        let plans = explain_batch(client, q, 10_000, &[format!("EXPLAIN (FORMAT JSON) {sql}")])?
            .ok_or(CheckError::PlanningTimeout)?;
        for e in plans {
            costs.push(e.plan.total_cost);
            if worst
                .as_ref()
                .is_none_or(|w| e.plan.total_cost > w.total_cost)
            {
                worst = Some(e.plan);
            }
        }
    }
    out.runs = costs.len();
    out.verdict = Some(judge_cost(max_cost, &costs));
    out.findings = worst.map(|p| explain::findings(&p)).unwrap_or_default();
    Ok(())
}
