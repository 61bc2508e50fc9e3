//! One predicate of a WHERE or JOIN condition: which column or expression it compares, and
//! how (equality, range, prefix, containment, key existence, join key).

use super::expr::Rendered;
use super::scope::Scope;
use super::{ColumnUse, ExprUse, QueryShape, Use, expr, literal};
use sqlparser::ast::{BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments};

/// What a predicate compares: a column, or an expression over one table's columns.
enum Operand {
    Column((String, String)),
    Expr(Rendered),
}

fn operand(expr: &Expr, scope: &Scope) -> Option<Operand> {
    match scope.column(expr) {
        Some(c) => Some(Operand::Column(c)),
        None => expr::render(expr, scope).map(Operand::Expr),
    }
}

fn push_use(out: &mut QueryShape, operand: Operand, usage: Use) {
    match operand {
        Operand::Column((table, column)) => out.uses.push(ColumnUse {
            table,
            column,
            usage,
        }),
        Operand::Expr(expr) => out.expr_uses.push(ExprUse { expr, usage }),
    }
}

/// How a comparison operator with a constant on one side uses the other side.
fn usage_of(op: &BinaryOperator, constant: &Expr) -> Option<Use> {
    Some(match op {
        BinaryOperator::Eq => Use::Eq(literal(constant)),
        BinaryOperator::Lt | BinaryOperator::LtEq | BinaryOperator::Gt | BinaryOperator::GtEq => {
            Use::Range
        }
        BinaryOperator::AtArrow
        | BinaryOperator::ArrowAt
        | BinaryOperator::PGOverlap
        | BinaryOperator::AtQuestion
        | BinaryOperator::AtAt => Use::Contains,
        BinaryOperator::Question | BinaryOperator::QuestionAnd | BinaryOperator::QuestionPipe => {
            Use::KeyExists
        }
        _ => return None,
    })
}

pub(super) fn read_predicate(expr: &Expr, scope: &Scope, out: &mut QueryShape) {
    match expr {
        Expr::BinaryOp { left, op, right } => {
            if let (BinaryOperator::Eq, Some(a), Some(b)) =
                (op, scope.column(left), scope.column(right))
            {
                if a.0 != b.0 {
                    push_use(out, Operand::Column(a), Use::JoinKey);
                    push_use(out, Operand::Column(b), Use::JoinKey);
                }
                return;
            }
            // The indexed side is the one holding columns; the other must be a constant or a
            // parameter (no columns), else it is no index condition.
            let constant = |e: &Expr| operand(e, scope).is_none() && !mentions_column(e, scope);
            if constant(right)
                && let (Some(o), Some(u)) = (operand(left, scope), usage_of(op, right))
            {
                push_use(out, o, u);
            } else if constant(left)
                && matches!(
                    op,
                    BinaryOperator::Eq
                        | BinaryOperator::Lt
                        | BinaryOperator::LtEq
                        | BinaryOperator::Gt
                        | BinaryOperator::GtEq
                )
                && let (Some(o), Some(u)) = (operand(right, scope), usage_of(op, left))
            {
                push_use(out, o, u);
            }
        }
        Expr::Between {
            expr,
            negated: false,
            ..
        } => {
            if let Some(o) = operand(expr, scope) {
                push_use(out, o, Use::Range);
            }
        }
        Expr::In {
            expr,
            negated: false,
            ..
        } => {
            if let Some(o) = operand(expr, scope) {
                push_use(out, o, Use::Eq(None));
            }
        }
        Expr::AnyOp {
            left,
            compare_op: BinaryOperator::Eq,
            right,
            ..
        } if !mentions_column(right, scope) => {
            if let Some(o) = operand(left, scope) {
                push_use(out, o, Use::Eq(None));
            }
        }
        Expr::IsNull(inner) => {
            if let Some(o) = operand(inner, scope) {
                push_use(out, o, Use::IsNull);
            }
        }
        Expr::Like {
            negated: false,
            expr,
            pattern,
            ..
        } => {
            let prefix =
                literal(pattern).is_some_and(|p| !p.starts_with('%') && !p.starts_with('_'));
            if let (Some(o), true) = (operand(expr, scope), prefix) {
                push_use(out, o, Use::Prefix);
            }
        }
        _ => {}
    }
}

/// Whether `expr` may reference a column of a table in scope (then it is not a constant).
/// Forms not looked into count as referencing one, so they never pass for a constant.
fn mentions_column(expr: &Expr, scope: &Scope) -> bool {
    match expr {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => scope.column(expr).is_some(),
        Expr::Value(_) | Expr::TypedString { .. } | Expr::Interval(_) => false,
        Expr::Nested(e) | Expr::Cast { expr: e, .. } | Expr::UnaryOp { expr: e, .. } => {
            mentions_column(e, scope)
        }
        Expr::BinaryOp { left, right, .. } => {
            mentions_column(left, scope) || mentions_column(right, scope)
        }
        Expr::Array(a) => a.elem.iter().any(|e| mentions_column(e, scope)),
        Expr::Function(f) => match &f.args {
            FunctionArguments::None => false,
            FunctionArguments::List(list) => list.args.iter().any(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => mentions_column(e, scope),
                _ => true,
            }),
            FunctionArguments::Subquery(_) => true,
        },
        _ => true,
    }
}
