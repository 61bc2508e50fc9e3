//! Desired catalog (the migrations replayed into a shadow) against the live one: findings, and
//! the ordered changes that fix them. Pure: functions over two catalogs.
//!
//! Order: builds first (a changed definition is built under a temporary name and swapped in, so
//! the table is never without the index), then rebuilds of INVALID indexes, then drops, which
//! are marked so that `apply` runs them only when allowed.

use crate::catalog::{Catalog, Index};
use crate::db::quote_ident;
use crate::finding::{self as rules, Finding, Severity};
use serde::Serialize;

mod tests;

/// Thresholds for the findings that need one.
#[derive(Debug, Clone, Copy)]
pub struct DiffSettings {
    /// An index with no scans is reported unused only if the statistics are older than this.
    pub unused_after_seconds: f64,
    /// Build speed used for duration estimates, bytes of table per second.
    pub build_bytes_per_second: f64,
}

impl Default for DiffSettings {
    fn default() -> Self {
        Self {
            unused_after_seconds: 14.0 * 86_400.0,
            build_bytes_per_second: 50e6,
        }
    }
}

/// One change of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub rule: &'static str,
    /// `+` build, `~` rebuild or swap, `-` drop.
    pub sign: char,
    pub object: String,
    /// The statements, in order; each runs on its own (none can run in a transaction).
    pub statements: Vec<String>,
    pub reason: String,
    pub lock: &'static str,
    pub estimate_seconds: f64,
    pub is_drop: bool,
}

const SUE: &str = "SHARE UPDATE EXCLUSIVE (reads and writes continue)";

fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// `CREATE [UNIQUE] INDEX name ON ...` -> the same with CONCURRENTLY and, optionally, another name.
fn concurrent(definition: &str, rename_to: Option<&str>) -> String {
    let (unique, rest) = match definition.strip_prefix("CREATE UNIQUE INDEX ") {
        Some(rest) => ("UNIQUE ", rest),
        None => (
            "",
            definition
                .strip_prefix("CREATE INDEX ")
                .unwrap_or(definition),
        ),
    };
    let rest = match (rename_to, rest.split_once(" ON ")) {
        (Some(name), Some((_, on))) => format!("{} ON {on}", quote_ident(name)),
        _ => rest.to_string(),
    };
    format!("CREATE {unique}INDEX CONCURRENTLY {rest}")
}

