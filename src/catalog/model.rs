//! The plain data model of a database's tables, indexes and foreign keys, filled by the
//! reader from either the live target or the shadow the migrations were replayed into.

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Catalog {
    pub tables: Vec<Table>,
    pub indexes: Vec<Index>,
    pub foreign_keys: Vec<ForeignKey>,
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
    /// `pg_get_indexdef` as PostgreSQL prints it.
    pub definition: String,
    pub method: String,
    /// Key columns in order (expressions as `pg_get_indexdef` prints them).
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
}

impl Index {
    /// `schema.name`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// The definition without the index's own name, to compare definitions across names.
    pub fn shape(&self) -> String {
        match self.definition.split_once(" ON ") {
            Some((head, rest)) => {
                let kind = if head.starts_with("CREATE UNIQUE INDEX") {
                    "CREATE UNIQUE INDEX"
                } else {
                    "CREATE INDEX"
                };
                format!("{kind} ON {rest}")
            }
            None => self.definition.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForeignKey {
    pub schema: String,
    pub table: String,
    pub name: String,
    pub columns: Vec<String>,
    pub referenced_table: String,
}
