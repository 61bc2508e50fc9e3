//! Fills the catalog model with one query per kind of object (never one per table), so it
//! scales to tens of thousands of tables.

use super::model::{Catalog, ForeignKey, Index, Table};
use postgres::GenericClient;

const SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' \
     AND n.nspname NOT LIKE 'pg_temp%'";

fn tables_sql() -> String {
    format!(
        "SELECT n.nspname::text, c.relname::text, pg_table_size(c.oid), \
           coalesce(s.n_tup_ins + s.n_tup_upd + s.n_tup_del, 0) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid \
         WHERE c.relkind IN ('r', 'p') AND {SCHEMAS} AND c.relname <> 'refinery_schema_history' ORDER BY 1, 2"
    )
}

fn indexes_sql() -> String {
    format!(
        "SELECT n.nspname::text, c.relname::text, t.relname::text, pg_get_indexdef(i.indexrelid), am.amname::text, \
           array(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts) k), \
           pg_get_expr(i.indpred, i.indrelid, true), i.indisunique, i.indisprimary, con.conname::text, \
           i.indisvalid, pg_relation_size(i.indexrelid), coalesce(s.idx_scan, 0) \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am am ON am.oid = c.relam \
         LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x') \
         LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid \
         WHERE {SCHEMAS} AND t.relname <> 'refinery_schema_history' ORDER BY 1, 2"
    )
}

fn foreign_keys_sql() -> String {
    format!(
        "SELECT n.nspname::text, t.relname::text, con.conname::text, \
           array(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord) \
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord), \
           con.confrelid::regclass::text \
         FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE con.contype = 'f' AND {SCHEMAS} ORDER BY 1, 2, 3"
    )
}

const STATS_AGE: &str = "SELECT extract(epoch FROM now() - coalesce((SELECT stats_reset FROM pg_stat_database \
     WHERE datname = current_database()), pg_postmaster_start_time()))::float8";

/// Reads tables, indexes and foreign keys of every user schema.
pub fn read(client: &mut impl GenericClient) -> Result<Catalog, postgres::Error> {
    let tables = client
        .query(tables_sql().as_str(), &[])?
        .iter()
        .map(|r| Table {
            schema: r.get(0),
            name: r.get(1),
            size_bytes: r.get(2),
            writes: r.get(3),
        })
        .collect();
    let indexes = client
        .query(indexes_sql().as_str(), &[])?
        .iter()
        .map(|r| Index {
            schema: r.get(0),
            name: r.get(1),
            table: r.get(2),
            definition: r.get(3),
            method: r.get(4),
            columns: r.get(5),
            predicate: r.get(6),
            unique: r.get(7),
            primary: r.get(8),
            constraint: r.get(9),
            valid: r.get(10),
            size_bytes: r.get(11),
            scans: r.get(12),
        })
        .collect();
    let foreign_keys = client
        .query(foreign_keys_sql().as_str(), &[])?
        .iter()
        .map(|r| ForeignKey {
            schema: r.get(0),
            table: r.get(1),
            name: r.get(2),
            columns: r.get(3),
            referenced_table: r.get(4),
        })
        .collect();
    let stats_age_seconds: f64 = client.query_one(STATS_AGE, &[])?.get(0);
    Ok(Catalog {
        tables,
        indexes,
        foreign_keys,
        stats_age_seconds,
    })
}