/// Findings and the plan that fixes them.
pub fn compare(
    desired: &Catalog,
    live: &Catalog,
    settings: &DiffSettings,
) -> (Vec<Finding>, Vec<Change>) {
    let mut findings = Vec::new();
    let mut changes = Vec::new();
    let table_size = |schema: &str, table: &str| {
        live.tables
            .iter()
            .find(|t| t.schema == schema && t.name == table)
            .map_or(0, |t| t.size_bytes)
    };
    let estimate = |schema: &str, table: &str| {
        table_size(schema, table) as f64 / settings.build_bytes_per_second
    };
    let find = |cat: &'_ Catalog, ix: &Index| -> Option<Index> {
        cat.indexes
            .iter()
            .find(|l| l.schema == ix.schema && l.name == ix.name)
            .cloned()
    };
    for want in &desired.indexes {
        match find(live, want) {
            None => {
                findings.push(Finding {
                    rule: rules::MISSING_INDEX,
                    severity: Severity::Error,
                    object: want.qualified(),
                    message: format!("index {} is in the migrations but not in the database", want.qualified()),
                    help: "build it concurrently (plan/apply), or find out why the migration that creates it did not".into(),
                });
                if want.constraint.is_none() {
                    changes.push(Change {
                        rule: rules::MISSING_INDEX,
                        sign: '+',
                        object: want.qualified(),
                        statements: vec![concurrent(&want.definition, None).replacen(
                            "CONCURRENTLY ",
                            "CONCURRENTLY IF NOT EXISTS ",
                            1,
                        )],
                        reason: "in the migrations, missing in the database".into(),
                        lock: SUE,
                        estimate_seconds: estimate(&want.schema, &want.table),
                        is_drop: false,
                    });
                }
            }
            Some(have) if have.shape() != want.shape() => {
                findings.push(Finding {
                    rule: rules::INDEX_DEFINITION_DIFFERS,
                    severity: Severity::Error,
                    object: have.qualified(),
                    message: format!("index {} is `{}` in the database but `{}` in the migrations", have.qualified(), have.definition, want.definition),
                    help: "rebuild it from the migrations' definition (built under a temporary name, then swapped)".into(),
                });
                if have.constraint.is_none() {
                    let temp = format!("{}_pgw_new", have.name);
                    changes.push(Change {
                        rule: rules::INDEX_DEFINITION_DIFFERS,
                        sign: '~',
                        object: have.qualified(),
                        statements: vec![
                            concurrent(&want.definition, Some(&temp)),
                            format!("DROP INDEX CONCURRENTLY {}", qualified(&have.schema, &have.name)),
                            format!("ALTER INDEX {} RENAME TO {}", qualified(&have.schema, &temp), quote_ident(&have.name)),
                        ],
                        reason: "definition differs from the migrations; the new one is valid before the old one goes".into(),
                        lock: SUE,
                        estimate_seconds: estimate(&have.schema, &have.table),
                        is_drop: false,
                    });
                }
            }
            Some(_) => {}
        }
    }
    for have in live.indexes.iter().filter(|h| !h.valid) {
        let wanted = find(desired, have).is_some();
        findings.push(Finding {
            rule: rules::INVALID_INDEX,
            severity: Severity::Error,
            object: have.qualified(),
            message: format!("index {} is INVALID (a failed concurrent build): it costs writes and serves no query", have.qualified()),
            help: if wanted { "rebuild it concurrently".into() } else { "drop it: no migration wants it".into() },
        });
        // Rebuild what the migrations want; drop a leftover they do not know.
        let (sign, statement, reason) = if wanted {
            (
                '~',
                format!(
                    "REINDEX INDEX CONCURRENTLY {}",
                    qualified(&have.schema, &have.name)
                ),
                "INVALID after a failed concurrent build",
            )
        } else {
            (
                '-',
                format!(
                    "DROP INDEX CONCURRENTLY IF EXISTS {}",
                    qualified(&have.schema, &have.name)
                ),
                "INVALID leftover of a failed build, in no migration",
            )
        };
        changes.push(Change {
            rule: rules::INVALID_INDEX,
            sign,
            object: have.qualified(),
            statements: vec![statement],
            reason: reason.into(),
            lock: SUE,
            estimate_seconds: if wanted {
                estimate(&have.schema, &have.table)
            } else {
                0.0
            },
            is_drop: !wanted,
        });
    }
    let mut dropped: Vec<String> = Vec::new();
    let mut drop = |have: &Index,
                    rule: &'static str,
                    severity: Severity,
                    message: String,
                    reason: String,
                    findings: &mut Vec<Finding>,
                    changes: &mut Vec<Change>| {
        findings.push(Finding {
            rule,
            severity,
            object: have.qualified(),
            message,
            help: "drop it (needs --allow-drop or a yes at the prompt), or keep it in a migration"
                .into(),
        });
        if have.constraint.is_none() && !dropped.contains(&have.qualified()) {
            dropped.push(have.qualified());
            changes.push(Change {
                rule,
                sign: '-',
                object: have.qualified(),
                statements: vec![format!(
                    "DROP INDEX CONCURRENTLY IF EXISTS {}",
                    qualified(&have.schema, &have.name)
                )],
                reason,
                lock: SUE,
                estimate_seconds: 0.0,
                is_drop: true,
            });
        }
    };
    // Unexpected indexes first, so that a duplicate of a wanted index is the one dropped.
    for have in live.indexes.iter().filter(|h| h.valid) {
        if find(desired, have).is_none() && have.constraint.is_none() {
            drop(
                have,
                rules::UNEXPECTED_INDEX,
                Severity::Warning,
                format!(
                    "index {} is in the database but in no migration",
                    have.qualified()
                ),
                "not in the migrations".into(),
                &mut findings,
                &mut changes,
            );
        }
    }
    for have in live.indexes.iter().filter(|h| h.valid) {
        if changes
            .iter()
            .any(|c| c.is_drop && c.object == have.qualified())
        {
            continue;
        }
        // A twin that is kept (not dropped already).
        let kept_twin = live.indexes.iter().find(|o| {
            o.valid
                && o.name != have.name
                && o.schema == have.schema
                && o.shape() == have.shape()
                && !changes
                    .iter()
                    .any(|c| c.is_drop && c.object == o.qualified())
        });
        if let Some(twin) = kept_twin {
            drop(
                have,
                rules::DUPLICATE_INDEX,
                Severity::Warning,
                format!(
                    "index {} has the same definition as {}",
                    have.qualified(),
                    twin.qualified()
                ),
                format!("duplicate of {}", twin.qualified()),
                &mut findings,
                &mut changes,
            );
            continue;
        }
        if let Some(wider) = redundant_with(have, live) {
            drop(
                have,
                rules::REDUNDANT_INDEX,
                Severity::Warning,
                format!(
                    "index {} is a leading prefix of {}",
                    have.qualified(),
                    wider.qualified()
                ),
                format!("{} serves the same queries", wider.qualified()),
                &mut findings,
                &mut changes,
            );
            continue;
        }
        if have.scans == 0
            && !have.unique
            && have.constraint.is_none()
            && live.stats_age_seconds >= settings.unused_after_seconds
        {
            drop(
                have,
                rules::UNUSED_INDEX,
                Severity::Note,
                format!(
                    "index {} has not been scanned in {:.0} days",
                    have.qualified(),
                    live.stats_age_seconds / 86_400.0
                ),
                "never scanned since the statistics reset".into(),
                &mut findings,
                &mut changes,
            );
        }
    }
    fk_findings(live, &mut findings, &mut changes, &estimate);
    changes.sort_by_key(|c| match c.sign {
        '+' => 0,
        '~' => 1,
        _ => 2,
    });
    (findings, changes)
}

