//! Fills the catalog model with one query per kind of object (never one per table), so it
//! scales to tens of thousands of tables.

use super::model::{AttachedIndex, Catalog, ForeignKey, Index, Partition, Table};
use super::{NullsNotDistinct, index_meaning_sql};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{GenericClient, Row};
use std::collections::HashMap;

const SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' \
     AND n.nspname NOT LIKE 'pg_temp%'";

/// Writes come from the statistics functions themselves: `pg_stat_user_tables` also sums
/// every index's scans per table (a GROUP BY over all indexes) that is not needed here.
fn tables_sql() -> String {
    format!(
        "SELECT n.nspname::text, c.relname::text, c.relpages::int8 * current_setting('block_size')::int8, \
           pg_stat_get_tuples_inserted(c.oid) + pg_stat_get_tuples_updated(c.oid) + pg_stat_get_tuples_deleted(c.oid) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND {SCHEMAS} AND c.relname <> 'refinery_schema_history' ORDER BY 1, 2"
    )
}

/// An index's scans (`c` is its `pg_class` row): a partitioned index (relkind `I`) has no
/// statistics of its own, its partitions' indexes are scanned, so their scans are summed.
/// Others are read by the function `pg_stat_user_indexes` calls (joining the view cost a hash
/// join over every index).
const SCANS: &str = "CASE WHEN c.relkind = 'I' THEN (SELECT coalesce(sum(u.idx_scan), 0)::int8 \
       FROM pg_partition_tree(c.oid) pt JOIN pg_stat_user_indexes u ON u.indexrelid = pt.relid) \
     ELSE pg_stat_get_numscans(c.oid) END";

fn indexes_sql(definitions: bool, major: u32) -> String {
    // Sizes come from pg_class.relpages (kept by VACUUM, ANALYZE and index builds): asking the
    // file system per relation costs a second per 40,000 indexes. Column names are joined in
    // memory (see `attributes_sql`); only expression columns are deparsed.
    //
    // The definition's tail (from ` USING` on) is cut by the exact length of the head that
    // `pg_get_indexdef` prints (`CREATE [UNIQUE] INDEX name ON [ONLY] schema.table`), computed
    // with the same `quote_ident`, so no name, however hostile, can move the cut: DDL is then
    // built from quoted names plus PostgreSQL's own deparsed tail.
    // The head's length in bytes is sent and the definition cut in memory: deparsing each
    // index twice cost a second per 40,000 indexes.
    let (definition, tail) = if definitions {
        (
            "pg_get_indexdef(i.indexrelid)",
            "octet_length('CREATE ' || CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END \
               || 'INDEX ' || quote_ident(c.relname) || ' ON ' || CASE WHEN c.relkind = 'I' THEN 'ONLY ' ELSE '' END \
               || quote_ident(tn.nspname) || '.' || quote_ident(t.relname))::int4",
        )
    } else {
        ("''::text", "0::int4")
    };
    // Operator classes and collations by name, never by OID (see index_meaning_sql). An index
    // attached to a partitioned index is a partition itself (`relispartition`), read as such.
    // The predicate deparsed plainly: the pretty form took three times as long (0.33 s against
    // 0.10 s for 10,000 partial indexes); it is only compared with another read by this query.
    // No ORDER BY: the rows are sorted in memory (the server's sort of 40,000 wide rows cost a
    // quarter of a second).
    let meaning = index_meaning_sql(NullsNotDistinct::ForMajor(major));
    format!(
        "SELECT n.nspname::text, c.relname::text, t.relname::text, {definition}, am.amname::text, \
           i.indrelid::int8, i.indkey::text, i.indnkeyatts::int4, \
           pg_get_expr(i.indpred, i.indrelid), i.indisunique, i.indisprimary, con.conname::text, \
           i.indisvalid, c.relpages::int8 * current_setting('block_size')::int8, {SCANS}, \
           {meaning}, \
           CASE WHEN 0 = ANY (i.indkey) THEN \
             array(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnatts) k) END, \
           {tail}, t.relkind = 'p', i.indisreplident, \
           EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = i.indexrelid), \
           i.indexrelid::int8 \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_namespace tn ON tn.oid = t.relnamespace \
         JOIN pg_am am ON am.oid = c.relam \
         LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x') \
         WHERE {SCHEMAS} AND t.relname <> 'refinery_schema_history' AND NOT c.relispartition"
    )
}

