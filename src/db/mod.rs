//! Connecting to PostgreSQL: resolving where to connect (flag, `DATABASE_URL`, libpq variables,
//! `~/.pgpass`), TLS as managed services require, redaction, identifier quoting, and the
//! error type of failed database calls ([`DbError`]).

mod error;
mod pgpass;
mod target;
mod tls;

pub use error::{DbContext, DbError, describe};
pub use target::{ConnectError, ConnectionTarget};

/// Identifier and literal quoting live in [`crate::escape`]; these names are kept for the
/// modules that talk to the database.
pub use crate::escape::{ident as quote_ident, literal as quote_literal};

/// A comment at the head of the statements pgwarden runs on a database it copies (the throwaway
/// copy's table list and `COPY`s): pg_stat_statements keeps it in the entry's text, so
/// `advise --from-stats` (and a DBA reading the view) can tell pgwarden's statements from the
/// application's.
pub const OWN_STATEMENT_MARKER: &str = "/* pgwarden */";

/// The server's system identifier and the database: equal for two connections to one database.
pub const DATABASE_IDENTITY: &str =
    "SELECT system_identifier::text, current_database()::text FROM pg_control_system()";

/// The server's major version (`15`; `96` for 9.6), as server binaries are numbered.
pub fn server_major(client: &mut postgres::Client) -> Result<u32, DbError> {
    let n: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .db_context(|| "cannot read the server's version")?
        .get(0);
    let n = n.max(0) as u32;
    Ok(if n >= 100_000 {
        n / 10_000
    } else {
        n / 10_000 * 10 + n / 100 % 100
    })
}

/// The identity of the database `client` is connected to: the server's system identifier and
/// the database's name. Simple protocol, so that it passes a transaction pooler whole.
pub fn database_identity(client: &mut postgres::Client) -> Result<(String, String), DbError> {
    let rows = client
        .simple_query(DATABASE_IDENTITY)
        .db_context(|| "cannot read the server's system identifier and database name")?;
    let row = rows.iter().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(r) => Some(r),
        _ => None,
    });
    let field = |i: usize| row.and_then(|r| r.get(i)).unwrap_or_default().to_string();
    Ok((field(0), field(1)))
}

/// Whether two sessions are connected to the same database of the same server, whatever their
/// URLs say (another host name, an IP, a pooler in front).
pub fn same_database(a: &mut postgres::Client, b: &mut postgres::Client) -> Result<bool, DbError> {
    Ok(database_identity(a)? == database_identity(b)?)
}
