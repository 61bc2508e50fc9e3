//! What the advisor reads from the target before proving anything: columns, existing indexes,
//! the rare constants each workload query filters on, and the relation names a
//! proposal's name must avoid. Read-only; gathered up front, so the decisions over a
//! [`super::prove::Prover`] need no database.

use super::candidates::{ColumnType, ExistingIndex, RareConstant};
use super::shape;
use crate::db::{DbContext, DbError};
use crate::policy::Policy;
use postgres::Client;
use std::collections::{HashMap, HashSet};

const COLUMNS: &str = "/* pgwarden */ SELECT c.relname::text, array_agg(a.attname::text ORDER BY a.attnum) \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
     WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname = ANY (current_schemas(false)) GROUP BY 1";
const EXISTING: &str = "/* pgwarden */ SELECT c.relname::text, t.relname::text, am.amname::text, \
       i.indpred IS NOT NULL OR i.indexprs IS NOT NULL \
         OR EXISTS (SELECT 1 FROM unnest(i.indclass::oid[]) oc(oid) JOIN pg_opclass o ON o.oid = oc.oid \
                    WHERE NOT o.opcdefault) \
         OR EXISTS (SELECT 1 FROM unnest(i.indkey::int2[], i.indcollation::oid[]) k(attnum, coll) \
                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                    WHERE k.coll <> a.attcollation), \
       array(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord) \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE k.ord <= i.indnkeyatts ORDER BY k.ord) \
     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid \
     JOIN pg_am am ON am.oid = c.relam JOIN pg_namespace n ON n.oid = t.relnamespace \
     WHERE i.indisvalid AND n.nspname = ANY (current_schemas(false))";
/// Per column: jsonb, and text or varchar under a collation other than C (a prefix LIKE then
/// needs `text_pattern_ops`); the database's default collation decides for columns that use it.
const COLUMN_TYPES: &str = "/* pgwarden */ WITH db AS (SELECT datcollate IN ('C', 'POSIX') \
         AND coalesce(to_jsonb(d) ->> 'datlocprovider', 'c') = 'c' AS c_default \
       FROM pg_database d WHERE datname = current_database()) \
     SELECT c.relname::text, a.attname::text, a.atttypid = 'jsonb'::regtype, \
       a.atttypid IN ('text'::regtype, 'varchar'::regtype) AND NOT coalesce( \
         (SELECT co.collprovider = 'c' AND co.collcollate IN ('C', 'POSIX') FROM pg_collation co \
          WHERE co.oid = a.attcollation AND co.collname <> 'default'), \
         (SELECT c_default FROM db)), \
       (SELECT c_default FROM db) \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
     WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname = ANY (current_schemas(false))";

/// Frequency of `value` among a column's most common values (NULL when it is not one: then the
/// column is not categorical for this value, e.g. a unique key, and a partial index would only
/// serve that one literal).
const VALUE_FREQUENCY: &str = "/* pgwarden */ SELECT (SELECT u.f FROM pg_stats s, \
       unnest(s.most_common_vals::text::text[], s.most_common_freqs) AS u(v, f) \
       WHERE s.tablename = $1 AND s.attname = $2 AND s.schemaname = ANY (current_schemas(false)) \
         AND u.v = $3 LIMIT 1)::float8";

/// A common value found in 10% of rows or fewer is rare enough for a partial index.
const RARE_FREQUENCY: f64 = 0.10;

/// Partitioned tables in the search path: PostgreSQL cannot build their indexes concurrently.
const PARTITIONED: &str = "/* pgwarden */ SELECT c.relname::text FROM pg_class c \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind = 'p' AND n.nspname = ANY (current_schemas(false))";

/// Relation names in the search path, where the advisor's unqualified indexes are created.
const RELATION_NAMES: &str = "/* pgwarden */ SELECT c.relname::text FROM pg_class c \
     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY (current_schemas(false))";

