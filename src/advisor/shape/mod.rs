//! What a query asks of each table, read from sqlparser's AST: equality and range columns,
//! IN lists, IS NULL, prefix LIKE, containment operators, join keys, ORDER BY, GROUP BY, LIMIT.
//! Pure: columns are resolved against a map of table -> columns supplied by the caller.

mod expr;
mod predicate;
mod scope;
pub use expr::Rendered;
use predicate::read_predicate;
use scope::Scope;
use sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, InTarget, JoinConstraint, JoinOperator, LimitClause,
    OrderByKind, Query, SelectItem, SetExpr, Statement, Value, ValueWithSpan,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use std::collections::HashMap;

/// How a column is used by a predicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Use {
    /// `col = constant` (with the constant's text when it is a literal), `col IN (...)`.
    Eq(Option<String>),
    /// `<`, `<=`, `>`, `>=`, `BETWEEN`.
    Range,
    /// `LIKE 'prefix%'`: a range, which a btree serves only in the C collation or with
    /// `text_pattern_ops`.
    Prefix,
    /// `col IS NULL` (served like an equality).
    IsNull,
    /// `@>`, `<@`, `&&`, `@?`, `@@`: served by GIN.
    Contains,
    /// `?`, `?|`, `?&` (jsonb key existence): served by GIN's default `jsonb_ops` only.
    KeyExists,
    /// `a.x = b.y`.
    JoinKey,
}

/// One column use on one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnUse {
    /// The table the column belongs to, as stored (aliases resolved).
    pub table: String,
    /// The column name, as stored (unquoted names folded to lower case).
    pub column: String,
    /// How the predicate uses it.
    pub usage: Use,
}

/// One use of an expression over one table's columns (`lower(email) = ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprUse {
    /// The expression, rendered as SQL an index can be built on, with its table and columns.
    pub expr: Rendered,
    /// How the predicate uses it.
    pub usage: Use,
}

/// The shape of one SELECT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryShape {
    /// Tables in FROM and JOIN, as stored and without schema (aliases resolved).
    pub tables: Vec<String>,
    /// Columns the WHERE clause and JOIN conditions use, in the order met.
    pub uses: Vec<ColumnUse>,
    /// Expressions over one table's columns the WHERE clause compares, in the order met.
    pub expr_uses: Vec<ExprUse>,
    /// ORDER BY columns (when they all belong to one table).
    pub order_by: Vec<(String, String)>,
    /// GROUP BY plain columns as (table, column).
    pub group_by: Vec<(String, String)>,
    /// The query has LIMIT or FETCH.
    pub has_limit: bool,
    /// Plain columns in the select list.
    pub selected: Vec<(String, String)>,
    /// The select list is only plain columns and `count(*)`: an index holding every
    /// referenced column could answer the query alone (index-only scan).
    pub projection_simple: bool,
    /// `$n` placeholders and the column each is compared with (normalized queries).
    pub params: Vec<ParamUse>,
    /// `LIMIT $n` and `OFFSET $n` placeholders.
    pub limit_param: Option<usize>,
    /// The `$n` of `OFFSET $n`.
    pub offset_param: Option<usize>,
}

/// A placeholder compared with a column: `col = $1`, `col >= $2`, `col @> $3`, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamUse {
    /// The placeholder's number (`$1` is 1).
    pub number: usize,
    /// The compared column's table, as stored.
    pub table: String,
    /// The compared column, as stored.
    pub column: String,
    /// How the placeholder is compared (`Eq(None)` for `=` and IN lists).
    pub usage: Use,
}

/// Parses `sql` (literals already bound) and reads its shape. Errors are sqlparser's message.
pub fn shape(sql: &str, columns: &HashMap<String, Vec<String>>) -> Result<QueryShape, String> {
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| e.to_string())?;
    let Some(Statement::Query(query)) = statements.first() else {
        return Err("not a SELECT".into());
    };
    let mut out = QueryShape::default();
    read_query(query, columns, &mut out)?;
    Ok(out)
}

