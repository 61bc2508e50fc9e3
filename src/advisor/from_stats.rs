//! The workload from pg_stat_statements (`advise --from-stats`). Left out before the top
//! statements are taken, and counted: pgwarden's own statements (marked, or recorded by query
//! identifier, see `crate::statements::own`), statements that are not a plain SELECT, and
//! statements that read no table of the searched schemas (catalog reads). Each top statement
//! is then either advised, with parameter values from pg_qualstats' example of it (when
//! installed), else from `pg_stats`, else planned as a generic plan; or listed as skipped with
//! the reason. None vanishes.

use super::error::AdviseError;
use super::generic::{generic_cost, single_read_only, typed_constants};
use super::statement::{
    Excluded, StatementStatus, StatsStatement, ValueSource, collapsed, unique_names,
};
use super::workload::{parameter_values, query};
use crate::db::{DbContext, quote_ident};
use crate::policy::{WorkloadQuery, bind_literals, placeholder_count};
use postgres::Client;
use std::collections::{HashMap, HashSet};

/// This database's statements, one row per query identifier (summed over roles), costliest
/// first. At most `$2` rows are read: enough for the top ones after the exclusions.
const STATEMENTS: &str = "/* pgwarden */ SELECT queryid, min(query), \
       sum(calls)::float8 / greatest(extract(epoch FROM now() - \
         (SELECT stats_reset FROM pg_stat_statements_info))::float8 / 60.0, 1.0), \
       sum(total_exec_time) / nullif(sum(calls), 0) \
     FROM pg_stat_statements \
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
       AND queryid IS NOT NULL AND toplevel \
     GROUP BY queryid HAVING sum(calls)::int8 >= $1 \
     ORDER BY sum(total_exec_time) DESC LIMIT $2";

/// pg_qualstats' schema, when it is installed in this database.
const QUALSTATS_SCHEMA: &str = "/* pgwarden */ SELECT n.nspname::text FROM pg_extension e \
     JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_qualstats'";

/// The workload read from pg_stat_statements.
#[derive(Debug, Clone, Default)]
pub struct StatsWorkload {
    /// The advised statements as workload queries (named as in `statements`).
    pub queries: Vec<WorkloadQuery>,
    /// Per query: `Some(mean ms)` when it is planned as a generic plan.
    pub generic: Vec<Option<f64>>,
    /// Every top statement, advised or skipped.
    pub statements: Vec<StatsStatement>,
    /// What was left out before the top statements were taken.
    pub excluded: Excluded,
    /// Where parameter values come from, as the report words it.
    pub values_from: String,
}

/// One row of [`STATEMENTS`].
struct Row {
    queryid: i64,
    text: String,
    per_minute: f64,
    mean_ms: f64,
}

/// How a top statement goes to the advisor.
enum Resolved {
    /// With values (or none needed): `sql` as measured, its parameter sets.
    Bound {
        sql: String,
        params: Vec<Vec<crate::policy::ParamValue>>,
        source: ValueSource,
        remark: Option<String>,
    },
    /// As a generic plan of `sql` (typed constants rewritten).
    Generic { sql: String, remark: String },
    /// Not advised, and why.
    Skipped(String),
}

/// The top `top` statements with at least `min_calls` calls; `own` are the query identifiers
/// pgwarden recorded for its own statements; `columns` the searched tables' columns.
pub fn from_stats(
    client: &mut Client,
    columns: &HashMap<String, Vec<String>>,
    (min_calls, top): (i64, i64),
    own: &[i64],
) -> Result<StatsWorkload, AdviseError> {
    crate::check::require_pg_stat_statements(client)?;
    let read = top.max(0).saturating_mul(20).saturating_add(200);
    let rows: Vec<Row> = client
        .query(STATEMENTS, &[&min_calls, &read])
        .db_context(|| "cannot read pg_stat_statements")?
        .iter()
        .map(|r| Row {
            queryid: r.get(0),
            text: r.get::<_, Option<String>>(1).unwrap_or_default(),
            per_minute: r.get(2),
            mean_ms: r.get::<_, Option<f64>>(3).unwrap_or(0.0),
        })
        .collect();
    let tables: HashSet<&str> = columns.keys().map(String::as_str).collect();
    let mut out = StatsWorkload::default();
    let mut kept = Vec::new();
    for row in rows {
        if own.contains(&row.queryid) || crate::statements::own::is_marked(&row.text) {
            out.excluded.pgwarden += 1;
        } else if !plain_select(&row.text) {
            out.excluded.not_select += 1;
        } else if !reads_a_table(&row.text, &tables) {
            out.excluded.no_table += 1;
        } else if kept.len() < top.max(0) as usize {
            kept.push(row);
        }
    }
    let qualstats = qualstats_schema(client);
    out.values_from = match qualstats {
        Some(_) => "values from pg_qualstats, else pg_stats".into(),
        None => "values from pg_stats".into(),
    };
    let ids: Vec<(String, String)> = kept
        .iter()
        .map(|r| (r.queryid.to_string(), r.text.clone()))
        .collect();
    for (row, name) in kept.iter().zip(unique_names(&ids)) {
        let resolved = resolve(client, row, columns, qualstats.as_deref());
        add(&mut out, row, name, resolved);
    }
    Ok(out)
}

