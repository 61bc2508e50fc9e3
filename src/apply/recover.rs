//! Recovery of half-built indexes: a failed or killed `CREATE INDEX CONCURRENTLY` leaves an
//! INVALID index that a later `IF NOT EXISTS` build would silently accept.

use crate::db::quote_ident;
use crate::sql::IndexBuild;
use postgres::Client;

const FIND_INVALID: &str = "SELECT n.nspname, c.relname FROM pg_index i \
     JOIN pg_class c ON c.oid = i.indexrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE NOT i.indisvalid AND c.relname = $1 \
       AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = to_regclass($2))";

/// The qualified name of an INVALID index that `build` would create, if there is one.
pub fn find_invalid(
    client: &mut Client,
    build: &IndexBuild,
) -> Result<Option<String>, postgres::Error> {
    let row = client.query_opt(FIND_INVALID, &[&build.index_name, &build.table])?;
    Ok(row.map(|r| {
        let (schema, name): (String, String) = (r.get(0), r.get(1));
        format!("{}.{}", quote_ident(&schema), quote_ident(&name))
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
    client.batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"))?;
    Ok(vec![name])
}