/// A plain btree whose key columns are a strict leading prefix of another btree's, with the same
/// predicate, and that backs no constraint.
fn redundant_with<'a>(ix: &Index, live: &'a Catalog) -> Option<&'a Index> {
    if ix.method != "btree" || ix.unique || ix.constraint.is_some() {
        return None;
    }
    live.indexes.iter().find(|o| {
        o.valid
            && o.name != ix.name
            && o.schema == ix.schema
            && o.table == ix.table
            && o.method == "btree"
            && o.predicate == ix.predicate
            && o.columns.len() > ix.columns.len()
            && o.columns.starts_with(&ix.columns)
    })
}

fn fk_findings(
    live: &Catalog,
    findings: &mut Vec<Finding>,
    changes: &mut Vec<Change>,
    estimate: &dyn Fn(&str, &str) -> f64,
) {
    for fk in &live.foreign_keys {
        let covered = live.indexes.iter().any(|ix| {
            ix.valid
                && ix.schema == fk.schema
                && ix.table == fk.table
                && ix.predicate.is_none()
                && ix.columns.starts_with(&fk.columns)
        });
        let written = live
            .tables
            .iter()
            .any(|t| t.schema == fk.schema && t.name == fk.table && t.writes > 0);
        if covered || !written {
            continue;
        }
        let name = format!("idx_{}_{}", fk.table, fk.columns.join("_"));
        let cols: Vec<String> = fk.columns.iter().map(|c| quote_ident(c)).collect();
        findings.push(Finding {
            rule: rules::FK_WITHOUT_INDEX,
            severity: Severity::Warning,
            object: format!("{}.{}", fk.schema, fk.name),
            message: format!(
                "foreign key {} on {}.{} ({}) has no index: every delete or key update in {} scans {}",
                fk.name, fk.schema, fk.table, fk.columns.join(", "), fk.referenced_table, fk.table
            ),
            help: format!("index {}.{} ({})", fk.schema, fk.table, fk.columns.join(", ")),
        });
        changes.push(Change {
            rule: rules::FK_WITHOUT_INDEX,
            sign: '+',
            object: format!("{}.{}", fk.schema, name),
            statements: vec![format!(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({})",
                quote_ident(&name),
                qualified(&fk.schema, &fk.table),
                cols.join(", ")
            )],
            reason: format!("supports foreign key {}", fk.name),
            lock: SUE,
            estimate_seconds: estimate(&fk.schema, &fk.table),
            is_drop: false,
        });
    }
}
