//! Index candidates: the model (keys that are columns or expressions, with an operator class
//! where the default would not serve), their DDL and names, and whether an existing index
//! already serves one. Generated from query shapes in `generate`, for any schema. Pure.

mod generate;
pub use generate::{ColumnType, Context, candidates};

use crate::db::quote_ident;
use serde::Serialize;

/// Index access methods the advisor proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// A B-tree: equality, range, prefix, sort and join keys.
    Btree,
    /// A GIN index: containment operators (`@>`, `<@`, `&&`, `?`, `@?`, `@@`).
    Gin,
}

/// An operator class other than the type's default, chosen for what the workload asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpClass {
    /// `LIKE 'prefix%'` on text under a collation other than C.
    TextPatternOps,
    /// GIN on jsonb used only with `@>`, `@?` and `@@` (smaller and faster than `jsonb_ops`).
    JsonbPathOps,
}

impl OpClass {
    fn sql(self) -> &'static str {
        match self {
            OpClass::TextPatternOps => "text_pattern_ops",
            OpClass::JsonbPathOps => "jsonb_path_ops",
        }
    }
}

/// What one index key is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyExpr {
    /// A column, as stored (unquoted).
    Column(String),
    /// An expression over the table's columns, as SQL rendered by the shape reader (names
    /// and literals already quoted).
    Expression(String),
}

/// One index key: a column or expression, with its operator class when not the default.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Key {
    /// The column or expression.
    pub expr: KeyExpr,
    /// The operator class, when not the type's default.
    pub opclass: Option<OpClass>,
}

impl Key {
    /// A plain column key with the default operator class.
    pub fn column(name: &str) -> Self {
        Key {
            expr: KeyExpr::Column(name.to_string()),
            opclass: None,
        }
    }

    /// The plain column, when this key is one with the default operator class.
    pub fn plain_column(&self) -> Option<&str> {
        match (&self.expr, self.opclass) {
            (KeyExpr::Column(c), None) => Some(c),
            _ => None,
        }
    }

    /// The key as written in `CREATE INDEX`: a quoted column or a parenthesized expression,
    /// then the operator class.
    pub fn sql(&self) -> String {
        let mut out = match &self.expr {
            KeyExpr::Column(c) => quote_ident(c),
            KeyExpr::Expression(e) => format!("({e})"),
        };
        if let Some(op) = self.opclass {
            out.push(' ');
            out.push_str(op.sql());
        }
        out
    }

    /// How a report shows the key: the column name or the expression, then the operator class.
    pub fn display(&self) -> String {
        let mut out = match &self.expr {
            KeyExpr::Column(c) => c.clone(),
            KeyExpr::Expression(e) => e.clone(),
        };
        if let Some(op) = self.opclass {
            out.push(' ');
            out.push_str(op.sql());
        }
        out
    }

    /// Letters, digits and underscores for an index name: `lower("email")` is `lower_email`.
    fn name_part(&self) -> String {
        let text = match &self.expr {
            KeyExpr::Column(c) => c.clone(),
            KeyExpr::Expression(e) => e.clone(),
        };
        let mut out = String::new();
        for c in text.chars() {
            if c.is_alphanumeric() {
                out.push(c);
            } else if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
        }
        out.trim_end_matches('_').to_string()
    }
}

/// A proposed index, before evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct IndexCandidate {
    /// The table, unqualified, as stored (unquoted).
    pub table: String,
    /// Keys in order: equality keys first, then a range, prefix or the sort keys.
    pub keys: Vec<Key>,
    /// Btree or GIN.
    pub method: Method,
    /// INCLUDE columns, for index-only scans.
    pub include: Vec<String>,
    /// `column = 'value'` for a partial index on a rare constant: (column, value).
    pub predicate: Option<(String, String)>,
}

/// A constant a query always filters on, with a rare value: (table, column, value).
pub type RareConstant = (String, String, String);

/// An index that exists: its table, key columns in order, and method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingIndex {
    /// The index name, as stored (unquoted).
    pub name: String,
    /// Its table, unqualified, as stored.
    pub table: String,
    /// Key columns in order (INCLUDE columns and expressions left out).
    pub columns: Vec<String>,
    /// Access method name from `pg_am` (`btree`, `gin`, ...).
    pub method: String,
    /// Partial or expression indexes, and those with an operator class other than the type's
    /// default or a collation other than the column's, serve only some queries (a
    /// `jsonb_path_ops` GIN no `?`, a `COLLATE "C"` btree no equality under the column's own):
    /// they are not counted as covering.
    pub partial: bool,
}

