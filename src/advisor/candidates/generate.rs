//! Candidates from one query's shape: btree keys with equality first, then a range, a prefix
//! (`text_pattern_ops` where the collation needs it) or the sort keys; expressions indexed as
//! written; GIN for containment (`jsonb_path_ops` when the workload never asks for key
//! existence on the column); join keys for the inner side of a nested loop; a covering variant
//! for an index-only scan; partial indexes on rare constants. Candidates an existing index
//! already serves are dropped. Pure.

use super::{ExistingIndex, IndexCandidate, Key, KeyExpr, Method, OpClass, RareConstant};
use crate::advisor::shape::{QueryShape, Use};
use std::collections::{HashMap, HashSet};

/// What a column's type asks of an index key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ColumnType {
    /// The column is jsonb (GIN may use `jsonb_path_ops`).
    pub jsonb: bool,
    /// The column is text-like under a collation other than C: a prefix `LIKE` needs
    /// `text_pattern_ops`.
    pub needs_pattern_ops: bool,
}

/// What candidate generation knows besides the query: the target's indexes and column types,
/// and what the whole workload asks.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The valid indexes that exist.
    pub existing: &'a [ExistingIndex],
    /// Constants this query always filters on whose value is rare.
    pub rare: &'a [RareConstant],
    /// (table, column) -> what its type asks; absent: a plain type in the C collation.
    pub types: &'a HashMap<(String, String), ColumnType>,
    /// (table, column) of jsonb columns some workload query tests with `?`, `?|` or `?&`.
    pub key_exists: &'a HashSet<(String, String)>,
    /// The database's default collation is C (an expression's text then needs no pattern ops).
    pub default_collation_c: bool,
}

/// The keys a query asks of one table, by use.
#[derive(Default)]
struct Asked {
    eq: Vec<Key>,
    range: Vec<Key>,
    prefix: Vec<Key>,
    contains: Vec<Key>,
    joins: Vec<Key>,
    has_expression: bool,
}

fn push(v: &mut Vec<Key>, k: Key) {
    if !v.contains(&k) {
        v.push(k);
    }
}

/// What `shape` asks of `table`'s columns and expressions.
fn asked(shape: &QueryShape, table: &str, ctx: &Context) -> Asked {
    let mut a = Asked::default();
    let ty = |c: &str| {
        ctx.types
            .get(&(table.to_string(), c.to_string()))
            .copied()
            .unwrap_or_default()
    };
    for u in shape.uses.iter().filter(|u| u.table == table) {
        let key = Key::column(&u.column);
        match &u.usage {
            Use::Eq(_) | Use::IsNull => push(&mut a.eq, key),
            Use::Range => push(&mut a.range, key),
            Use::Prefix => push(
                &mut a.prefix,
                Key {
                    opclass: ty(&u.column)
                        .needs_pattern_ops
                        .then_some(OpClass::TextPatternOps),
                    ..key
                },
            ),
            Use::Contains => {
                let path_ops = ty(&u.column).jsonb
                    && !ctx
                        .key_exists
                        .contains(&(table.to_string(), u.column.clone()));
                push(
                    &mut a.contains,
                    Key {
                        opclass: path_ops.then_some(OpClass::JsonbPathOps),
                        ..key
                    },
                )
            }
            Use::KeyExists => push(&mut a.contains, key),
            Use::JoinKey => push(&mut a.joins, key),
        }
    }
    for u in shape.expr_uses.iter().filter(|u| u.expr.table == table) {
        a.has_expression = true;
        let key = Key {
            expr: KeyExpr::Expression(u.expr.sql.clone()),
            opclass: None,
        };
        match &u.usage {
            Use::Eq(_) | Use::IsNull => push(&mut a.eq, key),
            Use::Range => push(&mut a.range, key),
            Use::Prefix => {
                // An expression's text keeps its column's collation; `->>` gives the default.
                let text_cols = u.expr.columns.iter().map(|c| ty(c));
                let needs = text_cols.clone().any(|t| t.needs_pattern_ops)
                    || (!ctx.default_collation_c && u.expr.sql.contains("->>"));
                push(
                    &mut a.prefix,
                    Key {
                        opclass: needs.then_some(OpClass::TextPatternOps),
                        ..key
                    },
                )
            }
            Use::Contains | Use::KeyExists => push(&mut a.contains, key),
            Use::JoinKey => {}
        }
    }
    a
}

