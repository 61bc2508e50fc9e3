//! Connecting to PostgreSQL: resolving where to connect (flag, `DATABASE_URL`, libpq variables,
//! `~/.pgpass`), TLS as managed services require, redaction, and identifier quoting.

mod pgpass;
mod target;
mod tls;

pub use target::{ConnectError, ConnectionTarget};

/// Identifier and literal quoting live in [`crate::escape`]; these names are kept for the
/// modules that talk to the database.
pub use crate::escape::{ident as quote_ident, literal as quote_literal};

/// The server's system identifier and the database: equal for two connections to one database.
const DATABASE_IDENTITY: &str =
    "SELECT system_identifier, current_database()::text FROM pg_control_system()";

/// Whether two sessions are connected to the same database of the same server, whatever their
/// URLs say (another host name, an IP, a pooler in front).
pub fn same_database(
    a: &mut postgres::Client,
    b: &mut postgres::Client,
) -> Result<bool, postgres::Error> {
    let identity = |c: &mut postgres::Client| -> Result<(i64, String), postgres::Error> {
        let row = c.query_one(DATABASE_IDENTITY, &[])?;
        Ok((row.get(0), row.get(1)))
    };
    Ok(identity(a)? == identity(b)?)
}

/// The SQLSTATE of a PostgreSQL error, if the error came from the server.
pub fn sqlstate(err: &postgres::Error) -> Option<&str> {
    err.code().map(|c| c.code())
}

/// A one-line description of a PostgreSQL error: the server's message with its detail and
/// hint when there is one, else the client error chain.
pub fn describe(err: &postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => {
            let mut msg = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                msg.push_str(&format!("; detail: {detail}"));
            }
            if let Some(hint) = db.hint() {
                msg.push_str(&format!("; hint: {hint}"));
            }
            msg
        }
        None => {
            let mut msg = err.to_string();
            let mut source = std::error::Error::source(err);
            while let Some(s) = source {
                msg.push_str(&format!(": {s}"));
                source = s.source();
            }
            msg
        }
    }
}
