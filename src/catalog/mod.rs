//! Reading a database's catalog into one plain data model (tables, indexes, foreign keys),
//! and the INVALID indexes that `migrate status` reports and `migrate apply` repairs.

pub mod model;
pub mod reader;

pub use model::{AttachedIndex, Catalog, ForeignKey, Index, Partition, ServerUsage, Table};

use postgres::GenericClient;
use serde::Serialize;

/// The parts of an index's meaning besides its method, columns and predicate, for index `i`
/// (`pg_index`) whose `pg_class` row is `c`, as one text: operator classes (named by the
/// extension that owns them, else by schema: an extension's OIDs differ between databases and
/// its schema may too), collations by qualified name, per-column options, storage options, and
/// NULLS NOT DISTINCT (see [`NullsNotDistinct`]).
///
/// On 40,000 indexes naming every operator class and collation took seconds, so the common case
/// is cheap: when every OID is below 10,000 (`FirstGenbkiObjectId`: the built-in objects, whose
/// OIDs are fixed by the server's catalog files) the OIDs themselves are the names. Otherwise
/// each one is looked up by OID (an index probe; a join made the planner scan `pg_collation`
/// for each index), and `pg_depend` is asked only for those past the built-in range. NULLS NOT
/// DISTINCT only exists on unique indexes, so only theirs is read.
pub fn index_meaning_sql(nulls_not_distinct: NullsNotDistinct) -> String {
    format!(
        "CASE WHEN 10000 > ALL (i.indclass::oid[]) THEN i.indclass::text ELSE \
   array(SELECT (SELECT CASE WHEN o.oid >= 10000 THEN coalesce((SELECT 'extension ' || quote_ident(e.extname) \
       FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid \
       WHERE d.classid = 'pg_opclass'::regclass AND d.objid = o.oid AND d.deptype = 'e' LIMIT 1), \
       quote_ident(ons.nspname)) ELSE quote_ident(ons.nspname) END || '.' || quote_ident(o.opcname) \
       FROM pg_opclass o JOIN pg_namespace ons ON ons.oid = o.opcnamespace WHERE o.oid = u.oid) \
     FROM unnest(i.indclass::oid[]) WITH ORDINALITY u(oid, ord) ORDER BY u.ord)::text END || ' ' || \
   CASE WHEN 10000 > ALL (i.indcollation::oid[]) THEN i.indcollation::text ELSE \
   array(SELECT coalesce((SELECT quote_ident(cns.nspname) || '.' || quote_ident(co.collname) \
       FROM pg_collation co JOIN pg_namespace cns ON cns.oid = co.collnamespace WHERE co.oid = u.oid), '-') \
     FROM unnest(i.indcollation::oid[]) WITH ORDINALITY u(oid, ord) ORDER BY u.ord)::text END || ' ' || \
   i.indoption::text || ' ' || \
   CASE WHEN c.reloptions IS NULL THEN '{{}}' ELSE array(SELECT unnest(c.reloptions) ORDER BY 1)::text END || ' ' || \
   CASE WHEN i.indisunique THEN {} ELSE '-' END",
        nulls_not_distinct.sql()
    )
}

/// How [`index_meaning_sql`] reads NULLS NOT DISTINCT: both give the same text (`true`,
/// `false`, or `-` before PostgreSQL 15).
#[derive(Debug, Clone, Copy)]
pub enum NullsNotDistinct {
    /// Through `to_jsonb(i)`: runs on any version, but the whole `pg_index` row then travels
    /// through every join and sort of the query (for one index, as recovery asks, no matter).
    AnyVersion,
    /// The column itself, for a server known to have it (15 and later), or `-` before.
    ForMajor(u32),
}

impl NullsNotDistinct {
    fn sql(self) -> &'static str {
        match self {
            Self::AnyVersion => "coalesce(to_jsonb(i) ->> 'indnullsnotdistinct', '-')",
            Self::ForMajor(major) if major >= 15 => "i.indnullsnotdistinct::text",
            Self::ForMajor(_) => "'-'",
        }
    }
}

const INVALID_INDEXES: &str = "SELECT n.nspname, c.relname, t.relname, \
       EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid), \
       c.relkind = 'I' \
     FROM pg_index i \
     JOIN pg_class c ON c.oid = i.indexrelid \
     JOIN pg_class t ON t.oid = i.indrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
     ORDER BY 1, 2";

/// An index with `pg_index.indisvalid = false`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidIndex {
    /// Schema of the index (unquoted).
    pub schema: String,
    /// Index name (unquoted).
    pub name: String,
    /// The indexed table, in the same schema (unquoted).
    pub table: String,
    /// A concurrent build of it is running right now (so it is not yet abandoned).
    pub build_in_progress: bool,
    /// A partitioned index: INVALID until every partition's index is attached, never a
    /// failed build to drop.
    pub partitioned: bool,
}

/// Every INVALID index outside the system schemas.
pub fn invalid_indexes(
    client: &mut impl GenericClient,
) -> Result<Vec<InvalidIndex>, postgres::Error> {
    Ok(client
        .query(INVALID_INDEXES, &[])?
        .iter()
        .map(|r| InvalidIndex {
            schema: r.get(0),
            name: r.get(1),
            table: r.get(2),
            build_in_progress: r.get(3),
            partitioned: r.get(4),
        })
        .collect())
}
