//! The SQL a migration runs, as the dry run shows it and the runner sends it, and the history
//! row that records it.

use super::super::history::{self, HISTORY_TABLE};
use super::super::plan::{PlannedMigration, RunMode};
use super::ScriptLine;
use crate::executor::{ExecSettings, drop_invalid_sql};
use crate::sql::IndexBuild;

/// The history row is pgwarden's: written as the login role, whatever role the migration
/// switched to (`SET ROLE`, `SET SESSION AUTHORIZATION`), so that a migration run as an
/// application role needs no grant on the history table. `SET LOCAL` ends with the row's
/// transaction; the session is put back after the migration anyway.
const AS_LOGIN: &str = "SET LOCAL SESSION AUTHORIZATION DEFAULT; SET LOCAL ROLE NONE";

/// The history row's INSERT, guarded for a no-transaction migration on its indexes being
/// valid; in a transaction of its own for a no-transaction migration.
pub(super) fn record_sql(p: &PlannedMigration, applied_on: &str, history: &str) -> String {
    let insert = insert_sql(p, applied_on, history);
    match p.mode {
        RunMode::Transaction => format!("{AS_LOGIN}; {insert}"),
        RunMode::NoTransaction(_) => format!("BEGIN; {AS_LOGIN}; {insert}; COMMIT"),
    }
}

fn insert_sql(p: &PlannedMigration, applied_on: &str, history: &str) -> String {
    let builds: Vec<IndexBuild> = p
        .statements
        .iter()
        .filter_map(|s| s.index_build.clone())
        .filter(|b| b.concurrently)
        .collect();
    history::record_sql(
        history,
        p.file.version,
        &p.file.name,
        p.file.checksum,
        applied_on,
        &builds,
    )
}

/// The exact SQL a migration runs, in order; `invalid`: INVALID indexes recovery drops first;
/// `history`: the history table's qualified name ([`history::qualified_name`]).
/// Session settings are sent once per run (see [`ApplyReport::session_setup`]).
pub fn script(
    p: &PlannedMigration,
    settings: &ExecSettings,
    invalid: &[String],
    history: &str,
) -> Vec<ScriptLine> {
    let line = |sql: String, in_transaction| ScriptLine {
        sql,
        in_transaction,
        summary: None,
    };
    // The indexes the history row's guard checks: the named concurrent builds.
    let guarded: Vec<&str> = p
        .statements
        .iter()
        .filter_map(|s| s.index_build.as_ref())
        .filter(|b| b.concurrently)
        .map(|b| b.index_name.as_str())
        .collect();
    let record = ScriptLine {
        summary: Some(match guarded.as_slice() {
            [] => format!("then record V{} in {HISTORY_TABLE}", p.file.version),
            [one] => format!(
                "then record V{} in {HISTORY_TABLE} if index {} is valid",
                p.file.version,
                crate::escape::ident(one)
            ),
            many => format!(
                "then record V{} in {HISTORY_TABLE} if all {} indexes ({}) are valid",
                p.file.version,
                many.len(),
                many.iter()
                    .map(|n| crate::escape::ident(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
        ..line(record_sql(p, "<now, RFC 3339>", history), true)
    };
    let mut out = Vec::new();
    match p.mode {
        RunMode::Transaction => {
            out.push(line("BEGIN".into(), true));
            out.push(line(settings.transaction_setup_sql(), true));
            out.extend(p.statements.iter().map(|s| line(s.text.clone(), true)));
            out.push(record);
            out.push(line("COMMIT".into(), true));
        }
        RunMode::NoTransaction(_) => {
            out.extend(
                invalid
                    .iter()
                    .map(|name| line(drop_invalid_sql(name), false)),
            );
            out.extend(p.statements.iter().map(|s| line(s.text.clone(), false)));
            out.push(ScriptLine {
                in_transaction: false,
                ..record
            });
        }
    }
    out
}
