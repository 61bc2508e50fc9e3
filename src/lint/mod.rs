//! Migration safety lint: squawk's rules (the `squawk-linter` library, parse errors checked
//! here since squawk still lints SQL it could not parse) plus pgwarden's own, knowing what
//! pgwarden's runner guarantees, and weighed by the live table's size when a database is given.

mod ignore;
pub mod locks;
pub mod new_tables;
pub(crate) mod own;
pub mod severity;

use crate::finding::Severity;
use crate::rules::{LintRule, RuleId};
use serde::Serialize;
use squawk_linter::{Linter, Rule};
use squawk_syntax::SourceFile;
use std::collections::HashMap;

pub use new_tables::NewTables;

/// squawk's parser could not parse the file (error).
pub const SYNTAX_ERROR: RuleId = RuleId::Lint(LintRule::SyntaxError);
/// A file without the no-transaction directive mixes a statement that cannot run in a transaction
/// block with ones that need one (error).
pub const MIXED_TRANSACTION: RuleId = RuleId::Lint(LintRule::MixedTransaction);
/// `CREATE INDEX` without a name: PostgreSQL picks one (warning).
pub const INDEX_WITHOUT_NAME: RuleId = RuleId::Lint(LintRule::IndexWithoutName);
/// An index name that does not match the policy's `[lint] index_name_pattern` (warning).
pub const INDEX_NAME_PATTERN: RuleId = RuleId::Lint(LintRule::IndexNamePattern);
/// `CREATE INDEX CONCURRENTLY IF NOT EXISTS`, which accepts an INVALID leftover unless pgwarden's
/// runner drops it first (note).
pub const CONCURRENT_IF_NOT_EXISTS: RuleId = RuleId::Lint(LintRule::ConcurrentIfNotExists);
/// A `SET statement_timeout` of under an hour (0 aside) earlier in the file than a concurrent index
/// build (error).
pub const SHORT_TIMEOUT_BEFORE_BUILD: RuleId = RuleId::Lint(LintRule::ShortTimeoutBeforeBuild);
/// An applied migration whose file no longer hashes to its recorded checksum (error; needs a
/// database).
pub const EDITED_APPLIED_MIGRATION: RuleId = RuleId::Lint(LintRule::EditedAppliedMigration);
/// An ignore comment without a reason (note: it still suppresses).
pub const IGNORE_WITHOUT_REASON: RuleId = RuleId::Lint(LintRule::IgnoreWithoutReason);
/// An ignore comment naming an unknown rule id, or none (warning).
pub const UNKNOWN_RULE_IN_IGNORE: RuleId = RuleId::Lint(LintRule::UnknownRuleInIgnore);
/// An `ignore-file` comment after the first statement, not applied (warning).
pub const MISPLACED_IGNORE_FILE: RuleId = RuleId::Lint(LintRule::MisplacedIgnoreFile);

/// squawk rules that only compensate for a runner without per-step timeouts: pgwarden sets
/// `lock_timeout` and `statement_timeout` for every step, so they do not apply.
const COMPENSATED: [Rule; 3] = [
    Rule::RequireTimeoutSettings,
    Rule::RequireLockTimeout,
    Rule::RequireStatementTimeout,
];

/// squawk rules whose harm grows with the table: weighed by its row count when known, and moot
/// on a table created earlier in the same lint run.
pub const LOCKING: [Rule; 10] = [
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
    pub rule: RuleId,
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

/// A finding an inline ignore suppressed, with the ignore's reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IgnoredFinding {
    /// The rule the finding is of.
    pub rule: RuleId,
    /// The severity it would have had.
    pub severity: Severity,
    /// The file.
    pub file: String,
    /// 1-based line of the finding.
    pub line: u64,
    /// 1-based column of the finding.
    pub column: u64,
    /// What the finding said.
    pub message: String,
    /// The reason the ignore gives (after its colon); `None` when it gives none.
    pub reason: Option<String>,
    /// 1-based line of the ignore comment.
    pub ignore_line: u64,
}

/// A live table's size, from `pg_class` and the relation's files.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TableSize {
    /// The planner's row estimate; `None` when the table was never analyzed.
    pub rows: Option<f64>,
    /// Bytes of the table itself (heap and TOAST).
    pub table_bytes: f64,
    /// Bytes with its indexes.
    pub total_bytes: f64,
}

/// What lint needs besides the SQL.
#[derive(Debug, Clone)]
pub struct LintContext {
    /// Sizes of live tables (name as stored -> size), when a database was given.
    pub tables: Option<HashMap<String, TableSize>>,
    /// Rule ids switched off by the policy.
    pub disabled: Vec<RuleId>,
    /// A regex index names must match (policy `[lint] index_name_pattern`).
    pub index_name_pattern: Option<regex::Regex>,
    /// Tables under this many rows make locking findings notes (policy `[lint]
    /// small_table_rows`); [`severity::LARGE_FACTOR`] times it makes blocking ones errors.
    pub small_table_rows: u64,
    /// Tables created by the files linted before this one in the same run.
    pub new_tables: NewTables,
}