/// Every relation's schema and name (indexes share their namespace with tables, views, ...).
fn relation_names_sql() -> String {
    format!(
        "SELECT n.nspname::text, c.relname::text FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {SCHEMAS}"
    )
}

/// Partitions of partitioned tables: (parent schema, parent, partition schema, partition,
/// whether the partition is itself partitioned).
fn partitions_sql() -> String {
    format!(
        "SELECT pn.nspname::text, p.relname::text, n.nspname::text, c.relname::text, c.relkind = 'p' \
         FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid JOIN pg_class p ON p.oid = h.inhparent \
         JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_namespace pn ON pn.oid = p.relnamespace \
         WHERE p.relkind = 'p' AND {SCHEMAS} ORDER BY 1, 2, 3, 4"
    )
}

/// Indexes of partitions that are attached to a partitioned index: (partition schema,
/// partition, index name, parent index schema, parent index name).
const ATTACHED_SQL: &str = "SELECT n.nspname::text, t.relname::text, c.relname::text, pn.nspname::text, p.relname::text \
     FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid JOIN pg_class p ON p.oid = h.inhparent \
     JOIN pg_index i ON i.indexrelid = c.oid JOIN pg_class t ON t.oid = i.indrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_namespace pn ON pn.oid = p.relnamespace \
     WHERE p.relkind = 'I'";

fn attributes_sql() -> String {
    format!(
        "SELECT a.attrelid::int8, a.attnum::int4, quote_ident(a.attname)::text FROM pg_attribute a \
         JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'm') AND {SCHEMAS}"
    )
}

fn foreign_keys_sql() -> String {
    format!(
        "SELECT n.nspname::text, t.relname::text, con.conname::text, \
           array(SELECT quote_ident(a.attname)::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord) \
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord), \
           con.confrelid::regclass::text \
         FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE con.contype = 'f' AND con.conparentid = 0 AND {SCHEMAS} ORDER BY 1, 2, 3"
    )
}

/// Expected size of each btree index of at least `$1` bytes, from its row count and the average
/// widths of its key columns (8-byte tuple header, 4-byte line pointer, 90% fill): the basis of
/// the bloat estimate. Only large indexes are estimated, as only they matter, and only those
/// whose every column is a plain column with statistics: an expression's width is unknown, and a
/// guess would report bloat that no rebuild removes.
const EXPECTED_SIZES: &str = "SELECT n.nspname::text, c.relname::text, \
       (greatest(c.reltuples, 0) * (12 + w.width) / 0.9)::int8 \
     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_namespace tn ON tn.oid = t.relnamespace \
     JOIN pg_am am ON am.oid = c.relam \
     CROSS JOIN LATERAL (SELECT sum(s.avg_width) AS width, count(*) AS columns FROM pg_stats s \
         WHERE s.schemaname = tn.nspname AND s.tablename = t.relname \
           AND s.attname = ANY (array(SELECT a.attname FROM pg_attribute a \
             WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)))) w \
     WHERE am.amname = 'btree' AND c.relpages::int8 * current_setting('block_size')::int8 >= $1 \
       AND NOT (0 = ANY (i.indkey)) AND i.indexprs IS NULL AND c.reltuples > 0 \
       AND w.columns = (SELECT count(DISTINCT k) FROM unnest(i.indkey) k)";

