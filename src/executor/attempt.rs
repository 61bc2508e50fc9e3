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
