//! Connecting to PostgreSQL: resolving where to connect (flag, `DATABASE_URL`, libpq variables,
//! `~/.pgpass`), TLS as managed services require, redaction, and identifier quoting.

mod pgpass;
mod target;
mod tls;

pub use target::{ConnectError, ConnectionTarget};

/// Quotes an identifier for dynamic SQL: always double-quoted, inner quotes doubled.
/// Every identifier that enters dynamic SQL goes through here.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a literal for SQL that is shown to a person (dry runs). Execution binds values instead.
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_hostile_identifiers() {
        assert_eq!(quote_ident("users"), "\"users\"");
        assert_eq!(quote_ident("Mixed Case"), "\"Mixed Case\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
