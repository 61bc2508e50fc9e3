//! `check --mode stats`: judges the statements in `pg_stat_statements` against the default
//! budget, adding no load to the database. p95 is estimated as mean + 1.645 standard
//! deviations (capped at the observed maximum), as the view keeps no percentiles.

use super::{CheckError, QueryCheck};
use crate::db::DbContext;
use crate::explain::{BudgetVerdict, PlanFindings, Summary, judge_summary};
use crate::policy::Policy;
use postgres::Client;

const HAS_VIEW: &str = "SELECT to_regclass('pg_stat_statements') IS NOT NULL";
/// Rows of other roles have a NULL queryid and no text unless the reader has
/// `pg_read_all_stats`: they are counted (see [`HIDDEN_STATEMENTS`]), never judged.
const TOP_STATEMENTS: &str = "SELECT queryid::text, query, calls, mean_exec_time, stddev_exec_time, max_exec_time \
     FROM pg_stat_statements \
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
       AND calls >= $1 AND queryid IS NOT NULL \
       AND query !~* '^\\s*(EXPLAIN|BEGIN|COMMIT|ROLLBACK|SET|RESET|SHOW)\\M' \
       AND query !~* 'pg_stat_statements' \
     ORDER BY total_exec_time DESC LIMIT $2";

const HIDDEN_STATEMENTS: &str = "SELECT count(*) FROM pg_stat_statements \
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
       AND calls >= $1 AND queryid IS NULL";

/// A note for the report when other roles' statements were hidden from this role.
pub fn hidden_note(hidden: i64) -> Option<String> {
    (hidden > 0).then(|| {
        format!(
            "{hidden} statement(s) of other roles are hidden from this role and were not judged; \
             `GRANT pg_read_all_stats TO <this role>` shows them"
        )
    })
}

/// An error naming the extension and the fix unless `pg_stat_statements` can be read here.
pub fn require_pg_stat_statements(client: &mut Client) -> Result<(), CheckError> {
    let exists: bool = client
        .query_one(HAS_VIEW, &[])
        .db_context(|| "cannot look for pg_stat_statements")?
        .get(0);
    if exists {
        return Ok(());
    }
    Err(CheckError::NoPgStatStatements)
}

/// Reads and judges the top statements; also returns how many statements were hidden from this
/// role. Errors name the extension and the fix.
pub fn check_stats(
    client: &mut Client,
    policy: &Policy,
) -> Result<(Vec<QueryCheck>, i64), CheckError> {
    require_pg_stat_statements(client)?;
    let rows = client
        .query(
            TOP_STATEMENTS,
            &[&policy.stats.min_calls, &policy.stats.top],
        )
        .db_context(|| "cannot read pg_stat_statements")?;
    let budget = crate::explain::Budget {
        mean_ms: policy.budget.mean_ms,
        p95_ms: policy.budget.p95_ms,
    };
    let hidden: i64 = client
        .query_one(HIDDEN_STATEMENTS, &[&policy.stats.min_calls])
        .db_context(|| "cannot read pg_stat_statements")?
        .get(0);
    let checks = rows
        .iter()
        .map(|r| {
            let id: Option<String> = r.get(0);
            let query: Option<String> = r.get(1);
            let calls: i64 = r.get(2);
            let (id, query) = (id.unwrap_or_default(), query.unwrap_or_default());
            let (mean, stddev, max): (f64, f64, f64) = (r.get(3), r.get(4), r.get(5));
            let verdict = judge(&budget, mean, stddev, max);
            QueryCheck {
                name: format!("queryid {id}"),
                sql: query.split_whitespace().collect::<Vec<_>>().join(" "),
                param_sets: 1,
                runs: calls as usize,
                weight: None,
                budget,
                verdict: Some(verdict),
                findings: PlanFindings::default(),
                error: None,
            }
        })
        .collect();
    Ok((checks, hidden))
}

fn judge(budget: &crate::explain::Budget, mean: f64, stddev: f64, max: f64) -> BudgetVerdict {
    let p95 = (mean + 1.645 * stddev).min(max.max(mean));
    judge_summary(budget, Summary { mean, p95, max }, None, "p95 (estimated)")
}
