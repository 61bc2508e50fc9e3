//! Migration safety lint: squawk's rules (the `squawk-linter` library, parse errors checked
//! here since squawk still lints SQL it could not parse) plus pgwarden's own, knowing what
//! pgwarden's runner guarantees, and weighed by the live table's size when a database is given.

pub mod locks;
pub(crate) mod own;

use crate::finding::Severity;
use serde::Serialize;
use squawk_linter::{Linter, Rule};
use squawk_syntax::SourceFile;
use std::collections::HashMap;

/// squawk's parser could not parse the file (error).
pub const SYNTAX_ERROR: &str = "syntax-error";
/// A file without the no-transaction directive mixes a statement that cannot run in a transaction
/// block with ones that need one (error).
pub const MIXED_TRANSACTION: &str = "mixed-transaction-statements";
/// `CREATE INDEX` without a name: PostgreSQL picks one (warning).
pub const INDEX_WITHOUT_NAME: &str = "index-without-name";
/// An index name that does not match the policy's `[lint] index_name_pattern` (warning).
pub const INDEX_NAME_PATTERN: &str = "index-name-pattern";
/// `CREATE INDEX CONCURRENTLY IF NOT EXISTS`, which accepts an INVALID leftover unless pgwarden's
/// runner drops it first (note).
pub const CONCURRENT_IF_NOT_EXISTS: &str = "concurrent-index-if-not-exists";
/// A `SET statement_timeout` of under an hour (0 aside) earlier in the file than a concurrent index
/// build (error).
pub const SHORT_TIMEOUT_BEFORE_BUILD: &str = "short-statement-timeout-before-concurrent-build";
/// An applied migration whose file no longer hashes to its recorded checksum (error; needs a
/// database).
pub const EDITED_APPLIED_MIGRATION: &str = "edited-applied-migration";

/// squawk rules that only compensate for a runner without per-step timeouts: pgwarden sets
/// `lock_timeout` and `statement_timeout` for every step, so they do not apply.
const COMPENSATED: [Rule; 3] = [
    Rule::RequireTimeoutSettings,
    Rule::RequireLockTimeout,
    Rule::RequireStatementTimeout,
];

/// squawk rules whose harm grows with the table: weighed by its row count when known.
const LOCKING: [Rule; 10] = [
    Rule::RequireConcurrentIndexCreation,
    Rule::RequireConcurrentIndexDeletion,
    Rule::AddingFieldWithDefault,
    Rule::ChangingColumnType,
    Rule::AddingNotNullableField,
    Rule::ConstraintMissingNotValid,
    Rule::AddingForeignKeyConstraint,
    Rule::DisallowedUniqueConstraint,
    Rule::AddingSerialPrimaryKeyField,
    Rule::RequireConcurrentReindex,
];

/// One lint finding with its place in the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LintFinding {
    /// The rule id: squawk's (e.g. `require-concurrent-index-creation`) or one of pgwarden's
    /// constants above.
    pub rule: String,
    /// squawk's rules are warnings, weighed by the table's rows when known; pgwarden's own have
    /// fixed severities.
    pub severity: Severity,
    /// The file as given on the command line or found in the migrations directory.
    pub file: String,
    /// 1-based line of the offending statement or token.
    pub line: u64,
    /// 1-based column, in characters.
    pub column: u64,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when the rule says.
    pub help: Option<String>,
    /// The source line, for the caret display.
    pub source: String,
}

/// What lint needs besides the SQL.
#[derive(Debug, Clone, Default)]
pub struct LintContext {
    /// Row estimates of live tables (lower-case name -> rows), when a database was given.
    pub table_rows: Option<HashMap<String, f64>>,
    /// Rule ids switched off by the policy.
    pub disabled: Vec<String>,
    /// A regex index names must match (policy `[lint] index_name_pattern`).
    pub index_name_pattern: Option<regex::Regex>,
}

