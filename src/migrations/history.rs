//! refinery's history table, read and written without refinery's runner (which panics on
//! rows in unexpected formats and commits a migration and its row separately).

use crate::db::quote_literal;
use crate::executor::invalid_index_query;
use crate::sql::IndexBuild;
use postgres::GenericClient;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// refinery's default table, kept for compatibility in both directions.
pub const HISTORY_TABLE: &str = "refinery_schema_history";

/// The same DDL refinery runs, so either tool can create the table.
pub const CREATE_HISTORY_TABLE: &str = "CREATE TABLE IF NOT EXISTS refinery_schema_history(
             version int4 PRIMARY KEY,
             name VARCHAR(255),
             applied_on VARCHAR(255),
             checksum VARCHAR(255));";

const HISTORY_EXISTS: &str = "SELECT to_regclass('refinery_schema_history') IS NOT NULL";
const SELECT_HISTORY: &str = "SELECT version::int4, coalesce(name, ''), coalesce(applied_on, ''), \
     coalesce(checksum, '') FROM refinery_schema_history ORDER BY version";
const INSERT_HISTORY: &str = "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) \
     VALUES ($1, $2, $3, $4)";
const UPDATE_CHECKSUM: &str =
    "UPDATE refinery_schema_history SET checksum = $2, name = $3 WHERE version = $1";

/// One row of the history table, as stored (text columns kept as text).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppliedRow {
    /// The migration's version (primary key).
    pub version: i32,
    /// The migration's name as recorded (empty when NULL).
    pub name: String,
    /// When it was applied, as recorded (RFC 3339 when refinery or pgwarden wrote it; empty when
    /// NULL).
    pub applied_on: String,
    /// Decimal u64 as refinery writes it; kept as text so a malformed row cannot panic us.
    pub checksum: String,
}

/// Reads the history, or `None` when the table does not exist (never creates it).
pub fn read(client: &mut impl GenericClient) -> Result<Option<Vec<AppliedRow>>, postgres::Error> {
    let exists: bool = client.query_one(HISTORY_EXISTS, &[])?.get(0);
    if !exists {
        return Ok(None);
    }
    let rows = client.query(SELECT_HISTORY, &[])?;
    Ok(Some(
        rows.iter()
            .map(|r| AppliedRow {
                version: r.get(0),
                name: r.get(1),
                applied_on: r.get(2),
                checksum: r.get(3),
            })
            .collect(),
    ))
}

/// The history table's name qualified with its schema, as the run's own `search_path` finds
/// it: the rows a migration writes must not follow the migration's `search_path` elsewhere.
const QUALIFIED_NAME: &str = "SELECT n.nspname, c.relname \
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.oid = pg_catalog.to_regclass('refinery_schema_history')";

/// See [`QUALIFIED_NAME`]; the bare name while the table does not exist (a dry run).
pub fn qualified_name(client: &mut postgres::Client) -> Result<String, postgres::Error> {
    let messages = client.simple_query(QUALIFIED_NAME)?;
    Ok(messages
        .iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => Some(crate::escape::qualified(
                r.get(0).unwrap_or_default(),
                r.get(1).unwrap_or_default(),
            )),
            _ => None,
        })
        .unwrap_or_else(|| HISTORY_TABLE.to_string()))
}

/// Creates the table if it is missing (refinery's DDL).
pub fn ensure_table(client: &mut impl GenericClient) -> Result<(), postgres::Error> {
    client.batch_execute(CREATE_HISTORY_TABLE)
}

/// The current time in refinery's `applied_on` format (RFC 3339).
pub fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// Records a migration as applied.
pub fn insert(
    client: &mut impl GenericClient,
    version: i32,
    name: &str,
    checksum: u64,
) -> Result<(), postgres::Error> {
    client.execute(
        INSERT_HISTORY,
        &[&version, &name, &now_rfc3339(), &checksum.to_string()],
    )?;
    Ok(())
}

/// The statement that records a migration, as literal SQL so it can share a round trip with the
/// migration's last statement and be shown verbatim in dry runs. With `built` indexes, the row is
/// written only if none of them is INVALID (the insert then affects zero rows).
pub fn record_sql(
    table: &str,
    version: i32,
    name: &str,
    checksum: u64,
    applied_on: &str,
    built: &[IndexBuild],
) -> String {
    let values = format!(
        "{version}, {}, {}, {}",
        quote_literal(name),
        quote_literal(applied_on),
        quote_literal(&checksum.to_string())
    );
    let insert = format!("INSERT INTO {table} (version, name, applied_on, checksum)");
    if built.is_empty() {
        return format!("{insert} VALUES ({values})");
    }
    let valid: Vec<String> = built
        .iter()
        .map(|b| format!("NOT EXISTS ({})", invalid_index_query(b)))
        .collect();
    format!("{insert} SELECT {values} WHERE {}", valid.join(" AND "))
}

/// Rewrites the recorded checksum (and name) of one version (`migrate repair`).
pub fn update_checksum(
    client: &mut impl GenericClient,
    version: i32,
    name: &str,
    checksum: u64,
) -> Result<u64, postgres::Error> {
    client.execute(UPDATE_CHECKSUM, &[&version, &checksum.to_string(), &name])
}
