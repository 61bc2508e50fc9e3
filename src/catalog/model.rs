//! The plain data model of a database's tables, indexes and foreign keys, filled by the
//! reader from either the live target or the shadow the migrations were replayed into.

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Catalog {
    pub tables: Vec<Table>,
    pub indexes: Vec<Index>,
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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    pub schema: String,
    pub name: String,
    pub size_bytes: i64,
    /// Rows inserted, updated and deleted since the statistics were reset.
    pub writes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Index {
    pub schema: String,
    pub name: String,
    pub table: String,
    /// `pg_get_indexdef` as PostgreSQL prints it (desired side only; shown, never parsed).
    pub definition: String,
    /// The definition from ` USING` on, as PostgreSQL deparses it (desired side only): DDL is
    /// built from quoted names and this tail, never by cutting `definition` at a name.
    pub tail: String,
    /// The table is partitioned: the index is built `ON ONLY` the parent, then per partition.
    pub partitioned: bool,
    pub method: String,
    /// Key columns in order, as SQL (quoted where needed; expressions as `pg_get_indexdef`
    /// prints them).
    pub columns: Vec<String>,
    /// The WHERE predicate of a partial index.
    pub predicate: Option<String>,
    pub unique: bool,
    pub primary: bool,
    /// The constraint this index backs (primary key, unique, exclusion), if any.
    pub constraint: Option<String>,
    pub valid: bool,
    pub size_bytes: i64,
    pub scans: i64,
    /// Structural key (method, uniqueness, columns, operator classes and collations by
    /// qualified name, options, predicate): equal keys mean equal definitions whatever the
    /// names and whatever the OIDs of the database.
    pub key: String,
    /// Estimated size without bloat (large btree indexes only).
    pub expected_bytes: Option<i64>,
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
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForeignKey {
    pub schema: String,
    pub table: String,
    pub name: String,
    /// Columns as SQL (quoted where needed), comparable with index columns.
    pub columns: Vec<String>,
    pub referenced_table: String,
}

/// A partition of a partitioned table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Partition {
    pub parent_schema: String,
    pub parent: String,
    pub schema: String,
    pub name: String,
    /// The partition is partitioned too (sub-partitioning).
    pub partitioned: bool,
}

/// A partition's index attached to a partitioned index.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttachedIndex {
    pub schema: String,
    pub table: String,
    pub name: String,
    pub parent_schema: String,
    pub parent: String,
}
