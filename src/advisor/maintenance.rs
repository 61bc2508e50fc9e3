//! An index's maintenance cost per written row, timed on the proving server: a batch of the
//! table's own rows is inserted into a temporary table of the same shape, without and then with
//! the candidate index defined on it, and the difference per row is the cost. Everything happens
//! in one transaction that is rolled back, on a temporary table, so the copy is left as it was.
//! A GIN index is timed with its pending list off (`fastupdate = off`): the list only defers
//! the cost of each entry to a later merge, which someone pays all the same.

use super::candidates::{IndexCandidate, Method};
use super::cost::{BTREE_ESTIMATE_MS, GIN_ESTIMATE_MS, Maintenance, MaintenanceSource};
use super::error::AdviseError;
use crate::db::{DbError, quote_ident};
use postgres::{Client, Transaction};

/// Rows inserted per timing: enough that an index's cost (a few µs a row) stands out from the
/// timer's noise, few enough to take milliseconds.
const ROWS: i64 = 2000;
/// Timings each way; the fastest counts (slower ones met a busy machine).
const RUNS: usize = 3;
/// The temporary table's name, and another for a table that has that name.
const TEMP: [&str; 2] = ["pgwarden_maintenance", "pgwarden_maintenance_2"];

/// The documented estimate for `candidate`'s method, when nothing can be timed.
pub fn estimate(candidate: &IndexCandidate, source: MaintenanceSource) -> Maintenance {
    Maintenance {
        ms_per_row: match candidate.method {
            Method::Btree => BTREE_ESTIMATE_MS,
            Method::Gin => GIN_ESTIMATE_MS,
        },
        source,
    }
}

/// Times `candidate`'s maintenance on `client` (the proving copy, named `on` in the report).
/// A timing PostgreSQL refuses (no TEMP privilege, an empty table) gives the estimate with the
/// reason; a lost connection is an error.
pub fn measure(
    client: &mut Client,
    candidate: &IndexCandidate,
    on: &str,
) -> Result<Maintenance, AdviseError> {
    match timed(client, candidate) {
        Ok(Ok(ms_per_row)) => Ok(Maintenance {
            ms_per_row,
            source: MaintenanceSource::Measured { on: on.to_string() },
        }),
        Ok(Err(reason)) => Ok(estimate(
            candidate,
            MaintenanceSource::EstimateAfterError { reason },
        )),
        Err(e) if e.code().is_some() => Ok(estimate(
            candidate,
            MaintenanceSource::EstimateAfterError {
                reason: crate::db::describe(&e),
            },
        )),
        Err(e) => Err(DbError::new("timing index maintenance on the proving copy", e).into()),
    }
}

/// ms per row (at least 0), or why there is nothing to time.
fn timed(
    client: &mut Client,
    candidate: &IndexCandidate,
) -> Result<Result<f64, String>, postgres::Error> {
    let temp = if candidate.table == TEMP[0] {
        TEMP[1]
    } else {
        TEMP[0]
    };
    let mut tx = client.transaction()?;
    tx.batch_execute(&format!(
        "CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP",
        quote_ident(temp),
        quote_ident(&candidate.table)
    ))?;
    let insert = format!(
        "INSERT INTO {} SELECT * FROM {} LIMIT {ROWS}",
        quote_ident(temp),
        quote_ident(&candidate.table)
    );
    // Once untimed: the rows are read into the cache.
    tx.batch_execute(&insert)?;
    let rows: i64 = tx
        .query_one(&format!("SELECT count(*) FROM {}", quote_ident(temp)), &[])?
        .get(0);
    if rows == 0 {
        return Ok(Err(format!("{} has no rows to time", candidate.table)));
    }
    let without = fastest(&mut tx, &insert, temp)?;
    let mut on_temp = candidate.clone();
    on_temp.table = temp.to_string();
    let index = format!("{temp}_index");
    let ddl = on_temp
        .ddl_as(false, &index)
        .replacen(" IF NOT EXISTS", "", 1);
    tx.batch_execute(&ddl)?;
    if candidate.method == Method::Gin {
        tx.batch_execute(&format!(
            "ALTER INDEX {} SET (fastupdate = off)",
            quote_ident(&index)
        ))?;
    }
    let with = fastest(&mut tx, &insert, temp)?;
    tx.rollback()?;
    if !(with.is_finite() && without.is_finite()) {
        return Ok(Err("EXPLAIN ANALYZE gave no execution time".into()));
    }
    Ok(Ok(((with - without) / rows as f64).max(0.0)))
}

/// The fastest of [`RUNS`] executions of `insert` into the emptied `temp`, ms.
fn fastest(tx: &mut Transaction, insert: &str, temp: &str) -> Result<f64, postgres::Error> {
    let explain = format!("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {insert}");
    let mut best = f64::INFINITY;
    for _ in 0..RUNS {
        tx.batch_execute(&format!("TRUNCATE {}", quote_ident(temp)))?;
        let text = tx
            .simple_query(&explain)?
            .into_iter()
            .find_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => r.get(0).map(String::from),
                _ => None,
            });
        let ms = text
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|plan| plan[0]["Execution Time"].as_f64())
            .unwrap_or(f64::INFINITY);
        best = best.min(ms);
    }
    Ok(best)
}
