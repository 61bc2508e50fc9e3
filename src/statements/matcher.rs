//! From a policy query to its pg_stat_statements entries: the query identifier PostgreSQL
//! computes for it (`EXPLAIN (VERBOSE) EXECUTE` of it prepared prints it as "Query
//! Identifier"; a plain `EXPLAIN (VERBOSE)` would print the EXPLAIN's own). A query run with
//! its values written in and the same query run with parameters (`$1`, as drivers send it) get
//! different identifiers, so both are computed and their entries counted together. Needs
//! `compute_query_id` (on by itself when pg_stat_statements is loaded). The PREPARE is counted
//! by pg_stat_statements under the query's identifier (a call of no time, once per connection).

use crate::db::{DbContext, DbError};
use crate::policy::{ParamValue, WorkloadQuery, bind_literals, placeholder_count};
use postgres::{Client, SimpleQueryMessage};

/// Why a query's identifiers could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    /// Reading the identifier failed.
    #[error("query `{name}`: {source}")]
    Db {
        /// The policy query.
        name: String,
        /// The database error.
        source: DbError,
    },
    /// The query's parameters do not bind, or the query does not plan.
    #[error("query `{name}`: its parameters do not bind: {reason}")]
    Params {
        /// The policy query.
        name: String,
        /// Why.
        reason: String,
    },
    /// No identifiers at all: `compute_query_id` is off.
    #[error(
        "the server computes no query identifiers (compute_query_id is off): load pg_stat_statements (shared_preload_libraries) or set compute_query_id = auto"
    )]
    NoQueryId,
}

/// The prepared statement's name while its identifier is read; deallocated right after.
const PREPARED: &str = "pgwarden_match";

fn identifier(client: &mut Client, batch: &str, context: &str) -> Result<Option<i64>, DbError> {
    let messages = client
        .simple_query(batch)
        .db_context(|| context.to_string());
    if batch.starts_with("PREPARE") {
        let _ = client.batch_execute(&format!("DEALLOCATE {PREPARED}"));
    }
    let plan = messages?.into_iter().find_map(|m| match m {
        SimpleQueryMessage::Row(r) => r.get(0).map(String::from),
        _ => None,
    });
    Ok(plan
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| v[0]["Query Identifier"].as_i64()))
}

/// The identifiers of `sql` run with `values` written in and, when it has parameters, run with
/// them as parameters. Plans only; runs nothing.
pub fn sql_ids(
    client: &mut Client,
    sql: &str,
    values: &[ParamValue],
) -> Result<Vec<i64>, (bool, String)> {
    let literal = bind_literals(sql, values).map_err(|e| (false, e.to_string()))?;
    let mut ids = Vec::new();
    let context = "cannot read the query's identifier";
    // Through a prepared statement: `EXPLAIN (VERBOSE) <query>` prints the identifier of the
    // EXPLAIN itself, while EXPLAIN EXECUTE prints the prepared query's.
    let explained = identifier(
        client,
        &format!(
            "PREPARE {PREPARED} AS {literal};\nEXPLAIN (VERBOSE, FORMAT JSON) EXECUTE {PREPARED}"
        ),
        context,
    )
    .map_err(|e| (true, e.to_string()))?;
    ids.extend(explained);
    if placeholder_count(sql).unwrap_or(0) > 0 {
        let args: Vec<String> = values
            .iter()
            .map(|v| crate::escape::literal(&v.text_form()))
            .collect();
        let batch = format!(
            "PREPARE {PREPARED} AS {sql};\nEXPLAIN (VERBOSE, FORMAT JSON) EXECUTE {PREPARED}({})",
            args.join(", ")
        );
        ids.extend(identifier(client, &batch, context).map_err(|e| (true, e.to_string()))?);
    }
    ids.dedup();
    Ok(ids)
}

/// The identifiers of each policy query (policy order); empty for a query without them.
pub fn policy_ids(
    client: &mut Client,
    queries: &[WorkloadQuery],
) -> Result<Vec<Vec<i64>>, MatchError> {
    let (ids, problems) = policy_ids_lenient(client, queries);
    match problems.into_iter().next() {
        Some(first) => Err(first),
        None => Ok(ids),
    }
}

/// [`policy_ids`] that goes on past a query it cannot match (a table that does not exist
/// yet, SQL that does not parse): that query gets no identifiers and its error is returned
/// beside them, so one broken query never blinds a monitor to the others.
pub fn policy_ids_lenient(
    client: &mut Client,
    queries: &[WorkloadQuery],
) -> (Vec<Vec<i64>>, Vec<MatchError>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for q in queries {
        let values = q.params.first().cloned().unwrap_or_default();
        match sql_ids(client, &q.sql, &values) {
            Ok(ids) => out.push(ids),
            Err((db, reason)) => {
                problems.push(MatchError::Params {
                    name: q.name.clone(),
                    reason: if db {
                        format!("cannot plan it: {reason}")
                    } else {
                        reason
                    },
                });
                out.push(Vec::new());
            }
        }
    }
    let planned = out.iter().filter(|ids| !ids.is_empty()).count();
    if planned == 0 && problems.len() < queries.len() {
        problems.push(MatchError::NoQueryId);
    }
    (out, problems)
}
