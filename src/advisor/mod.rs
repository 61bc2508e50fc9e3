//! The index advisor: candidates from each over-budget query's shape, proven on a shadow
//! database (or with HypoPG), then chosen across the whole workload for the most queries under
//! budget at the least size and write overhead. Never changes the target database.

pub mod candidates;
mod evaluate;
pub mod select;
pub mod shape;
pub mod workload;
mod written;

pub use written::migration_sql;
use written::proposal;

use crate::db;
use crate::policy::{Policy, bind_literals};
use candidates::{ExistingIndex, IndexCandidate, Method};
use postgres::Client;
use select::{CandidateEffect, Limits, QueryCost};
use serde::Serialize;
use std::collections::HashMap;

/// Estimated index maintenance per written row, ms (btree, GIN). Rough, documented constants:
/// they only need to separate a hot table from a quiet one.
const BTREE_WRITE_MS: f64 = 0.01;
const GIN_WRITE_MS: f64 = 0.05;

const COLUMNS: &str = "SELECT c.relname::text, array_agg(a.attname::text ORDER BY a.attnum) \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
     WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname = ANY (current_schemas(false)) GROUP BY 1";
const EXISTING: &str = "SELECT c.relname::text, t.relname::text, am.amname::text, \
       i.indpred IS NOT NULL OR i.indexprs IS NOT NULL, \
       array(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord) \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE k.ord <= i.indnkeyatts ORDER BY k.ord) \
     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid \
     JOIN pg_am am ON am.oid = c.relam JOIN pg_namespace n ON n.oid = t.relnamespace \
     WHERE i.indisvalid AND n.nspname = ANY (current_schemas(false))";
const WRITE_RATES: &str = "SELECT relname::text, (n_tup_ins + n_tup_upd + n_tup_del)::float8 / \
       greatest(extract(epoch FROM now() - coalesce((SELECT stats_reset FROM pg_stat_database \
         WHERE datname = current_database()), pg_postmaster_start_time()))::float8 / 60.0, 1.0) \
     FROM pg_stat_user_tables";

/// Where candidates are proven.
pub enum Lab<'a> {
    /// A copy of the database (never the target): candidates are built for real.
    Shadow {
        client: &'a mut Client,
        label: String,
        /// Set when the copy holds a sample of the rows: table name -> live rows per copied
        /// row, for each sampled table (tables copied whole are absent).
        sample: Option<HashMap<String, f64>>,
    },
    /// HypoPG in the target: planner costs only, no index is built.
    Hypothetical,
}

/// One proposed index with its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Proposal {
    pub name: String,
    pub table: String,
    pub method: Method,
    pub columns: Vec<String>,
    pub ddl: String,
    pub serves: Vec<String>,
    pub size_bytes: i64,
    pub write_overhead_ms_per_min: f64,
    pub why: String,
}

/// A candidate considered and not proposed.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    pub ddl: String,
    pub reason: String,
}

/// A workload query before and after the proposals.
#[derive(Debug, Clone, Serialize)]
pub struct QueryOutcome {
    pub name: String,
    pub budget_ms: f64,
    pub before_ms: f64,
    pub after_ms: f64,
    pub note: Option<String>,
}

/// The advisor's result.
#[derive(Debug, Clone, Serialize)]
pub struct Advice {
    pub evaluation: String,
    pub queries: Vec<QueryOutcome>,
    pub proposals: Vec<Proposal>,
    pub rejected: Vec<Rejected>,
}

fn describe(e: postgres::Error) -> String {
    db::describe(&e)
}

/// What the advisor reads from the target's catalog.
struct TargetCatalog {
    /// table -> column names
    columns: HashMap<String, Vec<String>>,
    existing: Vec<ExistingIndex>,
    /// table -> rows written per minute since the statistics were reset
    write_rates: HashMap<String, f64>,
}

/// Reads what the advisor needs from the target's catalog: columns, indexes, write rates.
pub fn read_columns(target: &mut Client) -> Result<HashMap<String, Vec<String>>, String> {
    Ok(read_catalog(target)?.columns)
}

