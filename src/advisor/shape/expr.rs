//! An expression a predicate compares (`lower(email)`, `profile ->> 'plan'`,
//! `date_trunc('day', placed_at)`, `coalesce(a, b)`), written back as SQL an index can be built
//! on. Only a small, safe subset is rendered: column references of one table (through the one
//! identifier-quoting function), string and number literals (through the one literal-quoting
//! function), calls of functions with plain lower-case names, a few arithmetic and jsonb
//! operators, and casts to plain type names. Anything else is not an index candidate.

use super::scope::Scope;
use crate::escape::{ident, literal};
use sqlparser::ast::{
    BinaryOperator, CastKind, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Value,
    ValueWithSpan,
};

/// A rendered expression over the columns of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The table every referenced column belongs to, as stored.
    pub table: String,
    /// The columns referenced, in the order met, as stored.
    pub columns: Vec<String>,
    /// SQL text, fully parenthesized where it is an operator expression.
    pub sql: String,
}

/// Renders `expr` when it is an expression (not a bare column) over the columns of exactly one
/// table in `scope`, in the supported subset.
pub(super) fn render(expr: &Expr, scope: &Scope) -> Option<Rendered> {
    if scope.column(expr).is_some() {
        return None;
    }
    let mut r = Renderer {
        scope,
        table: None,
        columns: Vec::new(),
    };
    let sql = r.expr(expr, 0)?;
    Some(Rendered {
        table: r.table?,
        columns: r.columns,
        sql,
    })
}

struct Renderer<'a> {
    scope: &'a Scope,
    table: Option<String>,
    columns: Vec<String>,
}

/// Deeper than this is not an expression anyone indexes (and no input recurses us to death).
const MAX_DEPTH: usize = 8;

impl Renderer<'_> {
    fn expr(&mut self, expr: &Expr, depth: usize) -> Option<String> {
        if depth > MAX_DEPTH {
            return None;
        }
        if let Some((table, column)) = self.scope.column(expr) {
            if self.table.get_or_insert_with(|| table.clone()) != &table {
                return None;
            }
            if !self.columns.contains(&column) {
                self.columns.push(column.clone());
            }
            return Some(ident(&column));
        }
        match expr {
            Expr::Nested(inner) => self.expr(inner, depth + 1),
            Expr::Value(ValueWithSpan { value, .. }) => match value {
                Value::SingleQuotedString(s) => Some(literal(s)),
                Value::Number(n, _) => {
                    let n = n.to_string();
                    (!n.is_empty() && n.chars().all(|c| c.is_ascii_digit() || c == '.'))
                        .then_some(n)
                }
                _ => None,
            },
            Expr::BinaryOp { left, op, right } => {
                let op = match op {
                    BinaryOperator::Arrow => "->",
                    BinaryOperator::LongArrow => "->>",
                    BinaryOperator::HashArrow => "#>",
                    BinaryOperator::HashLongArrow => "#>>",
                    BinaryOperator::StringConcat => "||",
                    BinaryOperator::Plus => "+",
                    BinaryOperator::Minus => "-",
                    BinaryOperator::Multiply => "*",
                    BinaryOperator::Divide => "/",
                    BinaryOperator::Modulo => "%",
                    _ => return None,
                };
                let (l, r) = (self.expr(left, depth + 1)?, self.expr(right, depth + 1)?);
                Some(format!("({l} {op} {r})"))
            }
            Expr::Cast {
                kind: CastKind::DoubleColon | CastKind::Cast,
                expr,
                data_type,
                format: None,
            } => {
                let ty = data_type.to_string().to_lowercase();
                let plain = !ty.is_empty()
                    && ty.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || " _()".contains(c)
                    });
                plain.then_some(())?;
                Some(format!("({})::{ty}", self.expr(expr, depth + 1)?))
            }
            Expr::Function(f) => {
                let name = plain_name(&f.name.to_string())?;
                if f.filter.is_some() || f.over.is_some() || !f.within_group.is_empty() {
                    return None;
                }
                let FunctionArguments::List(list) = &f.args else {
                    return None;
                };
                if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                    return None;
                }
                let mut args = Vec::new();
                for a in &list.args {
                    let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = a else {
                        return None;
                    };
                    args.push(self.expr(e, depth + 1)?);
                }
                Some(format!("{name}({})", args.join(", ")))
            }
            _ => None,
        }
    }
}

/// A function name written unquoted: lower-case letters, digits and underscores only (so
/// `coalesce`, a keyword that must not be quoted, works, and nothing else can be smuggled in).
fn plain_name(name: &str) -> Option<String> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    ok.then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;

    fn rendered(sql: &str) -> Option<String> {
        let expr = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(sql)
            .unwrap()
            .parse_expr()
            .unwrap();
        let mut scope = Scope::default();
        scope.names.push(("t".into(), "t".into()));
        render(&expr, &scope).map(|r| r.sql)
    }

    #[test]
    fn supported_expressions_are_rendered_with_quoted_names_and_literals() {
        assert_eq!(
            rendered("lower(email)").as_deref(),
            Some("lower(\"email\")")
        );
        assert_eq!(
            rendered("profile ->> 'plan'").as_deref(),
            Some("(\"profile\" ->> 'plan')")
        );
        assert_eq!(
            rendered("date_trunc('day', placed_at)").as_deref(),
            Some("date_trunc('day', \"placed_at\")")
        );
        assert_eq!(
            rendered("coalesce(a, b)").as_deref(),
            Some("coalesce(\"a\", \"b\")")
        );
        assert_eq!(rendered("(x)::date").as_deref(), Some("(\"x\")::date"));
        assert_eq!(
            rendered("\"Odd\"\"Name\" || 'it''s'").as_deref(),
            Some("(\"Odd\"\"Name\" || 'it''s')")
        );
    }

    #[test]
    fn anything_outside_the_subset_is_not_rendered() {
        for sql in [
            "email",
            "now()",
            "count(*)",
            "\"Lower\"(email)",
            "lower(email) FILTER (WHERE true)",
            "CASE WHEN a THEN b END",
            "(SELECT 1)",
            "x::\"evil\"\"type\"",
        ] {
            // `now()` references no column: not an index key on any table.
            assert_eq!(rendered(sql), None, "{sql}");
        }
    }
}
