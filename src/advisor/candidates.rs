//! Index candidates from query shapes, for any schema: btree with equality columns first, then
//! a range or the sort columns; GIN for containment; join keys. Candidates an existing index
//! already serves are dropped. Pure.

use super::shape::{QueryShape, Use};
use crate::db::quote_ident;
use serde::Serialize;

/// Index access methods the advisor proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// A B-tree: equality, range, sort and join columns.
    Btree,
    /// A GIN index: containment operators (`@>`, `<@`, `&&`, `?`).
    Gin,
}

/// A proposed index, before evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct IndexCandidate {
    /// The table, unqualified, as stored (unquoted).
    pub table: String,
    /// Key columns in order, as stored (unquoted): equality columns first, then a range column or
    /// the sort columns.
    pub columns: Vec<String>,
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
    /// Partial indexes serve only some queries; they are not counted as covering.
    pub partial: bool,
}

impl IndexCandidate {
    /// pgwarden's naming scheme: `idx_<table>_<col>[_<col>...]`, at most 63 bytes.
    pub fn name(&self) -> String {
        let mut name = format!("idx_{}_{}", self.table, self.columns.join("_"));
        if !self.include.is_empty() {
            name.push_str("_covering");
        }
        if let Some((col, value)) = &self.predicate {
            name.push_str(&format!("_where_{col}_{value}"));
        }
        name.retain(|c| c.is_alphanumeric() || c == '_');
        crate::escape::truncate_name(&name, 63).to_string()
    }

    /// `CREATE INDEX [CONCURRENTLY] IF NOT EXISTS name ON table [USING gin] (cols)`.
    pub fn ddl(&self, concurrently: bool) -> String {
        self.ddl_as(concurrently, &self.name())
    }