const STATS_AGE: &str = "SELECT extract(epoch FROM now() - coalesce((SELECT stats_reset FROM pg_stat_database \
     WHERE datname = current_database()), pg_postmaster_start_time()))::float8";

const MAJOR: &str = "SELECT current_setting('server_version_num')::int4 / 10000";

/// Every index of the database, user or system: a bound on the rows of the index query.
const INDEX_BOUND: &str = "SELECT count(*) FROM pg_index";

/// Indexes smaller than this are not estimated for bloat.
pub const BLOAT_MIN_BYTES: i64 = 1 << 20;

/// Every statement [`read`] sends with or without definitions, for a server of `major`.
pub fn all_queries(major: u32) -> Vec<String> {
    let mut all = queries(true, major);
    all.extend(queries(false, major));
    all.sort();
    all.dedup();
    all
}

/// Every statement [`read`] sends, in order (for a monitor that must tell them from the
/// application's).
pub fn queries(definitions: bool, major: u32) -> Vec<String> {
    vec![
        MAJOR.to_string(),
        tables_sql(),
        attributes_sql(),
        INDEX_BOUND.to_string(),
        indexes_sql(definitions, major),
        foreign_keys_sql(),
        partitions_sql(),
        ATTACHED_SQL.to_string(),
        relation_names_sql(),
        STATS_AGE.to_string(),
        EXPECTED_SIZES.to_string(),
    ]
}

/// Reads tables, indexes and foreign keys of every user schema. `definitions` also deparses each
/// index (`pg_get_indexdef`), which costs about 1.5 s per 40,000 indexes: needed for the desired
/// side (its DDL is what gets built), not for the live side. One read-only transaction without
/// JIT: the index query's per-index subqueries make its estimated cost cross the JIT thresholds,
/// and compiling it took longer than running it (6.5 s per process on 40,000 indexes); with
/// enough `work_mem` to sort 40,000 index rows in memory.
pub fn read(
    client: &mut impl GenericClient,
    definitions: bool,
) -> Result<Catalog, postgres::Error> {
    let mut tx = client.transaction()?;
    tx.batch_execute(
        "SET TRANSACTION READ ONLY; SET LOCAL jit = off; SET LOCAL work_mem = '64MB'",
    )?;
    let catalog = read_all(&mut tx, definitions)?;
    tx.commit()?;
    Ok(catalog)
}

fn read_all(
    client: &mut impl GenericClient,
    definitions: bool,
) -> Result<Catalog, postgres::Error> {
    let major: i32 = client.query_one(MAJOR, &[])?.get(0);
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
    let names: HashMap<(i64, i32), String> = client
        .query(attributes_sql().as_str(), &[])?
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect();
    // Row by row into a list sized up front (all of `pg_index` bounds it): 40,000 index rows
    // held at once besides the indexes built from them, or a list grown by doubling (the old
    // and the new buffer, 28 MB, at once), would raise the peak memory by that much.
    let bound: i64 = client.query_one(INDEX_BOUND, &[])?.get(0);
    let mut indexes: Vec<Index> = Vec::with_capacity(usize::try_from(bound).unwrap_or(0));
    let mut rows = client.query_raw(
        indexes_sql(definitions, u32::try_from(major).unwrap_or(0)).as_str(),
        std::iter::empty::<i32>(),
    )?;
    while let Some(r) = rows.next()? {
        indexes.push(index_from_row(&r, &names));
    }
    drop(rows);
    indexes.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    indexes.shrink_to_fit();
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
    let partitions = client
        .query(partitions_sql().as_str(), &[])?
        .iter()
        .map(|r| Partition {
            parent_schema: r.get(0),
            parent: r.get(1),
            schema: r.get(2),
            name: r.get(3),
            partitioned: r.get(4),
        })
        .collect();
    let attached = client
        .query(ATTACHED_SQL, &[])?
        .iter()
        .map(|r| AttachedIndex {
            schema: r.get(0),
            table: r.get(1),
            name: r.get(2),
            parent_schema: r.get(3),
            parent: r.get(4),
        })
        .collect();
    let relation_names = client
        .query(relation_names_sql().as_str(), &[])?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let stats_age_seconds: f64 = client.query_one(STATS_AGE, &[])?.get(0);
    let expected: HashMap<(String, String), i64> = client
        .query(EXPECTED_SIZES, &[&BLOAT_MIN_BYTES])?
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect();
    for ix in &mut indexes {
        ix.expected_bytes = expected.get(&(ix.schema.clone(), ix.name.clone())).copied();
    }
    Ok(Catalog {
        tables,
        indexes,
        foreign_keys,
        partitions,
        attached,
        relation_names,
        stats_age_seconds,
    })
}

