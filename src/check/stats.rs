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
       AND toplevel AND query !~* '^\\s*(EXPLAIN|BEGIN|COMMIT|ROLLBACK|SET|RESET|SHOW|PREPARE|DEALLOCATE)\\M' \
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

/// The policy's queries, found by their query identifiers (summed over roles and forms).
const NAMED: &str = "SELECT coalesce(sum(calls), 0)::int8, \
       coalesce(sum(total_exec_time) / nullif(sum(calls), 0), 0), \
       coalesce(max(stddev_exec_time), 0), coalesce(max(max_exec_time), 0) \
     FROM pg_stat_statements \
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
       AND toplevel AND queryid = ANY($1)";

/// Reads and judges the policy's queries (found by their query identifiers, with their own
/// budgets), then the top other statements; also returns how many statements were hidden from
/// this role, and notes (policy queries with no entry). Errors name the extension and the fix.
pub fn check_stats(
    client: &mut Client,
    policy: &Policy,
) -> Result<(Vec<QueryCheck>, i64, Vec<String>), CheckError> {
    require_pg_stat_statements(client)?;
    let mut named = Vec::new();
    let mut notes = Vec::new();
    let mut claimed: Vec<i64> = Vec::new();
    match crate::statements::matcher::policy_ids(client, &policy.queries) {
        Ok(ids) => {
            for (q, ids) in policy.queries.iter().zip(ids) {
                let r = client
                    .query_one(NAMED, &[&ids])
                    .db_context(|| "cannot read pg_stat_statements")?;
                claimed.extend(&ids);
                let calls: i64 = r.get(0);
                if calls == 0 {
                    notes.push(format!(
                        "query {} has no entry in pg_stat_statements (not run since the last reset, or by a role whose statements this role cannot see)",
                        q.name
                    ));
                    continue;
                }
                let budget = crate::explain::Budget {
                    mean_ms: q.mean_ms.unwrap_or(policy.budget.mean_ms),
                    p95_ms: q.p95_ms.or(policy.budget.p95_ms),
                };
                let (mean, stddev, max): (f64, f64, f64) = (r.get(1), r.get(2), r.get(3));
                named.push(QueryCheck {
                    name: q.name.clone(),
                    sql: q.sql.clone(),
                    param_sets: q.params.len().max(1),
                    runs: calls as usize,
                    weight: q.weight,
                    budget,
                    verdict: Some(judge(&budget, mean, stddev, max)),
                    findings: PlanFindings::default(),
                    error: None,
                });
            }
        }
        Err(e) => notes.push(format!("the policy's queries were not matched: {e}")),
    }
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
        .filter(|r| {
            let id: Option<String> = r.get(0);
            !id.and_then(|i| i.parse::<i64>().ok())
                .is_some_and(|i| claimed.contains(&i))
        })
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
        .collect::<Vec<_>>();
    named.extend(checks);
    Ok((named, hidden, notes))
}

fn judge(budget: &crate::explain::Budget, mean: f64, stddev: f64, max: f64) -> BudgetVerdict {
    let p95 = (mean + 1.645 * stddev).min(max.max(mean));
    judge_summary(budget, Summary { mean, p95, max }, None, "p95 (estimated)")
}
