//! How bad a squawk finding is on the live table: a locking rule on a table under
//! `[lint] small_table_rows` is a note; on one of at least [`LARGE_FACTOR`] times that, a rule
//! whose lock lasts as long as a scan, a rewrite or an index build of the table is an error that
//! says how long the lock is estimated to last.

use super::{LintContext, TableSize, own};
use crate::finding::Severity;
use squawk_linter::Rule;

/// Default of `[lint] small_table_rows`.
pub const DEFAULT_SMALL_TABLE_ROWS: u64 = 10_000;
/// A table of at least this many times `small_table_rows` rows is large.
pub const LARGE_FACTOR: f64 = 100.0;

/// Bytes per second of a full scan under the lock (validating a constraint, `SET NOT NULL`):
/// sequential reads of a table that is mostly not cached.
pub const SCAN_BYTES_PER_SEC: f64 = 100e6;
/// Bytes per second of a rewrite of the table and its indexes, or of an index build (sort and
/// write): a conservative figure for network-attached storage.
pub const REWRITE_BYTES_PER_SEC: f64 = 25e6;

/// What the lock of a blocking rule waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    /// Reads the whole table.
    Scan,
    /// Rewrites the table and its indexes.
    Rewrite,
    /// Builds an index from the table.
    Build,
}

/// The work a locking rule does while it holds a lock that blocks writes (or reads); `None`
/// for a rule whose lock is short whatever the table's size (`DROP INDEX` waits, but does not
/// scan).
fn blocking_work(rule: Rule) -> Option<Work> {
    match rule {
        Rule::RequireConcurrentIndexCreation
        | Rule::DisallowedUniqueConstraint
        | Rule::RequireConcurrentReindex => Some(Work::Build),
        Rule::AddingFieldWithDefault
        | Rule::ChangingColumnType
        | Rule::AddingSerialPrimaryKeyField => Some(Work::Rewrite),
        Rule::AddingNotNullableField
        | Rule::ConstraintMissingNotValid
        | Rule::AddingForeignKeyConstraint => Some(Work::Scan),
        _ => None,
    }
}

/// squawk findings are warnings, except robust-statement advice on index builds (pgwarden's
/// runner recovers half-built indexes: a note) and locking rules weighed by the table size.
/// Returns the severity and, for an error, a sentence on the lock's estimated duration.
pub(super) fn squawk_severity(
    rule: Rule,
    statement: &str,
    ctx: &LintContext,
) -> (Severity, Option<String>) {
    if rule == Rule::PreferRobustStmts && statement.to_ascii_uppercase().contains("INDEX") {
        return (Severity::Note, None);
    }
    if !super::LOCKING.contains(&rule) {
        return (Severity::Warning, None);
    }
    let (Some(tables), Some(table)) = (&ctx.tables, own::touched_table(statement)) else {
        return (Severity::Warning, None);
    };
    let small = ctx.small_table_rows as f64;
    match tables.get(&table) {
        // Not in the database: the migrations create it.
        None => (Severity::Note, None),
        Some(TableSize { rows: None, .. }) => (Severity::Warning, None),
        Some(TableSize { rows: Some(r), .. }) if *r < small => (Severity::Note, None),
        Some(size @ TableSize { rows: Some(r), .. }) if *r >= small * LARGE_FACTOR => {
            match blocking_work(rule) {
                Some(work) => (Severity::Error, Some(duration_note(&table, size, work))),
                None => (Severity::Warning, None),
            }
        }
        Some(_) => (Severity::Warning, None),
    }
}

/// "On `t` (~2,000,000 rows, 1.2 GB) the lock lasts about 48 s (a rewrite at 25 MB/s)."
fn duration_note(table: &str, size: &TableSize, work: Work) -> String {
    let (bytes, rate, what) = match work {
        Work::Scan => (size.table_bytes, SCAN_BYTES_PER_SEC, "a full scan"),
        Work::Rewrite => (size.total_bytes, REWRITE_BYTES_PER_SEC, "a rewrite"),
        Work::Build => (size.table_bytes, REWRITE_BYTES_PER_SEC, "an index build"),
    };
    let rows = size.rows.unwrap_or_default();
    format!(
        "On `{table}` (~{rows:.0} rows, {}) the lock is held for about {} ({what} at {:.0} MB/s).",
        crate::units::bytes(bytes),
        crate::units::ms(bytes / rate * 1000.0),
        rate / 1e6
    )
}