fn read_query(
    query: &Query,
    columns: &HashMap<String, Vec<String>>,
    out: &mut QueryShape,
) -> Result<(), String> {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Err("only plain SELECT queries are analysed".into());
    };
    let mut scope = Scope::default();
    for twj in &select.from {
        scope.add(&twj.relation);
        for join in &twj.joins {
            scope.add(&join.relation);
        }
    }
    scope.columns = columns.clone();
    out.tables = scope.tables();
    read_projection(&select.projection, &scope, out);
    for twj in &select.from {
        for join in &twj.joins {
            if let Some(JoinConstraint::On(expr)) = join_constraint(&join.join_operator) {
                read_conjuncts(expr, &scope, out);
            }
        }
    }
    if let Some(selection) = &select.selection {
        read_conjuncts(selection, &scope, out);
    }
    if let GroupByExpr::Expressions(exprs, _) = &select.group_by {
        out.group_by = exprs.iter().filter_map(|e| scope.column(e)).collect();
    }
    if let Some(order) = &query.order_by
        && let OrderByKind::Expressions(items) = &order.kind
    {
        let cols: Vec<(String, String)> =
            items.iter().filter_map(|o| scope.column(&o.expr)).collect();
        let one_table = cols.windows(2).all(|w| w[0].0 == w[1].0);
        if cols.len() == items.len() && one_table {
            out.order_by = cols;
        }
    }
    out.has_limit = query.limit_clause.is_some() || query.fetch.is_some();
    if let Some(LimitClause::LimitOffset { limit, offset, .. }) = &query.limit_clause {
        out.limit_param = limit.as_ref().and_then(placeholder);
        out.offset_param = offset.as_ref().and_then(|o| placeholder(&o.value));
    }
    Ok(())
}

fn read_projection(items: &[SelectItem], scope: &Scope, out: &mut QueryShape) {
    out.projection_simple = true;
    for item in items {
        let expr = match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
            _ => {
                out.projection_simple = false;
                continue;
            }
        };
        match scope.column(expr) {
            Some(c) => out.selected.push(c),
            None if is_count_star(expr) => {}
            None => out.projection_simple = false,
        }
    }
}

fn is_count_star(expr: &Expr) -> bool {
    matches!(expr, Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("count")
        && f.args.to_string().trim_matches(|c| c == '(' || c == ')') == "*")
}

fn join_constraint(op: &JoinOperator) -> Option<&JoinConstraint> {
    match op {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c)
        | JoinOperator::Right(c)
        | JoinOperator::RightOuter(c)
        | JoinOperator::FullOuter(c) => Some(c),
        _ => None,
    }
}

fn read_conjuncts(expr: &Expr, scope: &Scope, out: &mut QueryShape) {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            read_conjuncts(left, scope, out);
            read_conjuncts(right, scope, out);
        }
        Expr::Nested(inner) => read_conjuncts(inner, scope, out),
        _ => {
            read_predicate(expr, scope, out);
            record_params(expr, scope, out);
        }
    }
}

/// Records which column each `$n` of a predicate is compared with.
fn record_params(expr: &Expr, scope: &Scope, out: &mut QueryShape) {
    let (column, values, usage): (Option<(String, String)>, Vec<&Expr>, Use) = match expr {
        Expr::BinaryOp { left, op, right } => {
            let usage = match op {
                BinaryOperator::Eq => Use::Eq(None),
                BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq => Use::Range,
                BinaryOperator::AtArrow | BinaryOperator::ArrowAt | BinaryOperator::PGOverlap => {
                    Use::Contains
                }
                _ => return,
            };
            match (scope.column(left), scope.column(right)) {
                (Some(c), None) => (Some(c), vec![right.as_ref()], usage),
                (None, Some(c)) => (Some(c), vec![left.as_ref()], usage),
                _ => return,
            }
        }
        Expr::Between {
            expr, low, high, ..
        } => (
            scope.column(expr),
            vec![low.as_ref(), high.as_ref()],
            Use::Range,
        ),
        Expr::In {
            expr,
            target: InTarget::List(list),
            ..
        } => (scope.column(expr), list.iter().collect(), Use::Eq(None)),
        Expr::AnyOp {
            left,
            compare_op: BinaryOperator::Eq,
            right,
            ..
        } => (scope.column(left), vec![right.as_ref()], Use::Eq(None)),
        _ => return,
    };
    let Some((table, column)) = column else {
        return;
    };
    for v in values {
        if let Some(number) = placeholder(v) {
            out.params.push(ParamUse {
                number,
                table: table.clone(),
                column: column.clone(),
                usage: usage.clone(),
            });
        }
    }
}

fn placeholder(expr: &Expr) -> Option<usize> {
    match expr {
        Expr::Value(ValueWithSpan {
            value: Value::Placeholder(p),
            ..
        }) => p.strip_prefix('$')?.parse().ok(),
        Expr::Cast { expr, .. } | Expr::Nested(expr) => placeholder(expr),
        _ => None,
    }
}

/// The text of a string or number literal (through casts), if `expr` is one.
fn literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(ValueWithSpan { value, .. }) => match value {
            Value::SingleQuotedString(s) => Some(s.clone()),
            Value::Number(n, _) => Some(n.to_string()),
            _ => None,
        },
        Expr::Cast { expr, .. } | Expr::Nested(expr) => literal(expr),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