fn read_catalog(target: &mut Client) -> Result<TargetCatalog, String> {
    let columns = target
        .query(COLUMNS, &[])
        .map_err(describe)?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let existing = target
        .query(EXISTING, &[])
        .map_err(describe)?
        .iter()
        .map(|r| ExistingIndex {
            name: r.get(0),
            table: r.get(1),
            method: r.get(2),
            partial: r.get(3),
            columns: r.get(4),
        })
        .collect();
    let rates = target
        .query(WRITE_RATES, &[])
        .map_err(describe)?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    Ok(TargetCatalog {
        columns,
        existing,
        write_rates: rates,
    })
}

/// Runs the advisor. `target` is only read; `lab` proves the candidates.
pub fn advise(
    target: &mut Client,
    mut lab: Lab,
    policy: &Policy,
    limits: Limits,
) -> Result<Advice, String> {
    let TargetCatalog {
        columns,
        existing,
        write_rates: rates,
    } = read_catalog(target)?;
    // `before` is the live database's time of each query; `lab_before` the copy's, when it
    // holds only a sample (then the copy's times are carried over as ratios).
    let (evaluation, before, lab_before) = match &mut lab {
        Lab::Shadow {
            client,
            label,
            sample: None,
        } => (
            format!("materialized on {label}"),
            evaluate::baselines(client, policy)?,
            None,
        ),
        Lab::Shadow {
            client,
            label,
            sample: Some(_),
        } => (
            format!(
                "materialized on {label}; each query's time with an index is its live time scaled by the ratio measured on the sample, sizes by the sampled share"
            ),
            evaluate::baselines(target, policy)?,
            Some(evaluate::baselines(client, policy)?),
        ),
        Lab::Hypothetical => {
            if !evaluate::hypopg_available(target) {
                return Err("advise needs somewhere to prove its candidates: pass --throwaway (a throwaway server filled with this database's schema and rows), --shadow-url URL (a copy of this database, never production), or install HypoPG in this database (`CREATE EXTENSION hypopg`)".into());
            }
            (
                "hypothetical (HypoPG planner costs scaling measured times)".to_string(),
                evaluate::baselines(target, policy)?,
                None,
            )
        }
    };
    let mut notes: Vec<Option<String>> = vec![None; policy.queries.len()];
    let mut cands: Vec<IndexCandidate> = Vec::new();
    let mut relevant: Vec<Vec<bool>> = Vec::new();
    for (i, q) in policy.queries.iter().enumerate() {
        if !before[i].over {
            continue;
        }
        let sql = q
            .params
            .first()
            .map_or_else(|| Ok(q.sql.clone()), |p| bind_literals(&q.sql, p))?;
        let shape = match shape::shape(&sql, &columns) {
            Ok(s) => s,
            Err(e) => {
                notes[i] = Some(format!("not analysed: {e}"));
                continue;
            }
        };
        let rare = rare_constants(target, &q.sql, &columns)?;
        for c in candidates::candidates(&shape, &existing, &rare) {
            let k = cands.iter().position(|x| *x == c).unwrap_or_else(|| {
                cands.push(c);
                relevant.push(vec![false; policy.queries.len()]);
                cands.len() - 1
            });
            relevant[k][i] = true;
        }
    }
    let mut effects = Vec::new();
    let mut rejected = Vec::new();
    for (k, c) in cands.iter().enumerate() {
        tracing::info!(candidate = %c.name(), "evaluating");
        let effect = match &mut lab {
            Lab::Shadow { client, sample, .. } => {
                let on_copy = lab_before.as_deref().unwrap_or(&before);
                let effect = evaluate::materialized(client, policy, c, &relevant[k], on_copy)?;
                match sample {
                    Some(shares) => {
                        let rows_per_copied = shares.get(&c.table).copied().unwrap_or(1.0);
                        evaluate::to_live(effect, rows_per_copied, &before, on_copy)
                    }
                    None => effect,
                }
            }
            Lab::Hypothetical => evaluate::hypothetical(target, policy, c, &relevant[k], &before)?,
        };
        if let Some(why) = &effect.unproven {
            rejected.push(Rejected {
                ddl: c.ddl(true),
                reason: why.clone(),
            });
        }
        let per_row = if c.method == Method::Gin {
            GIN_WRITE_MS
        } else {
            BTREE_WRITE_MS
        };
        effects.push(CandidateEffect {
            id: k,
            size_bytes: effect.size_bytes,
            write_cost_ms_per_min: rates.get(&c.table).copied().unwrap_or(0.0) * per_row,
            after_ms: effect.after_ms,
        });
    }
    let queries: Vec<QueryCost> = policy
        .queries
        .iter()
        .zip(&before)
        .map(|(q, b)| QueryCost {
            name: q.name.clone(),
            weight: q.weight.unwrap_or(1.0),
            budget_ms: policy.budget_for(q).mean_ms,
            before_ms: b.mean_ms,
        })
        .collect();
    let tables: Vec<String> = cands.iter().map(|c| c.table.clone()).collect();
    let proven: Vec<CandidateEffect> = effects
        .iter()
        .filter(|e| !rejected.iter().any(|r| r.ddl == cands[e.id].ddl(true)))
        .cloned()
        .collect();
    let selection = select::select(&queries, &proven, &tables, limits);
    let mut taken: std::collections::HashSet<String> = target
        .query(RELATION_NAMES, &[])
        .map_err(describe)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let proposals = selection
        .chosen
        .iter()
        .map(|&k| {
            let mut p = proposal(&cands[k], &effects[k], &queries);
            // The name must be free among the target's relations and the other proposals, or
            // `IF NOT EXISTS` would silently build nothing.
            p.name = crate::escape::free_name(&p.name, |name| taken.insert(name.to_string()));
            p.ddl = cands[k].ddl_as(true, &p.name);
            p
        })
        .collect();
    rejected.extend(selection.rejected.iter().map(|r| Rejected {
        ddl: cands[r.id].ddl(true),
        reason: r.reason.clone(),
    }));
    let outcomes = queries
        .iter()
        .zip(&selection.after_ms)
        .zip(notes)
        .map(|((q, after), note)| QueryOutcome {
            name: q.name.clone(),
            budget_ms: q.budget_ms,
            before_ms: q.before_ms,
            after_ms: *after,
            note,
        })
        .collect();
    Ok(Advice {
        evaluation,
        queries: outcomes,
        proposals,
        rejected,
    })
}