/// What the advisor knows of the target's catalog: plain data, read once.
#[derive(Debug, Clone, Default)]
pub struct TargetCatalog {
    /// Table -> column names.
    pub columns: HashMap<String, Vec<String>>,
    /// Partitioned tables (an index on one cannot be built concurrently).
    pub partitioned: HashSet<String>,
    /// The valid indexes in the search path.
    pub existing: Vec<ExistingIndex>,
    /// Per workload query (policy order): the constants its own text (not a parameter)
    /// filters on whose value is rare; a query past the end has none.
    pub rare_constants: Vec<Vec<RareConstant>>,
    /// Relation names in the search path, which a proposal's name must not take.
    pub relation_names: HashSet<String>,
    /// (table, column) -> what its type asks of an index key (jsonb, pattern ops).
    pub types: HashMap<(String, String), ColumnType>,
    /// The database's default collation is C.
    pub default_collation_c: bool,
}

impl TargetCatalog {
    /// Reads what the advisor needs from `target` to advise on `policy`'s workload.
    pub fn read(target: &mut Client, policy: &Policy) -> Result<Self, DbError> {
        let mut catalog = read_tables(target)?;
        catalog.rare_constants = policy
            .queries
            .iter()
            .map(|q| rare_constants(target, &q.sql, &catalog.columns))
            .collect::<Result<_, _>>()?;
        for r in target
            .query(COLUMN_TYPES, &[])
            .db_context(|| "cannot read the target's column types")?
        {
            let ty = ColumnType {
                jsonb: r.get(2),
                needs_pattern_ops: r.get(3),
            };
            catalog.default_collation_c = r.get(4);
            catalog.types.insert((r.get(0), r.get(1)), ty);
        }
        catalog.partitioned = target
            .query(PARTITIONED, &[])
            .db_context(|| "cannot read the target's partitioned tables")?
            .iter()
            .map(|r| r.get(0))
            .collect();
        catalog.relation_names = target
            .query(RELATION_NAMES, &[])
            .db_context(|| "cannot read the target's relation names")?
            .iter()
            .map(|r| r.get(0))
            .collect();
        Ok(catalog)
    }
}

/// The target's tables and their columns.
pub fn read_columns(target: &mut Client) -> Result<HashMap<String, Vec<String>>, DbError> {
    Ok(read_tables(target)?.columns)
}

/// Columns and existing indexes (the rest left empty).
fn read_tables(target: &mut Client) -> Result<TargetCatalog, DbError> {
    let columns = target
        .query(COLUMNS, &[])
        .db_context(|| "cannot read the target's columns")?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let existing = target
        .query(EXISTING, &[])
        .db_context(|| "cannot read the target's indexes")?
        .iter()
        .map(|r| ExistingIndex {
            name: r.get(0),
            table: r.get(1),
            method: r.get(2),
            partial: r.get(3),
            columns: r.get(4),
        })
        .collect();
    Ok(TargetCatalog {
        columns,
        existing,
        ..TargetCatalog::default()
    })
}

/// Constants the query's own text (not a parameter) filters on, with rare values.
fn rare_constants(
    target: &mut Client,
    sql: &str,
    columns: &HashMap<String, Vec<String>>,
) -> Result<Vec<RareConstant>, DbError> {
    let Ok(unbound) = shape::shape(sql, columns) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for u in &unbound.uses {
        if let shape::Use::Eq(Some(value)) = &u.usage {
            let freq: Option<f64> = target
                .query_one(VALUE_FREQUENCY, &[&u.table, &u.column, value])
                .db_context(|| format!("cannot read the statistics of {}.{}", u.table, u.column))?
                .get(0);
            if freq.is_some_and(|f| f <= RARE_FREQUENCY) {
                out.push((u.table.clone(), u.column.clone(), value.clone()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod marker_tests {
    /// Every statement the advisor runs on the target carries pgwarden's marker, so that
    /// `--from-stats` never reads them as the application's (a table named `t` made the
    /// existing-index query look like one).
    #[test]
    fn the_advisors_reads_of_the_target_are_marked() {
        for sql in [
            super::COLUMNS,
            super::EXISTING,
            super::COLUMN_TYPES,
            super::VALUE_FREQUENCY,
            super::PARTITIONED,
            super::RELATION_NAMES,
        ] {
            assert!(sql.starts_with(crate::db::OWN_STATEMENT_MARKER), "{sql}");
        }
    }
}
