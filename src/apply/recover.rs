//! Recovery of half-built indexes: a failed or killed `CREATE INDEX CONCURRENTLY` leaves an
//! INVALID index that a later `IF NOT EXISTS` build would silently accept.

use crate::db::quote_literal;
use crate::sql::IndexBuild;
use postgres::{Client, SimpleQueryMessage};

/// A query returning the qualified, quoted name of an INVALID index that `build` would create.
/// Literal SQL (one round trip with the simple protocol); values are quoted literals. The
/// index is looked up by its qualified name in the table's schema (two index probes), not by
/// scanning `pg_index`: it runs after every concurrent build, so it must stay cheap to plan
/// and to run on a catalog of thousands of indexes.
pub fn invalid_index_query(build: &IndexBuild) -> String {
    format!(
        "SELECT s.name FROM (SELECT (SELECT relnamespace::regnamespace::text FROM pg_class            WHERE oid = to_regclass({})) || '.' || quote_ident({}) AS name) s          WHERE EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(s.name)            AND NOT indisvalid)",
        quote_literal(&build.table),
        quote_literal(&build.index_name)
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