/// The first 128 bits of `meaning`'s SHA-256, in hex.
fn key_digest(meaning: &str) -> String {
    use sha2::{Digest, Sha256};
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for b in &Sha256::digest(meaning.as_bytes())[..16] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

/// Builds an index from its row, resolving key columns through `names`.
fn index_from_row(r: &Row, names: &HashMap<(i64, i32), String>) -> Index {
    let relid: i64 = r.get(5);
    let indkey: String = r.get(6);
    let nkey: i32 = r.get(7);
    let expressions: Option<Vec<String>> = r.get(16);
    let all: Vec<String> = indkey
        .split_whitespace()
        .enumerate()
        .map(|(k, attnum)| match attnum.parse::<i32>() {
            Ok(0) | Err(_) => expressions
                .as_ref()
                .and_then(|e| e.get(k).cloned())
                .unwrap_or_default(),
            Ok(n) => names.get(&(relid, n)).cloned().unwrap_or_default(),
        })
        .collect();
    let (method, unique, predicate): (String, bool, Option<String>) =
        (r.get(4), r.get(9), r.get(8));
    let opclasses: String = r.get(15);
    let (definition, head): (String, i32) = (r.get(3), r.get(17));
    // Serialized as JSON so that no name can make two different keys look equal, then held as
    // its digest: the text is about 180 bytes per index, two catalogs of 40,000 indexes.
    let key = key_digest(
        &serde_json::json!([method, unique, nkey, all, opclasses, predicate]).to_string(),
    );
    Index {
        schema: r.get(0),
        name: r.get(1),
        table: r.get(2),
        tail: definition
            .get(usize::try_from(head).unwrap_or(0)..)
            .unwrap_or_default()
            .to_string(),
        definition,
        partitioned: r.get(18),
        method,
        columns: all.into_iter().take(nkey.max(0) as usize).collect(),
        predicate,
        unique,
        primary: r.get(10),
        constraint: r.get(11),
        valid: r.get(12),
        size_bytes: r.get(13),
        scans: r.get(14),
        key,
        expected_bytes: None,
        replica_identity: r.get(19),
        referenced_by_foreign_key: r.get(20),
        oid: r.get(21),
    }
}

/// Scans and OID per index, by `(schema, name)`.
pub type IndexScans = HashMap<(String, String), (i64, i64)>;

/// Scans and OID of every index on one server (partitioned indexes summed over their
/// partitions), for [`ServerUsage`](super::model::ServerUsage).
fn usage_sql() -> String {
    format!(
        "SELECT n.nspname::text, c.relname::text, c.oid::int8, {SCANS} \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('i', 'I') AND {SCHEMAS}"
    )
}

/// Reads the scans of every index and the statistics' age on a server (a replica).
pub fn usage(client: &mut impl GenericClient) -> Result<(f64, IndexScans), postgres::Error> {
    let scans = client
        .query(usage_sql().as_str(), &[])?
        .iter()
        .map(|r| ((r.get(0), r.get(1)), (r.get(3), r.get(2))))
        .collect();
    let age: f64 = client.query_one(STATS_AGE, &[])?.get(0);
    Ok((age, scans))
}