/// Frequency of `value` among a column's most common values (NULL when it is not one: then the
/// column is not categorical for this value, e.g. a unique key, and a partial index would only
/// serve that one literal).
const VALUE_FREQUENCY: &str = "SELECT (SELECT u.f FROM pg_stats s, \
       unnest(s.most_common_vals::text::text[], s.most_common_freqs) AS u(v, f) \
       WHERE s.tablename = $1 AND s.attname = $2 AND s.schemaname = ANY (current_schemas(false)) \
         AND u.v = $3 LIMIT 1)::float8";

/// A common value found in 10% of rows or fewer is rare enough for a partial index.
const RARE_FREQUENCY: f64 = 0.10;

/// Constants the query's own text (not a parameter) filters on, with rare values.
fn rare_constants(
    target: &mut Client,
    sql: &str,
    columns: &HashMap<String, Vec<String>>,
) -> Result<Vec<candidates::RareConstant>, String> {
    let Ok(unbound) = shape::shape(sql, columns) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for u in &unbound.uses {
        if let shape::Use::Eq(Some(value)) = &u.usage {
            let freq: Option<f64> = target
                .query_one(VALUE_FREQUENCY, &[&u.table, &u.column, value])
                .map_err(describe)?
                .get(0);
            if freq.is_some_and(|f| f <= RARE_FREQUENCY) {
                out.push((u.table.clone(), u.column.clone(), value.clone()));
            }
        }
    }
    Ok(out)
}

/// Relation names in the search path, where the advisor's unqualified indexes are created.
const RELATION_NAMES: &str = "SELECT c.relname::text FROM pg_class c \
     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY (current_schemas(false))";