/// Adds one top statement to the workload (when advised) and to the list.
fn add(out: &mut StatsWorkload, row: &Row, name: String, resolved: Resolved) {
    let mut entry = StatsStatement {
        queryid: row.queryid.to_string(),
        name: name.clone(),
        text: collapsed(&row.text),
        calls_per_minute: row.per_minute,
        mean_exec_ms: row.mean_ms,
        status: StatementStatus::Advised,
        values: None,
        reason: None,
    };
    let (sql, params, generic) = match resolved {
        Resolved::Bound {
            sql,
            params,
            source,
            remark,
        } => {
            entry.values = Some(source);
            entry.reason = remark;
            (sql, params, None)
        }
        Resolved::Generic { sql, remark } => {
            entry.values = Some(ValueSource::GenericPlan);
            entry.reason = Some(remark);
            (sql, Vec::new(), Some(row.mean_ms))
        }
        Resolved::Skipped(why) => {
            entry.status = StatementStatus::Skipped;
            entry.reason = Some(why);
            out.statements.push(entry);
            return;
        }
    };
    out.statements.push(entry);
    out.queries
        .push(query(name, sql, params, Some(row.per_minute)));
    out.generic.push(generic);
}

/// Whether the text is a plain SELECT (or WITH ... SELECT) that changes nothing.
fn plain_select(text: &str) -> bool {
    let head = collapsed(text);
    let first = head
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default();
    (first.eq_ignore_ascii_case("select") || first.eq_ignore_ascii_case("with"))
        && crate::sql::data_changing_keyword(text).is_none()
}

/// Whether some word of the text names one of `tables` (text that does not tokenize counts as
/// reading one: it is then listed, with the reason it cannot be advised).
fn reads_a_table(text: &str, tables: &HashSet<&str>) -> bool {
    crate::sql::words(text).map_or(true, |words| {
        words.iter().any(|w| tables.contains(w.as_str()))
    })
}

/// pg_qualstats' schema in this database, if it is installed.
fn qualstats_schema(client: &mut Client) -> Option<String> {
    client
        .query_opt(QUALSTATS_SCHEMA, &[])
        .ok()
        .flatten()
        .map(|r| r.get(0))
}

/// pg_qualstats' example of the statement: its text as it ran, constants written in.
fn qualstats_example(client: &mut Client, schema: &str, queryid: i64) -> Option<String> {
    let sql = format!(
        "SELECT {}.pg_qualstats_example_query($1)",
        quote_ident(schema)
    );
    client
        .query_one(&sql, &[&queryid])
        .ok()
        .and_then(|r| r.get::<_, Option<String>>(0))
}

/// Values for one top statement: pg_qualstats' example, else `pg_stats`, else a generic plan;
/// each checked by planning it, so that a statement that cannot run is skipped here rather
/// than failing the whole run.
fn resolve(
    client: &mut Client,
    row: &Row,
    columns: &HashMap<String, Vec<String>>,
    qualstats: Option<&str>,
) -> Resolved {
    let text = &row.text;
    if !single_read_only(text) {
        return Resolved::Skipped("not one read-only statement".into());
    }
    let count = match placeholder_count(text) {
        Ok(n) => n,
        Err(e) => return Resolved::Skipped(format!("cannot read its parameters: {e}")),
    };
    if count == 0 {
        return match plans(client, text) {
            Ok(()) => bound(text.clone(), Vec::new(), ValueSource::None, None),
            Err(e) => Resolved::Skipped(format!("does not plan: {e}")),
        };
    }
    let mut tried = Vec::new();
    if let Some(schema) = qualstats {
        match qualstats_example(client, schema, row.queryid) {
            Some(ex) if single_read_only(&ex) && placeholder_count(&ex).is_ok_and(|n| n == 0) => {
                match plans(client, &ex) {
                    Ok(()) => return bound(ex, Vec::new(), ValueSource::PgQualstats, None),
                    Err(e) => tried.push(format!("pg_qualstats' example does not plan: {e}")),
                }
            }
            Some(_) => tried.push("pg_qualstats' example is not one statement with values".into()),
            None => tried.push("no example in pg_qualstats".into()),
        }
    }
    match parameter_values(client, text, columns) {
        Ok(values) => match bind_literals(text, &values) {
            Ok(sql) => match plans(client, &sql) {
                Ok(()) => {
                    let remark = (!tried.is_empty()).then(|| tried.join("; "));
                    return bound(text.clone(), vec![values], ValueSource::PgStats, remark);
                }
                Err(e) => tried.push(format!("with values from pg_stats it does not plan: {e}")),
            },
            Err(e) => tried.push(e.to_string()),
        },
        Err(why) => tried.push(why),
    }
    generic(client, text, &tried.join("; "))
}

fn bound(
    sql: String,
    params: Vec<Vec<crate::policy::ParamValue>>,
    source: ValueSource,
    remark: Option<String>,
) -> Resolved {
    Resolved::Bound {
        sql,
        params,
        source,
        remark,
    }
}

/// A statement without values as a generic plan, or skipped when even that does not plan.
fn generic(client: &mut Client, text: &str, why: &str) -> Resolved {
    let sql = match typed_constants(text) {
        Ok(sql) => sql,
        Err(e) => return Resolved::Skipped(format!("no parameter values ({why}): {e}")),
    };
    match generic_cost(client, &sql) {
        Ok(_) => Resolved::Generic {
            sql,
            remark: format!(
                "no parameter values ({why}): planned as a generic plan; time before from pg_stat_statements, with an index predicted from planner cost"
            ),
        },
        Err(e) => Resolved::Skipped(format!(
            "no parameter values ({why}), and its generic plan failed: {e}"
        )),
    }
}

/// Plans `sql` (EXPLAIN only, in a READ ONLY transaction that is rolled back).
fn plans(client: &mut Client, sql: &str) -> Result<(), AdviseError> {
    let q = query("plan check".into(), sql.to_string(), Vec::new(), None);
    crate::check::explain_batch(
        client,
        &q,
        10_000,
        &[format!("EXPLAIN (FORMAT JSON) {sql}")],
    )?
    .ok_or(crate::check::CheckError::PlanningTimeout)?;
    Ok(())
}