/// Candidates for one query, minus those an existing index serves.
pub fn candidates(shape: &QueryShape, ctx: &Context) -> Vec<IndexCandidate> {
    let mut out: Vec<IndexCandidate> = Vec::new();
    let mut add = |c: IndexCandidate| {
        if !c.keys.is_empty() && !out.contains(&c) {
            out.push(c);
        }
    };
    for table in &shape.tables {
        let a = asked(shape, table, ctx);
        let sort: Vec<Key> = shape
            .order_by
            .iter()
            .filter(|(t, _)| t == table)
            .map(|(_, c)| Key::column(c))
            .collect();
        let btree = |keys: Vec<Key>| IndexCandidate {
            table: table.clone(),
            keys,
            method: Method::Btree,
            include: Vec::new(),
            predicate: None,
        };
        let with = |extra: &[Key]| {
            let mut v = a.eq.clone();
            v.extend(extra.iter().filter(|k| !a.eq.contains(k)).cloned());
            v
        };
        add(btree(a.eq.clone()));
        for r in a.range.iter().chain(&a.prefix) {
            add(btree(with(std::slice::from_ref(r))));
        }
        if !sort.is_empty() && (shape.has_limit || !a.eq.is_empty()) {
            add(btree(with(&sort)));
            // Equality, then the range, then the sort: the range column first in the sort
            // keeps the index order, which removes the sort under LIMIT.
            if let Some(r) = a.range.first()
                && sort.first() != Some(r)
            {
                let mut keys = with(std::slice::from_ref(r));
                keys.extend(sort.iter().filter(|k| *k != r).cloned());
                add(btree(keys));
            }
        }
        for j in &a.joins {
            add(btree(vec![j.clone()]));
        }
        for c in &a.contains {
            add(IndexCandidate {
                method: Method::Gin,
                ..btree(vec![c.clone()])
            });
        }
        let key = if let Some(r) = a.range.first().or(a.prefix.first()) {
            with(std::slice::from_ref(r))
        } else if !sort.is_empty() {
            with(&sort)
        } else {
            a.eq.clone()
        };
        if let Some(c) = covering(shape, table, &key, &a) {
            add(c);
        }
        for (_, column, value) in ctx.rare.iter().filter(|(t, _, _)| t == table) {
            let others: Vec<Key> = key
                .iter()
                .filter(|k| k.plain_column() != Some(column))
                .cloned()
                .collect();
            let keys = if others.is_empty() {
                vec![Key::column(column)]
            } else {
                others
            };
            add(IndexCandidate {
                predicate: Some((column.clone(), value.clone())),
                ..btree(keys)
            });
        }
    }
    out.retain(|c| !ctx.existing.iter().any(|e| c.served_by(e)));
    out
}

