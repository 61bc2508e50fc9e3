//! How each pending migration will run: one transaction, or statement by statement outside a
//! transaction. Pure: decided from the file's statements alone.
//!
//! Rules (documented in the README):
//! - only transactional statements: one transaction holding the statements and the history row;
//! - only statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY, ...): each
//!   runs on its own, then the history row is written;
//! - a mix: refused, unless the file carries `-- pgwarden:no-transaction`, in which case every
//!   statement runs on its own, in order (no atomicity: write them to be re-runnable);
//! - `BEGIN`/`COMMIT` in a file: refused; pgwarden owns the transaction.

use super::discovery::MigrationFile;
use crate::sql::{self, NO_TRANSACTION_DIRECTIVE, Statement, TxRequirement};
use serde::Serialize;

/// How a migration runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "mode", content = "reason")]
pub enum RunMode {
    /// Statements and the history row commit together.
    Transaction,
    /// Each statement commits on its own; the text says why.
    NoTransaction(String),
}

/// A pending migration with its statements and run mode.
#[derive(Debug, Clone)]
pub struct PlannedMigration {
    /// The migration file.
    pub file: MigrationFile,
    /// One transaction, or statement by statement (with why).
    pub mode: RunMode,
    /// The file's statements in order, as split.
    pub statements: Vec<Statement>,
}

/// Why a migration cannot be planned; names the file and the place.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The file does not tokenize (an unterminated string, quoted identifier or comment).
    #[error(
        "migration {file}: {cause}; fix the SQL (PostgreSQL's rules for quotes and comments apply)"
    )]
    Tokenize {
        /// The file name.
        file: String,
        // Not `source`: the message shows it, and `{:#}` would print it a second time.
        /// Where and why the tokenizer stopped.
        cause: sql::SplitError,
    },
    /// The file holds `BEGIN`, `COMMIT` or another transaction control statement.
    #[error(
        "migration {file} line {line}: `{keyword}` controls the transaction, which pgwarden owns; remove it (each migration already runs in one transaction) or add `-- {NO_TRANSACTION_DIRECTIVE}` and drop the transaction control"
    )]
    TransactionControl {
        /// The file name.
        file: String,
        /// 1-based line of the statement.
        line: u64,
        /// Its first word, upper-cased (`BEGIN`, `COMMIT`, ...).
        keyword: String,
    },
    /// The file ends pgwarden's session state: `DISCARD ALL` or `pg_advisory_unlock_all()`
    /// would release the migration lock, so a second deploy could run beside this one.
    #[error(
        "migration {file} line {line}: `{what}` would release pgwarden's migration lock (and reset its session), so another deploy could run at the same time; remove it: pgwarden puts the session back after each migration"
    )]
    ReleasesLock {
        /// The file name.
        file: String,
        /// 1-based line of the statement.
        line: u64,
        /// What was found.
        what: String,
    },
    /// The file mixes statements that need a transaction with one that cannot run in a transaction
    /// block, and has no no-transaction directive.
    #[error(
        "migration {file} mixes statements that need a transaction with one that cannot run in a transaction block ({form} at line {line}); move it to a migration of its own, or add `-- {NO_TRANSACTION_DIRECTIVE}` to run every statement on its own"
    )]
    Mixed {
        /// The file name.
        file: String,
        /// The form of the first statement that cannot run in a transaction block (`VACUUM`, ...).
        form: String,
        /// 1-based line of that statement.
        line: u64,
    },
}

