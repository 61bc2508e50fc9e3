use super::*;

fn columns() -> HashMap<String, Vec<String>> {
    let mut m = HashMap::new();
    m.insert(
        "payments".into(),
        vec![
            "id".into(),
            "status".into(),
            "created_at".into(),
            "amount".into(),
        ],
    );
    m.insert(
        "users".into(),
        vec!["id".into(), "skills".into(), "display_name".into()],
    );
    m.insert(
        "projects".into(),
        vec![
            "id".into(),
            "client_id".into(),
            "status".into(),
            "title".into(),
        ],
    );
    m
}

#[test]
fn equality_range_order_and_limit() {
    let s = shape(
        "SELECT id FROM payments WHERE status = 'failed' AND created_at >= '2026-01-01' AND created_at < '2026-02-01' ORDER BY created_at LIMIT 100",
        &columns(),
    )
    .unwrap();
    assert_eq!(s.tables, vec!["payments"]);
    assert_eq!(
        s.uses,
        vec![
            ColumnUse {
                table: "payments".into(),
                column: "status".into(),
                usage: Use::Eq(Some("failed".into()))
            },
            ColumnUse {
                table: "payments".into(),
                column: "created_at".into(),
                usage: Use::Range
            },
            ColumnUse {
                table: "payments".into(),
                column: "created_at".into(),
                usage: Use::Range
            },
        ]
    );
    assert_eq!(
        s.order_by,
        vec![("payments".to_string(), "created_at".to_string())]
    );
    assert!(s.has_limit);
}

#[test]
fn containment_in_lists_is_null_and_prefix_like() {
    let s = shape(
        "SELECT id FROM users u WHERE u.skills @> '{rust}' AND id IN (1, 2) AND display_name LIKE 'Ann%' AND display_name IS NULL",
        &columns(),
    )
    .unwrap();
    let usages: Vec<&Use> = s.uses.iter().map(|u| &u.usage).collect();
    assert_eq!(
        usages,
        vec![&Use::Contains, &Use::Eq(None), &Use::Prefix, &Use::IsNull]
    );
}

#[test]
fn joins_resolve_aliases_and_unqualified_columns() {
    let s = shape(
        "SELECT p.title FROM projects p JOIN users u ON u.id = p.client_id WHERE p.id = 42 AND display_name = 'x'",
        &columns(),
    )
    .unwrap();
    assert!(s.uses.contains(&ColumnUse {
        table: "users".into(),
        column: "id".into(),
        usage: Use::JoinKey
    }));
    assert!(s.uses.contains(&ColumnUse {
        table: "projects".into(),
        column: "client_id".into(),
        usage: Use::JoinKey
    }));
    assert!(s.uses.contains(&ColumnUse {
        table: "users".into(),
        column: "display_name".into(),
        usage: Use::Eq(Some("x".into()))
    }));
}

#[test]
fn leading_wildcard_like_and_or_are_not_indexable_uses() {
    let s = shape(
        "SELECT id FROM users WHERE display_name LIKE '%ann' OR id = 1",
        &columns(),
    )
    .unwrap();
    assert!(s.uses.is_empty());
}

#[test]
fn non_select_is_an_error() {
    assert!(shape("DELETE FROM users", &columns()).is_err());
    assert!(shape("SELEC nonsense", &columns()).is_err());
}

#[test]
fn projection_is_read_for_index_only_scans() {
    let s = shape(
        "SELECT id, amount FROM payments WHERE status = 'x'",
        &columns(),
    )
    .unwrap();
    assert!(s.projection_simple);
    assert_eq!(s.selected.len(), 2);
    let s = shape(
        "SELECT count(*) FROM payments WHERE status = 'x'",
        &columns(),
    )
    .unwrap();
    assert!(s.projection_simple && s.selected.is_empty());
    let s = shape(
        "SELECT sum(amount) FROM payments WHERE status = 'x'",
        &columns(),
    )
    .unwrap();
    assert!(!s.projection_simple);
    let s = shape("SELECT * FROM payments", &columns()).unwrap();
    assert!(!s.projection_simple);
}

#[test]
fn quoted_identifiers_keep_their_case() {
    let s = shape(
        "SELECT id FROM \"Order Items\" o WHERE o.\"Qty\" = 3 AND \"Select\" > 'x'",
        &HashMap::new(),
    )
    .unwrap();
    assert_eq!(s.tables, vec!["Order Items"]);
    assert_eq!(s.uses[0].column, "Qty");
    assert_eq!(s.uses[1].column, "Select");
}

#[test]
fn expressions_any_and_jsonb_operators_are_read() {
    let s = shape(
        "SELECT id FROM users WHERE lower(display_name) = $1 AND $2 < skills::text \
         AND id = ANY($3) AND skills ? 'rust' AND display_name = upper(display_name)",
        &columns(),
    )
    .unwrap();
    let exprs: Vec<(&str, &Use)> = s
        .expr_uses
        .iter()
        .map(|u| (u.expr.sql.as_str(), &u.usage))
        .collect();
    assert_eq!(
        exprs,
        vec![
            ("lower(\"display_name\")", &Use::Eq(None)),
            ("(\"skills\")::text", &Use::Range)
        ]
    );
    let uses: Vec<(&str, &Use)> = s
        .uses
        .iter()
        .map(|u| (u.column.as_str(), &u.usage))
        .collect();
    // `display_name = upper(display_name)` compares a column with itself: no index condition.
    assert_eq!(
        uses,
        vec![("id", &Use::Eq(None)), ("skills", &Use::KeyExists)]
    );
    assert_eq!(
        s.params.iter().map(|p| p.number).collect::<Vec<_>>(),
        vec![3]
    );
}