impl Default for LintContext {
    fn default() -> Self {
        Self {
            tables: None,
            disabled: Vec::new(),
            index_name_pattern: None,
            small_table_rows: severity::DEFAULT_SMALL_TABLE_ROWS,
            new_tables: NewTables::default(),
        }
    }
}

/// One file's lint.
#[derive(Debug, Clone, Default)]
pub struct FileLint {
    /// The findings that stand, by line and column.
    pub findings: Vec<LintFinding>,
    /// The findings an inline ignore suppressed.
    pub ignored: Vec<IgnoredFinding>,
    /// Locking findings dropped because their table was created earlier in the run.
    pub on_new_tables: usize,
    /// The new tables, this file's included: the context for the next file.
    pub new_tables: NewTables,
}

/// Lints one file's SQL.
pub fn lint_file(file: &str, sql: &str, ctx: &LintContext) -> FileLint {
    let lines: Vec<&str> = sql.lines().collect();
    let at = |offset: usize| -> (u64, u64, String) {
        let before = sql.get(..offset.min(sql.len())).unwrap_or(sql);
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
            rule: SYNTAX_ERROR,
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
    let split = crate::sql::split(sql).ok();
    let split_ok = split.is_some();
    // A file that runs in one transaction is atomic under pgwarden: "cannot be rerun if it fails
    // part way" does not apply to it.
    let atomic = split.as_ref().is_some_and(|f| {
        !f.no_transaction_directive && f.statements.iter().all(|s| s.tx.in_transaction())
    });
    let statements = split.map(|f| f.statements).unwrap_or_default();
    let (on_new, new_tables) = new_targets(&statements, ctx);
    let mut on_new_tables = 0;
    let mut linter = Linter::with_rules(&[], &COMPENSATED);
    for v in linter.lint(&parse, sql) {
        if atomic && v.code == Rule::PreferRobustStmts {
            continue;
        }
        let start = usize::from(v.text_range.start());
        let (line, column, source) = at(start);
        // The statement the finding is in: the last one starting at or before it.
        let within = statements
            .iter()
            .rposition(|s| (s.line, s.column) <= (line, column));
        if LOCKING.contains(&v.code) && within.is_some_and(|i| on_new[i]) {
            on_new_tables += 1;
            continue;
        }
        let statement = within.map_or_else(
            || {
                sql.get(start..usize::from(v.text_range.end()))
                    .unwrap_or("")
            },
            |i| statements[i].text.as_str(),
        );
        let (severity, note) = severity::squawk_severity(v.code, statement, ctx);
        out.push(LintFinding {
            rule: RuleId::Squawk(v.code),
            severity,
            file: file.into(),
            line,
            column,
            message: match note {
                Some(note) => format!("{} {note}", v.message),
                None => v.message.clone(),
            },
            help: v.help.clone(),
            source,
        });
    }
    out.extend(own::lint(file, sql, ctx));
    let spans: Vec<(u64, u64)> = statements
        .iter()
        .map(|s| (s.line, s.line + s.text.matches('\n').count() as u64))
        .collect();
    let ignores = ignore::parse(sql, split_ok.then_some(&spans[..]));
    out.extend(ignore::findings_about(&ignores, file, sql));
    out.retain(|f| !ctx.disabled.contains(&f.rule));
    let (mut findings, ignored) = ignore::apply(&ignores, out);
    findings.sort_by_key(|f| (f.line, f.column));
    FileLint {
        findings,
        ignored,
        on_new_tables,
        new_tables,
    }
}

/// For each statement, whether the table it locks was created before it in the run; and the
/// new tables after the file.
fn new_targets(statements: &[crate::sql::Statement], ctx: &LintContext) -> (Vec<bool>, NewTables) {
    let mut new_tables = ctx.new_tables.clone();
    let exists_live = |name: &str| ctx.tables.as_ref().is_some_and(|t| t.contains_key(name));
    let on_new = statements
        .iter()
        .map(|s| {
            let on_new = new_tables.holds_target_of(&s.text);
            new_tables.observe(&s.text, &exists_live);
            on_new
        })
        .collect();
    (on_new, new_tables)
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
                .map(|t| {
                    ctx.tables
                        .as_ref()
                        .and_then(|sizes| sizes.get(t))
                        .and_then(|size| size.rows)
                })
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

#[cfg(test)]
mod tests;
