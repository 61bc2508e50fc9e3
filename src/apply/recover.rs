//! Recovery of half-built indexes: a failed or killed `CREATE INDEX CONCURRENTLY` leaves an
//! INVALID index that a later `IF NOT EXISTS` build would silently accept.

use crate::db::quote_literal;
use crate::sql::IndexBuild;
use postgres::{Client, SimpleQueryMessage};

/// A query returning the qualified, quoted name of an INVALID index that `build` would create.
/// Literal SQL (one round trip with the simple protocol); values are quoted literals.
pub fn invalid_index_query(build: &IndexBuild) -> String {
    format!(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT i.indisvalid AND c.relname = {} \
         AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = to_regclass({}))",
        quote_literal(&build.index_name),
        quote_literal(&build.table)
    )
}

/// The qualified name of an INVALID index that `build` would create, if there is one.
pub fn find_invalid(
    client: &mut Client,
    build: &IndexBuild,
) -> Result<Option<String>, postgres::Error> {
    let messages = client.simple_query(&invalid_index_query(build))?;
    Ok(messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
        _ => None,
    }))
}

/// Drops (concurrently) an INVALID index that `build` would create; returns what it dropped.
pub fn drop_invalid(
    client: &mut Client,
    build: &IndexBuild,
) -> Result<Vec<String>, postgres::Error> {
    let Some(name) = find_invalid(client, build)? else {
        return Ok(Vec::new());
    };
    tracing::warn!(index = %name, "found an INVALID index left by a failed concurrent build; dropping it to build it again");
    client.batch_execute(&drop_invalid_sql(&name))?;
    Ok(vec![name])
}

/// The statement that removes an INVALID index (shown in dry runs, run by recovery).
pub fn drop_invalid_sql(qualified_name: &str) -> String {
    format!("DROP INDEX CONCURRENTLY IF EXISTS {qualified_name}")
}