/// The widest key (equality, then range or sort) with the selected columns INCLUDEd, so the
/// query can be answered by an index-only scan; only for a few extra plain columns, and not
/// when a key is an expression (an index-only scan then needs the columns themselves).
fn covering(shape: &QueryShape, table: &str, key: &[Key], a: &Asked) -> Option<IndexCandidate> {
    if !shape.projection_simple || key.is_empty() || !a.contains.is_empty() || a.has_expression {
        return None;
    }
    let key_columns: Vec<&str> = key.iter().filter_map(Key::plain_column).collect();
    if key_columns.len() != key.len() {
        return None;
    }
    let referenced = shape
        .selected
        .iter()
        .filter(|(t, _)| t == table)
        .map(|(_, c)| c.clone())
        .chain(
            shape
                .uses
                .iter()
                .filter(|u| u.table == table)
                .map(|u| u.column.clone()),
        );
    let mut extra: Vec<String> = Vec::new();
    for c in referenced {
        if !key_columns.contains(&c.as_str()) && !extra.contains(&c) {
            extra.push(c);
        }
    }
    (1..=3).contains(&extra.len()).then(|| IndexCandidate {
        table: table.to_string(),
        keys: key.to_vec(),
        method: Method::Btree,
        include: extra,
        predicate: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::shape::shape;

    fn ctx<'a>(
        existing: &'a [ExistingIndex],
        rare: &'a [RareConstant],
        types: &'a HashMap<(String, String), ColumnType>,
        key_exists: &'a HashSet<(String, String)>,
    ) -> Context<'a> {
        Context {
            existing,
            rare,
            types,
            key_exists,
            default_collation_c: false,
        }
    }

    fn cands(sql: &str, existing: &[ExistingIndex]) -> Vec<String> {
        let s = shape(sql, &HashMap::new()).unwrap();
        let (types, ke) = (HashMap::new(), HashSet::new());
        candidates(&s, &ctx(existing, &[], &types, &ke))
            .iter()
            .map(|c| c.ddl(false))
            .collect()
    }

    fn typed(
        sql: &str,
        types: &[(&str, &str, ColumnType)],
        key_exists: &[(&str, &str)],
    ) -> Vec<String> {
        let s = shape(sql, &HashMap::new()).unwrap();
        let types: HashMap<(String, String), ColumnType> = types
            .iter()
            .map(|(t, c, ty)| ((t.to_string(), c.to_string()), *ty))
            .collect();
        let ke: HashSet<(String, String)> = key_exists
            .iter()
            .map(|(t, c)| (t.to_string(), c.to_string()))
            .collect();
        candidates(&s, &ctx(&[], &[], &types, &ke))
            .iter()
            .map(|c| c.ddl(false))
            .collect()
    }

    const JSONB: ColumnType = ColumnType {
        jsonb: true,
        needs_pattern_ops: false,
    };
    const ICU_TEXT: ColumnType = ColumnType {
        jsonb: false,
        needs_pattern_ops: true,
    };

    #[test]
    fn an_expression_is_indexed_as_written() {
        assert_eq!(
            cands("SELECT id FROM customers WHERE lower(email) = 'a@b.c'", &[]),
            vec![
                "CREATE INDEX IF NOT EXISTS \"idx_customers_lower_email\" ON \"customers\" ((lower(\"email\")))"
            ]
        );
        assert_eq!(
            cands(
                "SELECT count(*) FROM customers WHERE profile ->> 'plan' = 'pro'",
                &[]
            ),
            vec![
                "CREATE INDEX IF NOT EXISTS \"idx_customers_profile_plan\" ON \"customers\" (((\"profile\" ->> 'plan')))"
            ]
        );
        let got = cands(
            "SELECT id FROM orders WHERE date_trunc('day', placed_at) = '2026-01-01' AND coalesce(note, '') = ''",
            &[],
        );
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(
            got[0].contains("(date_trunc('day', \"placed_at\")), (coalesce(\"note\", ''))"),
            "{got:#?}"
        );
    }

    #[test]
    fn containment_on_jsonb_gets_jsonb_path_ops_unless_key_existence_is_asked() {
        let sql = "SELECT id FROM customers WHERE profile @> '{\"tags\": [\"beta\"]}'";
        assert_eq!(
            typed(sql, &[("customers", "profile", JSONB)], &[]),
            vec![
                "CREATE INDEX IF NOT EXISTS \"idx_customers_profile\" ON \"customers\" USING gin (\"profile\" jsonb_path_ops)"
            ]
        );
        assert_eq!(
            typed(
                sql,
                &[("customers", "profile", JSONB)],
                &[("customers", "profile")]
            ),
            vec![
                "CREATE INDEX IF NOT EXISTS \"idx_customers_profile\" ON \"customers\" USING gin (\"profile\")"
            ]
        );
    }

    #[test]
    fn a_prefix_like_gets_text_pattern_ops_outside_the_c_collation() {
        let sql = "SELECT id FROM customers WHERE referral_code LIKE 'AB1%'";
        assert_eq!(
            typed(sql, &[("customers", "referral_code", ICU_TEXT)], &[]),
            vec![
                "CREATE INDEX IF NOT EXISTS \"idx_customers_referral_code\" ON \"customers\" (\"referral_code\" text_pattern_ops)"
            ]
        );
        assert_eq!(
            typed(sql, &[], &[]),
            vec![
                "CREATE INDEX IF NOT EXISTS \"idx_customers_referral_code\" ON \"customers\" (\"referral_code\")",
                "CREATE INDEX IF NOT EXISTS \"idx_customers_referral_code_covering\" ON \"customers\" (\"referral_code\") INCLUDE (\"id\")"
            ]
        );
        assert!(
            typed(
                "SELECT id FROM customers WHERE referral_code LIKE '%AB'",
                &[],
                &[]
            )
            .is_empty()
        );
    }

    #[test]
    fn any_and_is_null_are_equality() {
        let got = cands(
            "SELECT count(*) FROM orders WHERE customer_id = ANY('{1,2}') AND shipped_at IS NULL",
            &[],
        );
        assert_eq!(
            got[0],
            "CREATE INDEX IF NOT EXISTS \"idx_orders_customer_id_shipped_at\" ON \"orders\" (\"customer_id\", \"shipped_at\")"
        );
    }

    #[test]
    fn equality_range_then_sort() {
        let got = cands(
            "SELECT id FROM orders WHERE status = 'x' AND total > 10 ORDER BY placed_at LIMIT 5",
            &[],
        );
        assert!(got.contains(&"CREATE INDEX IF NOT EXISTS \"idx_orders_status_placed_at\" ON \"orders\" (\"status\", \"placed_at\")".to_string()), "{got:#?}");
        assert!(got.contains(&"CREATE INDEX IF NOT EXISTS \"idx_orders_status_total_placed_at\" ON \"orders\" (\"status\", \"total\", \"placed_at\")".to_string()), "{got:#?}");
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
        let (types, ke) = (HashMap::new(), HashSet::new());
        let got: Vec<String> = candidates(&s, &ctx(&[], &rare, &types, &ke))
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
            keys: vec![Key::column(&"x".repeat(80))],
            method: Method::Btree,
            include: Vec::new(),
            predicate: None,
        };
        assert!(c.name().len() <= 63 && !c.name().contains(' '));
        assert!(c.ddl(true).contains("ON \"Order Items\""));
    }
}