    /// The same definition under another name (the advisor's evaluations use a name of their
    /// own, so they can never take or drop an index that exists).
    pub fn ddl_as(&self, concurrently: bool, name: &str) -> String {
        let using = match self.method {
            Method::Btree => "",
            Method::Gin => " USING gin",
        };
        let list = |cols: &[String]| {
            cols.iter()
                .map(|c| quote_ident(c))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut ddl = format!(
            "CREATE INDEX {}IF NOT EXISTS {} ON {}{using} ({})",
            if concurrently { "CONCURRENTLY " } else { "" },
            quote_ident(name),
            quote_ident(&self.table),
            list(&self.columns)
        );
        if !self.include.is_empty() {
            ddl.push_str(&format!(" INCLUDE ({})", list(&self.include)));
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
    /// columns are a leading prefix of the existing index's (btree), or the same column (GIN).
    pub fn served_by(&self, existing: &ExistingIndex) -> bool {
        if existing.partial || existing.table != self.table {
            return false;
        }
        match self.method {
            Method::Btree => {
                existing.method == "btree"
                    && existing.columns.starts_with(&self.columns)
                    && self.include.iter().all(|c| existing.columns.contains(c))
            }
            Method::Gin => existing.method == "gin" && existing.columns == self.columns,
        }
    }
}

/// Candidates for one query, minus those an existing index serves. `rare` lists constants the
/// query always filters on whose value is rare: each gets a partial-index candidate.
pub fn candidates(
    shape: &QueryShape,
    existing: &[ExistingIndex],
    rare: &[RareConstant],
) -> Vec<IndexCandidate> {
    let mut out: Vec<IndexCandidate> = Vec::new();
    let mut add = |c: IndexCandidate| {
        if !c.columns.is_empty() && !out.contains(&c) {
            out.push(c);
        }
    };
    for table in &shape.tables {
        let cols = |pred: &dyn Fn(&Use) -> bool| -> Vec<String> {
            let mut v: Vec<String> = Vec::new();
            for u in shape
                .uses
                .iter()
                .filter(|u| &u.table == table && pred(&u.usage))
            {
                if !v.contains(&u.column) {
                    v.push(u.column.clone());
                }
            }
            v
        };
        let eq = cols(&|u| matches!(u, Use::Eq(_) | Use::IsNull));
        let range = cols(&|u| *u == Use::Range);
        let contains = cols(&|u| *u == Use::Contains);
        let joins = cols(&|u| *u == Use::JoinKey);
        let sort: Vec<String> = shape
            .order_by
            .iter()
            .filter(|(t, _)| t == table)
            .map(|(_, c)| c.clone())
            .collect();
        let btree = |columns: Vec<String>| IndexCandidate {
            table: table.clone(),
            columns,
            method: Method::Btree,
            include: Vec::new(),
            predicate: None,
        };
        let with = |extra: &[String]| {
            let mut v = eq.clone();
            v.extend(extra.iter().filter(|c| !eq.contains(c)).cloned());
            v
        };
        add(btree(eq.clone()));
        for r in &range {
            add(btree(with(std::slice::from_ref(r))));
        }
        if !sort.is_empty() && (shape.has_limit || !eq.is_empty()) {
            add(btree(with(&sort)));
        }
        for j in &joins {
            add(btree(vec![j.clone()]));
        }
        for c in &contains {
            add(IndexCandidate {
                table: table.clone(),
                columns: vec![c.clone()],
                method: Method::Gin,
                include: Vec::new(),
                predicate: None,
            });
        }
        // The widest key (equality, then range or sort) with the selected columns INCLUDEd, so
        // the query can be answered by an index-only scan; only for a few extra columns.
        let key = if !range.is_empty() {
            with(&range[..1])
        } else if !sort.is_empty() {
            with(&sort)
        } else {
            eq.clone()
        };
        let referenced: Vec<String> = shape
            .selected
            .iter()
            .filter(|(t, _)| t == table)
            .map(|(_, c)| c.clone())
            .chain(
                shape
                    .uses
                    .iter()
                    .filter(|u| &u.table == table)
                    .map(|u| u.column.clone()),
            )
            .collect();
        let mut extra: Vec<String> = Vec::new();
        for c in referenced {
            if !key.contains(&c) && !extra.contains(&c) {
                extra.push(c);
            }
        }
        if shape.projection_simple
            && !key.is_empty()
            && (1..=3).contains(&extra.len())
            && contains.is_empty()
        {
            add(IndexCandidate {
                include: extra,
                ..btree(key.clone())
            });
        }
        for (_, column, value) in rare.iter().filter(|(t, _, _)| t == table) {
            let others: Vec<String> = key.iter().filter(|c| *c != column).cloned().collect();
            let columns = if others.is_empty() {
                vec![column.clone()]
            } else {
                others
            };
            add(IndexCandidate {
                predicate: Some((column.clone(), value.clone())),
                ..btree(columns)
            });
        }
    }
    out.retain(|c| !existing.iter().any(|e| c.served_by(e)));
    out
}

impl IndexCandidate {
    /// Whether this candidate's key columns are a leading prefix of `other`'s (same table and
    /// method, fewer or as many columns, and not the same candidate): `other` can serve every
    /// lookup this one serves.
    pub fn key_is_prefix_of(&self, other: &IndexCandidate) -> bool {
        self != other
            && self.table == other.table
            && self.method == other.method
            && self.columns.len() <= other.columns.len()
            && other.columns.starts_with(&self.columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::shape::shape;
    use std::collections::HashMap;

    fn cands(sql: &str, existing: &[ExistingIndex]) -> Vec<String> {
        let s = shape(sql, &HashMap::new()).unwrap();
        candidates(&s, existing, &[])
            .iter()
            .map(|c| c.ddl(false))
            .collect()
    }

    #[test]
    fn equality_first_then_range_or_sort() {
        let got = cands(
            "SELECT id FROM payments WHERE status = 'failed' AND created_at >= '2026-01-01' ORDER BY created_at LIMIT 100",
            &[],
        );
        assert_eq!(
            got,
            vec![
                "CREATE INDEX IF NOT EXISTS \"idx_payments_status\" ON \"payments\" (\"status\")",
                "CREATE INDEX IF NOT EXISTS \"idx_payments_status_created_at\" ON \"payments\" (\"status\", \"created_at\")",
                "CREATE INDEX IF NOT EXISTS \"idx_payments_status_created_at_covering\" ON \"payments\" (\"status\", \"created_at\") INCLUDE (\"id\")",
            ]
        );
    }

    #[test]
    fn containment_gets_gin() {
        let got = cands("SELECT id FROM users WHERE skills @> '{rust}'", &[]);
        assert_eq!(
            got,
            vec![
                "CREATE INDEX IF NOT EXISTS \"idx_users_skills\" ON \"users\" USING gin (\"skills\")"
            ]
        );
    }

    #[test]
    fn existing_prefix_covering_index_serves_the_candidate() {
        let existing = ExistingIndex {
            name: "payments_status_created".into(),
            table: "payments".into(),
            columns: vec!["status".into(), "created_at".into(), "id".into()],
            method: "btree".into(),
            partial: false,
        };
        let got = cands(
            "SELECT id FROM payments WHERE status = 'failed' AND created_at >= '2026-01-01'",
            std::slice::from_ref(&existing),
        );
        assert!(got.is_empty(), "{got:?}");
        let partial = ExistingIndex {
            partial: true,
            ..existing
        };
        assert_eq!(
            cands("SELECT id FROM payments WHERE status = 'x'", &[partial]).len(),
            2,
            "(status) and (status) INCLUDE (id): a partial index serves neither"
        );
    }

    #[test]
    fn sort_with_equality_and_join_keys() {
        let got = cands(
            "SELECT t.id FROM tasks t JOIN projects p ON p.id = t.project_id WHERE t.developer_id = 7 ORDER BY t.due_date",
            &[],
        );
        assert!(got.contains(&"CREATE INDEX IF NOT EXISTS \"idx_tasks_developer_id\" ON \"tasks\" (\"developer_id\")".to_string()));
        assert!(got.contains(&"CREATE INDEX IF NOT EXISTS \"idx_tasks_developer_id_due_date\" ON \"tasks\" (\"developer_id\", \"due_date\")".to_string()));
        assert!(got.contains(&"CREATE INDEX IF NOT EXISTS \"idx_tasks_project_id\" ON \"tasks\" (\"project_id\")".to_string()));
    }

    #[test]
    fn covering_and_partial_candidates() {
        let s = shape("SELECT id, amount FROM payments WHERE status = 'failed' AND created_at >= '2026-01-01'", &HashMap::new()).unwrap();
        let rare = [(
            "payments".to_string(),
            "status".to_string(),
            "failed".to_string(),
        )];
        let got: Vec<String> = candidates(&s, &[], &rare)
            .iter()
            .map(|c| c.ddl(false))
            .collect();
        assert!(got.contains(&"CREATE INDEX IF NOT EXISTS \"idx_payments_status_created_at_covering\" ON \"payments\" (\"status\", \"created_at\") INCLUDE (\"id\", \"amount\")".to_string()), "{got:#?}");
        assert!(got.contains(&"CREATE INDEX IF NOT EXISTS \"idx_payments_created_at_where_status_failed\" ON \"payments\" (\"created_at\") WHERE \"status\" = 'failed'".to_string()), "{got:#?}");
    }

    #[test]
    fn names_are_sanitised_and_short() {
        let c = IndexCandidate {
            table: "Order Items".into(),
            columns: vec!["x".repeat(80)],
            method: Method::Btree,
            include: Vec::new(),
            predicate: None,
        };
        assert!(c.name().len() <= 63 && !c.name().contains(' '));
        assert!(c.ddl(true).contains("ON \"Order Items\""));
    }
}
