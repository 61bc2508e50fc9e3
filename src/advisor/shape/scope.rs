//! The tables a query's FROM brings into scope, and how a column reference resolves to one.

use sqlparser::ast::{Expr, ObjectName, TableFactor};
use std::collections::HashMap;

/// Tables in FROM, by alias and by name.
#[derive(Default)]
pub(super) struct Scope {
    /// alias or name (lower case) -> table name
    pub(super) names: Vec<(String, String)>,
    pub(super) columns: HashMap<String, Vec<String>>,
}

impl Scope {
    pub(super) fn add(&mut self, factor: &TableFactor) {
        if let TableFactor::Table { name, alias, .. } = factor {
            let table = table_name(name);
            if let Some(a) = alias {
                self.names
                    .push((a.name.value.to_lowercase(), table.clone()));
            }
            self.names.push((table.clone(), table));
        }
    }

    pub(super) fn tables(&self) -> Vec<String> {
        let mut t: Vec<String> = self.names.iter().map(|(_, t)| t.clone()).collect();
        t.dedup();
        t
    }

    /// (table, column) for a column reference, resolving aliases and unqualified names.
    pub(super) fn column(&self, expr: &Expr) -> Option<(String, String)> {
        match expr {
            Expr::Identifier(id) => {
                let col = stored(id);
                let tables = self.tables();
                let owners: Vec<&String> = tables
                    .iter()
                    .filter(|t| {
                        tables.len() == 1
                            || self.columns.get(*t).is_some_and(|cols| cols.contains(&col))
                    })
                    .collect();
                (owners.len() == 1).then(|| (owners[0].clone(), col))
            }
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let qualifier = stored(&parts[parts.len() - 2]);
                let table = self.names.iter().find(|(n, _)| *n == qualifier)?.1.clone();
                Some((table, stored(&parts[parts.len() - 1])))
            }
            Expr::Nested(inner) => self.column(inner),
            _ => None,
        }
    }
}

fn table_name(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(stored)
        .unwrap_or_default()
}

/// An identifier as PostgreSQL stores it: quoted keeps its case, unquoted is folded.
pub(super) fn stored(id: &sqlparser::ast::Ident) -> String {
    crate::sql::stored_identifier(&id.value, id.quote_style.is_some())
}