/// Plans one migration file.
pub fn plan(file: &MigrationFile) -> Result<PlannedMigration, PlanError> {
    let name = file.file_name();
    let split = sql::split(&file.sql).map_err(|cause| PlanError::Tokenize {
        file: name.clone(),
        cause,
    })?;
    if let Some(s) = split
        .statements
        .iter()
        .find(|s| s.tx == TxRequirement::TransactionControl)
    {
        return Err(PlanError::TransactionControl {
            file: name,
            line: s.line,
            keyword: first_word(&s.text),
        });
    }
    if let Some((s, what)) = split.statements.iter().find_map(|s| {
        let words: Vec<String> = s
            .text
            .split_whitespace()
            .take(2)
            .map(|w| w.trim_end_matches(';').to_uppercase())
            .collect();
        if words == ["DISCARD", "ALL"] {
            Some((s, "DISCARD ALL"))
        } else if s.text.to_lowercase().contains("pg_advisory_unlock_all") {
            Some((s, "pg_advisory_unlock_all()"))
        } else {
            None
        }
    }) {
        return Err(PlanError::ReleasesLock {
            file: name,
            line: s.line,
            what: what.to_string(),
        });
    }
    let non_tx = split.statements.iter().find_map(|s| match s.tx {
        TxRequirement::NoTransaction(form) => Some((form, s.line)),
        _ => None,
    });
    let any_tx = split.statements.iter().any(|s| s.tx.in_transaction());
    let mode = match (split.no_transaction_directive, non_tx, any_tx) {
        (true, _, _) => {
            RunMode::NoTransaction(format!("the file says `{NO_TRANSACTION_DIRECTIVE}`"))
        }
        (false, Some((form, line)), true) => {
            return Err(PlanError::Mixed {
                file: name,
                form: form.to_string(),
                line,
            });
        }
        (false, Some((form, _)), false) => {
            RunMode::NoTransaction(format!("{form} cannot run in a transaction block"))
        }
        (false, None, _) => RunMode::Transaction,
    };
    Ok(PlannedMigration {
        file: file.clone(),
        mode,
        statements: split.statements,
    })
}

fn first_word(text: &str) -> String {
    text.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn file(sql: &str) -> MigrationFile {
        MigrationFile {
            path: PathBuf::from("V3__x.sql"),
            version: 3,
            name: "x".into(),
            prefix: 'V',
            sql: sql.into(),
            checksum: 0,
        }
    }

    #[test]
    fn plain_ddl_runs_in_one_transaction() {
        let p = plan(&file("CREATE TABLE a (x int); ALTER TABLE a ADD y int;")).unwrap();
        assert_eq!(p.mode, RunMode::Transaction);
        assert_eq!(p.statements.len(), 2);
    }

    #[test]
    fn concurrent_build_runs_outside_a_transaction() {
        let p = plan(&file("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);")).unwrap();
        assert!(matches!(p.mode, RunMode::NoTransaction(ref why) if why.contains("CONCURRENTLY")));
    }

    #[test]
    fn mixed_file_is_refused_with_the_line() {
        let err = plan(&file(
            "CREATE TABLE a (x int);\nCREATE INDEX CONCURRENTLY i ON a (x);",
        ))
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("V3__x.sql") && msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn what_would_release_the_migration_lock_is_refused_with_the_line() {
        for (sql, line) in [
            ("CREATE TABLE a (x int);\nDISCARD ALL;", 2),
            (
                "-- pgwarden:no-transaction\nCREATE TABLE a (x int);\ndiscard all",
                3,
            ),
            (
                "CREATE TABLE a (x int);\nSELECT pg_catalog.PG_ADVISORY_UNLOCK_ALL();",
                2,
            ),
        ] {
            let msg = plan(&file(sql)).unwrap_err().to_string();
            assert!(
                msg.contains(&format!("V3__x.sql line {line}")) && msg.contains("migration lock"),
                "{msg}"
            );
        }
        assert!(plan(&file("DISCARD TEMP;")).is_ok());
    }

    #[test]
    fn directive_allows_a_mix() {
        let p = plan(&file(
            "-- pgwarden:no-transaction\nCREATE TABLE a (x int);\nCREATE INDEX CONCURRENTLY i ON a (x);",
        ))
        .unwrap();
        assert!(matches!(p.mode, RunMode::NoTransaction(_)));
    }

    #[test]
    fn transaction_control_is_refused() {
        let err = plan(&file("BEGIN;\nCREATE TABLE a (x int);\nCOMMIT;")).unwrap_err();
        assert!(err.to_string().contains("`BEGIN`"), "{err}");
    }
}