/// Lints one file's SQL.
pub fn lint_file(file: &str, sql: &str, ctx: &LintContext) -> Vec<LintFinding> {
    let lines: Vec<&str> = sql.lines().collect();
    let at = |offset: usize| -> (u64, u64, String) {
        let before = &sql[..offset.min(sql.len())];
        let line = before.matches('\n').count();
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (
            line as u64 + 1,
            column as u64,
            lines.get(line).unwrap_or(&"").to_string(),
        )
    };
    let mut out = Vec::new();
    let parse = SourceFile::parse(sql);
    for e in parse.errors() {
        let (line, column, source) = at(usize::from(e.range().start()));
        out.push(LintFinding {
            rule: SYNTAX_ERROR.into(),
            severity: Severity::Error,
            file: file.into(),
            line,
            column,
            message: format!("cannot parse the SQL: {}", e.message()),
            help: Some(
                "fix the statement; PostgreSQL would reject it too, or report a squawk parser gap"
                    .into(),
            ),
            source,
        });
    }
    // A file that runs in one transaction is atomic under pgwarden: "cannot be rerun if it fails
    // part way" does not apply to it.
    let atomic = crate::sql::split(sql).is_ok_and(|f| {
        !f.no_transaction_directive && f.statements.iter().all(|s| s.tx.in_transaction())
    });
    let mut linter = Linter::with_rules(&[], &COMPENSATED);
    for v in linter.lint(&parse, sql) {
        if atomic && v.code == Rule::PreferRobustStmts {
            continue;
        }
        let start = usize::from(v.text_range.start());
        let (line, column, source) = at(start);
        let statement = &sql[start..usize::from(v.text_range.end()).min(sql.len())];
        out.push(LintFinding {
            rule: v.code.to_string(),
            severity: squawk_severity(v.code, statement, ctx),
            file: file.into(),
            line,
            column,
            message: v.message.clone(),
            help: v.help.clone(),
            source,
        });
    }
    out.extend(own::lint(file, sql, ctx, &at));
    let ignored = own::ignored_rules(sql);
    out.retain(|f| {
        !ctx.disabled.contains(&f.rule)
            && !ignored
                .iter()
                .any(|(line, rule)| *line + 1 == f.line && *rule == f.rule)
    });
    out.sort_by_key(|f| (f.line, f.column));
    out
}

/// The lock each statement of a file takes, and on which tables (with live row counts).
pub fn statement_locks(file: &str, sql: &str, ctx: &LintContext) -> Vec<locks::StatementLock> {
    let Ok(split) = crate::sql::split(sql) else {
        return Vec::new();
    };
    split
        .statements
        .iter()
        .map(|s| {
            let tables = locks::tables_of(&s.text);
            let rows = tables
                .iter()
                .map(|t| ctx.table_rows.as_ref().and_then(|r| r.get(t).copied()))
                .collect();
            let one_line = s.text.split_whitespace().collect::<Vec<_>>().join(" ");
            locks::StatementLock {
                file: file.into(),
                line: s.line,
                statement: one_line.chars().take(80).collect(),
                lock: locks::lock_of(&s.text),
                tables,
                rows,
            }
        })
        .collect()
}

/// squawk findings are warnings, except robust-statement advice on index builds (pgwarden's
/// runner recovers half-built indexes: a note) and locking rules weighed by the table size.
fn squawk_severity(rule: Rule, statement: &str, ctx: &LintContext) -> Severity {
    if rule == Rule::PreferRobustStmts && statement.to_ascii_uppercase().contains("INDEX") {
        return Severity::Note;
    }
    if !LOCKING.contains(&rule) {
        return Severity::Warning;
    }
    let (Some(rows), Some(table)) = (&ctx.table_rows, own::touched_table(statement)) else {
        return Severity::Warning;
    };
    match rows.get(&table) {
        Some(r) if *r >= 1_000_000.0 => Severity::Error,
        Some(r) if *r >= 10_000.0 => Severity::Warning,
        _ => Severity::Note,
    }
}

#[cfg(test)]
mod tests;
