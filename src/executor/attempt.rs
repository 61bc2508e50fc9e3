//! One attempt of a step: what it recovered, why it failed, and what it does with an index of
//! its statement's name that an interrupted run left in place.

use super::{ExecError, excerpt, recover};
use crate::sql::Statement;
use postgres::Client;

/// What one attempt did to indexes an earlier run left behind.
#[derive(Debug, Default)]
pub(super) struct Recovered {
    pub(super) rebuilt: Vec<String>,
    pub(super) adopted: Vec<String>,
}

/// Why one attempt failed: a database error (retried when it is a lock timeout or deadlock),
/// or a refusal that no retry changes.
pub(super) enum AttemptError<'s> {
    Pg(Option<&'s Statement>, postgres::Error),
    Refused(ExecError),
}

/// Acts on an index of the statement's name found in place: adopts it, rebuilds it, or refuses.
pub(super) fn resolve_existing<'s>(
    client: &mut Client,
    statement: &'s Statement,
    build: &crate::sql::IndexBuild,
    found: recover::Existing,
    mut recovered: Recovered,
) -> Result<Recovered, AttemptError<'s>> {
    let pg = |e| AttemptError::Pg(Some(statement), e);
    match found {
        recover::Existing::Same if build.if_not_exists => {
            tracing::info!(index = %build.index_name, "the index exists with this statement's definition (IF NOT EXISTS)");
            recovered.adopted.push(build.index_name.clone());
        }
        recover::Existing::Same => {
            tracing::warn!(index = %build.index_name, "adopting the index an interrupted run built: it is valid and has this statement's definition");
            recovered.adopted.push(build.index_name.clone());
        }
        recover::Existing::Invalid => {
            recovered
                .rebuilt
                .extend(recover::drop_invalid(client, build).map_err(pg)?);
            client.batch_execute(&statement.text).map_err(pg)?;
        }
        recover::Existing::Differs {
            existing,
            statement: wanted,
        } => {
            return Err(AttemptError::Refused(ExecError::IndexDiffers {
                line: statement.line,
                excerpt: excerpt(&statement.text),
                index: build.index_name.clone(),
                existing,
                wanted,
            }));
        }
    }
    Ok(recovered)
}

/// Sends `setup` with the first statement and `finish` (the history row, COMMIT) with the last.
pub(super) fn run_batches<'s>(
    client: &mut Client,
    setup: &str,
    statements: &'s [Statement],
    finish: &str,
    history_table: &str,
) -> Result<(), (Option<&'s Statement>, postgres::Error)> {
    if statements.is_empty() {
        return client
            .batch_execute(&format!("{setup};\n{finish}"))
            .map_err(|e| (None, e));
    }
    let last = statements.len() - 1;
    for (i, s) in statements.iter().enumerate() {
        let mut batch = String::new();
        if i == 0 {
            batch.push_str(setup);
            batch.push_str(";\n");
        }
        batch.push_str(&s.text);
        if i == last {
            batch.push_str(";\n");
            batch.push_str(finish);
        }
        client.batch_execute(&batch).map_err(|e| {
            // The last batch carries the history row: an error naming its table is the row's,
            // also when PostgreSQL's error carries no table (a relation that does not exist).
            let about_history = e.as_db_error().is_some_and(|d| {
                d.table() == Some(history_table)
                    || (i == last && d.message().contains(history_table))
            });
            (if about_history { None } else { Some(s) }, e)
        })?;
    }
    Ok(())
}