impl IndexCandidate {
    /// pgwarden's naming scheme: `idx_<table>_<key>[_<key>...]`, at most 63 bytes.
    pub fn name(&self) -> String {
        let keys: Vec<String> = self.keys.iter().map(Key::name_part).collect();
        let mut name = format!("idx_{}_{}", self.table, keys.join("_"));
        if !self.include.is_empty() {
            name.push_str("_covering");
        }
        if let Some((col, value)) = &self.predicate {
            name.push_str(&format!("_where_{col}_{value}"));
        }
        name.retain(|c| c.is_alphanumeric() || c == '_');
        crate::escape::truncate_name(&name, 63).to_string()
    }

    /// The keys as a report shows them.
    pub fn key_display(&self) -> Vec<String> {
        self.keys.iter().map(Key::display).collect()
    }

    /// `CREATE INDEX [CONCURRENTLY] IF NOT EXISTS name ON table [USING gin] (keys)`.
    pub fn ddl(&self, concurrently: bool) -> String {
        self.ddl_as(concurrently, &self.name())
    }

    /// The same definition under another name (the advisor's evaluations use a name of their
    /// own, so they can never take or drop an index that exists).
    pub fn ddl_as(&self, concurrently: bool, name: &str) -> String {
        self.ddl_on(concurrently, name, &quote_ident(&self.table))
    }

    /// The same definition on another table, given as SQL already quoted (a scratch copy).
    pub fn ddl_on(&self, concurrently: bool, name: &str, table_sql: &str) -> String {
        let using = match self.method {
            Method::Btree => "",
            Method::Gin => " USING gin",
        };
        let keys: Vec<String> = self.keys.iter().map(Key::sql).collect();
        let mut ddl = format!(
            "CREATE INDEX {}IF NOT EXISTS {} ON {table_sql}{using} ({})",
            if concurrently { "CONCURRENTLY " } else { "" },
            quote_ident(name),
            keys.join(", ")
        );
        if !self.include.is_empty() {
            let include: Vec<String> = self.include.iter().map(|c| quote_ident(c)).collect();
            ddl.push_str(&format!(" INCLUDE ({})", include.join(", ")));
        }
        if let Some((col, value)) = &self.predicate {
            ddl.push_str(&format!(
                " WHERE {} = {}",
                quote_ident(col),
                crate::db::quote_literal(value)
            ));
        }
        ddl
    }

    /// True when `existing` already serves this candidate: same method and the candidate's
    /// plain column keys are a leading prefix of the existing index's (btree), or the same
    /// columns (GIN; an existing index with another operator class or collation never counts,
    /// see [`ExistingIndex::partial`]). Expression and operator-class keys are
    /// never taken as served: the catalog's key list holds plain columns only.
    pub fn served_by(&self, existing: &ExistingIndex) -> bool {
        if existing.partial || existing.table != self.table || self.predicate.is_some() {
            return false;
        }
        let columns = |allow_opclass: bool| -> Option<Vec<String>> {
            self.keys
                .iter()
                .map(|k| match &k.expr {
                    KeyExpr::Column(c) if allow_opclass || k.opclass.is_none() => Some(c.clone()),
                    _ => None,
                })
                .collect()
        };
        match self.method {
            Method::Btree => columns(false).is_some_and(|cols| {
                existing.method == "btree"
                    && existing.columns.starts_with(&cols)
                    && self.include.iter().all(|c| existing.columns.contains(c))
            }),
            Method::Gin => {
                existing.method == "gin" && columns(true).is_some_and(|c| existing.columns == c)
            }
        }
    }
}

impl IndexCandidate {
    /// Whether this candidate's keys are a leading prefix of `other`'s (same table and method,
    /// fewer or as many keys, and not the same candidate), and `other` is not partial on a
    /// predicate this one lacks: `other` can serve every lookup this one serves.
    pub fn key_is_prefix_of(&self, other: &IndexCandidate) -> bool {
        self != other
            && self.table == other.table
            && self.method == other.method
            && (other.predicate.is_none() || other.predicate == self.predicate)
            && self.keys.len() <= other.keys.len()
            && other.keys.starts_with(&self.keys)
    }
}
