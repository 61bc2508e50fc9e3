//! The plain data model of a database's tables, indexes and foreign keys, filled by the
//! reader from either the live target or the shadow the migrations were replayed into.

use serde::{Deserialize, Serialize};

/// One database's user objects (system schemas, `pg_toast*`, `pg_temp*` and refinery's history
/// table left out), as `reader::read` fills it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Ordinary and partitioned tables, ordered by schema and name.
    pub tables: Vec<Table>,
    /// Indexes, ordered by schema and name, except partitions' indexes attached to a partitioned
    /// index (those are in `attached`).
    pub indexes: Vec<Index>,
    /// Foreign keys declared on each table (those a partition inherits from its parent are left
    /// out), ordered by schema, table and name.
    pub foreign_keys: Vec<ForeignKey>,
    /// Partitions of partitioned tables.
    pub partitions: Vec<Partition>,
    /// Partitions' indexes attached to a partitioned index (they are not listed in `indexes`:
    /// they are managed through their parent).
    pub attached: Vec<AttachedIndex>,
    /// `(schema, name)` of every relation (tables, views, sequences, indexes, ...): a new
    /// index's name must be free among all of them.
    #[serde(skip)]
    pub relation_names: Vec<(String, String)>,
    /// Seconds since this database's statistics were reset (or the server started).
    pub stats_age_seconds: f64,
}

impl Catalog {
    /// Frees the unused capacity of its lists (a list read or deserialized grows by doubling).
    pub fn shrink_to_fit(&mut self) {
        self.tables.shrink_to_fit();
        self.indexes.shrink_to_fit();
        self.foreign_keys.shrink_to_fit();
        self.partitions.shrink_to_fit();
        self.attached.shrink_to_fit();
        self.relation_names.shrink_to_fit();
    }
}

/// An ordinary or partitioned table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Schema name as PostgreSQL stores it (unquoted).
    pub schema: String,
    /// Table name as PostgreSQL stores it (unquoted).
    pub name: String,
    /// Size of the main fork in bytes (`relpages` times the block size, as of the last VACUUM or
    /// ANALYZE); 0 for a partitioned parent.
    pub size_bytes: i64,
    /// Rows inserted, updated and deleted since the statistics were reset.
    pub writes: i64,
}

/// An index, as read from `pg_index` and `pg_class`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index {
    /// Schema of the index (and of its table) as PostgreSQL stores it (unquoted).
    pub schema: String,
    /// Index name as PostgreSQL stores it (unquoted).
    pub name: String,
    /// Name of the indexed table (unquoted), in `schema`.
    pub table: String,
    /// `pg_get_indexdef` as PostgreSQL prints it (desired side only; shown, never parsed).
    pub definition: String,
    /// The definition from ` USING` on, as PostgreSQL deparses it (desired side only): DDL is
    /// built from quoted names and this tail, never by cutting `definition` at a name.
    pub tail: String,
    /// The table is partitioned: the index is built `ON ONLY` the parent, then per partition.
    pub partitioned: bool,
    /// Access method name from `pg_am`: `btree`, `hash`, `gin`, `gist`, `brin`, ...
    pub method: String,
    /// Key columns in order, as SQL (quoted where needed; expressions as `pg_get_indexdef`
    /// prints them).
    pub columns: Vec<String>,
    /// The WHERE predicate of a partial index.
    pub predicate: Option<String>,
    /// A unique index (`indisunique`), whether or not a constraint backs it.
    pub unique: bool,
    /// The index backing the table's primary key (`indisprimary`).
    pub primary: bool,
    /// The constraint this index backs (primary key, unique, exclusion), if any.
    pub constraint: Option<String>,
    /// `pg_index.indisvalid`: false after a failed or still running CREATE INDEX CONCURRENTLY, and
    /// for a partitioned index not yet attached on every partition.
    pub valid: bool,
    /// Size in bytes (`relpages` times the block size, as of the last VACUUM, ANALYZE or build).
    pub size_bytes: i64,
    /// Index scans since the statistics were reset (`pg_stat_user_indexes.idx_scan`, 0 when
    /// unknown).
    pub scans: i64,
    /// Structural key (method, uniqueness, columns, operator classes and collations by
    /// qualified name, options, predicate, as a 128-bit digest): equal keys mean equal
    /// definitions whatever the names and whatever the OIDs of the database.
    pub key: String,
    /// Estimated size without bloat (large btree indexes only).
    pub expected_bytes: Option<i64>,
    /// The table's replica identity (`ALTER TABLE ... REPLICA IDENTITY USING INDEX`): logical
    /// replication identifies updated and deleted rows by it.
    pub replica_identity: bool,
    /// A foreign key references the table through this index (`pg_constraint.conindid`).
    pub referenced_by_foreign_key: bool,
    /// The index's OID: a streaming replica has the same, another database most likely not.
    #[serde(skip)]
    pub oid: i64,
}

impl Index {
    /// `schema.name`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// What is compared across names: the structural key.
    pub fn shape(&self) -> &str {
        &self.key
    }

    /// Why this index must never be dropped, whatever its scans: it backs a constraint, a
    /// foreign key's referenced key, or the table's replica identity.
    pub fn protected_because(&self) -> Option<String> {
        if let Some(c) = &self.constraint {
            return Some(format!("it backs the constraint {c}"));
        }
        if self.referenced_by_foreign_key {
            return Some("a foreign key references the table through it".into());
        }
        if self.replica_identity {
            return Some(
                "it is the table's replica identity (logical replication needs it)".into(),
            );
        }
        None
    }
}

/// Index scans counted on another server of the cluster (a streaming replica): `idx_scan` is
/// per server, so an index unused on the primary may carry a replica's reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerUsage {
    /// The server's name (`--replica name=URL`, the policy's `[[replica]] name`, or host:port).
    pub server: String,
    /// Seconds since that server's statistics were reset (or it started); `None` when it could
    /// not be read.
    pub stats_age_seconds: Option<f64>,
    /// Scans and OID per index, `(schema, name)`; empty when the server could not be read.
    #[serde(skip)]
    pub scans: std::collections::HashMap<(String, String), (i64, i64)>,
    /// Why the server could not be read: then no index is known to be unused.
    pub error: Option<String>,
}

/// A foreign key constraint, from `pg_constraint`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForeignKey {
    /// Schema of the referencing table (unquoted).
    pub schema: String,
    /// The referencing table (unquoted).
    pub table: String,
    /// Constraint name (unquoted).
    pub name: String,
    /// Columns as SQL (quoted where needed), comparable with index columns.
    pub columns: Vec<String>,
    /// The referenced table as `regclass` text: quoted where needed and schema-qualified only when
    /// its schema is not on the search path.
    pub referenced_table: String,
}

/// A partition of a partitioned table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partition {
    /// Schema of the partitioned parent (unquoted).
    pub parent_schema: String,
    /// The partitioned parent table (unquoted).
    pub parent: String,
    /// Schema of the partition (unquoted).
    pub schema: String,
    /// The partition's table name (unquoted).
    pub name: String,
    /// The partition is partitioned too (sub-partitioning).
    pub partitioned: bool,
}

/// A partition's index attached to a partitioned index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachedIndex {
    /// Schema of the partition's index (unquoted).
    pub schema: String,
    /// The partition the index is on (unquoted).
    pub table: String,
    /// The partition's index name (unquoted).
    pub name: String,
    /// Schema of the partitioned index it is attached to (unquoted).
    pub parent_schema: String,
    /// The partitioned index it is attached to (unquoted).
    pub parent: String,
}
