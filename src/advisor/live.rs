//! Figures of the live database the advisor weighs its candidates by, read through whichever
//! lab holds the live connection: rows written so far per table (read fresh each time, so two
//! reads make a sample) and each workload query's calls per minute in pg_stat_statements.
//! Read-only.

use super::cost::WriteCounters;
use super::error::AdviseError;
use crate::db::{DbContext, quote_ident};
use crate::policy::{Policy, WorkloadQuery, bind_literals};
use postgres::Client;
use std::time::Instant;

/// Table statistics are cached per transaction: drop the cache, so a second read in the same
/// session sees the counters as they are now.
const CLEAR_SNAPSHOT: &str = "SELECT pg_stat_clear_snapshot()";
const ROWS_WRITTEN: &str = "SELECT relname::text, (n_tup_ins + n_tup_upd + n_tup_del)::float8 \
     FROM pg_stat_user_tables WHERE schemaname = ANY (current_schemas(false))";

/// Rows written so far per table in the search path.
pub fn write_counters(client: &mut Client) -> Result<WriteCounters, AdviseError> {
    client
        .batch_execute(CLEAR_SNAPSHOT)
        .db_context(|| "cannot clear the statistics snapshot")?;
    let rows = client
        .query(ROWS_WRITTEN, &[])
        .db_context(|| "cannot read the target's rows written per table")?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    Ok(WriteCounters {
        rows,
        at: Instant::now(),
    })
}

/// The schema pg_stat_statements is installed in, if it is installed in this database.
const STATEMENTS_SCHEMA: &str = "SELECT n.nspname::text FROM pg_extension e \
     JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'";

/// Calls per minute of one query id in this database since pg_stat_statements was last reset
/// (at least a minute); `{schema}` is the extension's schema, quoted.
const CALLS_PER_MIN: &str = "SELECT sum(s.calls)::float8 / greatest(extract(epoch FROM now() - \
       (SELECT stats_reset FROM {schema}.pg_stat_statements_info))::float8 / 60.0, 1.0) \
     FROM {schema}.pg_stat_statements s \
     WHERE s.queryid = $1 AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())";

/// The name of the prepared statement a parameterized query is planned under.
const PREPARED: &str = "pgwarden_weight";

/// Per workload query: its calls per minute in pg_stat_statements, `None` where unknown.
pub fn calls_per_min(
    client: &mut Client,
    policy: &Policy,
) -> Result<Vec<Option<f64>>, AdviseError> {
    let unknown = vec![None; policy.queries.len()];
    let schema: Option<String> = client
        .query_opt(STATEMENTS_SCHEMA, &[])
        .db_context(|| "cannot look for pg_stat_statements")?
        .map(|r| r.get(0));
    let Some(schema) = schema else {
        return Ok(unknown);
    };
    let lookup = CALLS_PER_MIN.replace("{schema}", &quote_ident(&schema));
    let mut out = Vec::new();
    for q in &policy.queries {
        let calls = match query_id(client, q) {
            Some((id, counted)) => match client.query_one(&lookup, &[&id]) {
                Ok(row) => row
                    .get::<_, Option<f64>>(0)
                    .map(|calls| calls - f64::from(u8::from(counted)))
                    .filter(|calls| *calls > 0.0),
                Err(e) => {
                    tracing::info!(error = %crate::db::describe(&e), "pg_stat_statements unreadable");
                    return Ok(unknown);
                }
            },
            None => None,
        };
        out.push(calls);
    }
    Ok(out)
}

/// The query id PostgreSQL computes for `q` as an application sends it (its `$n` as
/// parameters): `EXPLAIN (VERBOSE)` prints it when `compute_query_id` is on (or auto with
/// pg_stat_statements loaded). Planned only, never run, in a rolled-back read-only
/// transaction; `None` when there is none or planning fails. The flag: that planning was
/// itself counted as a call (`pg_stat_statements.track = all` and no right to change it).
fn query_id(client: &mut Client, q: &WorkloadQuery) -> Option<(i64, bool)> {
    let explain = match q.params.first() {
        None => format!("EXPLAIN (VERBOSE, FORMAT JSON) {}", q.sql),
        Some(values) => {
            let args: Vec<String> = (1..=values.len()).map(|n| format!("${n}")).collect();
            let execute = format!("EXECUTE {PREPARED}({})", args.join(", "));
            format!(
                "EXPLAIN (VERBOSE, FORMAT JSON) {}",
                bind_literals(&execute, values).ok()?
            )
        }
    };
    let text = planned(client, q, &explain);
    if !q.params.is_empty() {
        // A prepared statement outlives the transaction's rollback.
        let _ = client.batch_execute(&format!("DEALLOCATE {PREPARED}"));
    }
    let (text, counted) = text?;
    let plan: serde_json::Value = serde_json::from_str(&text).ok()?;
    let id = plan[0]["Query Identifier"].as_i64().filter(|id| *id != 0)?;
    Some((id, counted))
}

/// `explain`'s JSON text, run in a read-only transaction that is rolled back (after preparing
/// `q` when it has parameters), and whether pg_stat_statements counted it as a call.
fn planned(client: &mut Client, q: &WorkloadQuery, explain: &str) -> Option<(String, bool)> {
    let mut tx = client.transaction().ok()?;
    tx.batch_execute("SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = '10s'")
        .ok()?;
    let counted = !uncounted(&mut tx);
    if !q.params.is_empty() {
        tx.batch_execute(&format!("PREPARE {PREPARED} AS {}", q.sql))
            .ok()?;
    }
    let text = tx
        .simple_query(explain)
        .ok()?
        .into_iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => r.get(0).map(String::from),
            _ => None,
        })?;
    Some((text, counted))
}

/// Whether planning in `tx` stays out of pg_stat_statements' calls: with `track = all` the
/// statement inside an EXPLAIN is counted, unless tracking can be narrowed to top-level
/// statements for this transaction (a superuser setting; tried in a savepoint).
fn uncounted(tx: &mut postgres::Transaction) -> bool {
    let track: Option<String> = tx
        .query_one(
            "SELECT current_setting('pg_stat_statements.track', true)",
            &[],
        )
        .ok()
        .and_then(|r| r.get(0));
    if track.as_deref() != Some("all") {
        return true;
    }
    let Ok(mut savepoint) = tx.savepoint("pgwarden_track") else {
        return false;
    };
    match savepoint.batch_execute("SET LOCAL pg_stat_statements.track = 'top'") {
        Ok(()) => savepoint.commit().is_ok(),
        Err(_) => false,
    }
}
