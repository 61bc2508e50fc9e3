//! A PostgreSQL error with what pgwarden was doing when it happened: the one error type for
//! failed database calls, so that the server's SQLSTATE, detail and hint stay reachable (and
//! testable) instead of being flattened into a string where the call failed.

use postgres::error::SqlState;

/// A failed database call: `context` says what pgwarden was doing ("cannot read
/// refinery_schema_history"), the PostgreSQL error is kept whole.
///
/// Its message is `"{context}: {described}"`, `described` being [`describe`]: the server's
/// message, `(SQLSTATE xxxxx)`, its detail and hint; or the client's error chain when the
/// error did not come from the server. The message is complete, so `source()` is `None`:
/// `postgres::Error`'s own chain repeats the server's message (`db error` then `ERROR: ...`),
/// and `anyhow`'s `{:#}` would print it a second time after ours. The PostgreSQL error is
/// reached through [`DbError::pg`] and the accessors below.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {}", describe(.pg))]
pub struct DbError {
    context: String,
    pg: postgres::Error,
}

impl DbError {
    /// `pg`, which happened while doing `context` (lowercase, names the object).
    pub fn new(context: impl Into<String>, pg: postgres::Error) -> Self {
        Self {
            context: context.into(),
            pg,
        }
    }

    /// What pgwarden was doing.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// The PostgreSQL error itself.
    pub fn pg(&self) -> &postgres::Error {
        &self.pg
    }

    /// The SQLSTATE, when the error came from the server.
    pub fn sqlstate(&self) -> Option<&SqlState> {
        self.pg.code()
    }

    /// The server's primary message, when the error came from the server.
    pub fn server_message(&self) -> Option<&str> {
        self.pg.as_db_error().map(|d| d.message())
    }

    /// The server's DETAIL, if it sent one.
    pub fn detail(&self) -> Option<&str> {
        self.pg.as_db_error().and_then(|d| d.detail())
    }

    /// The server's HINT, if it sent one.
    pub fn hint(&self) -> Option<&str> {
        self.pg.as_db_error().and_then(|d| d.hint())
    }

    /// The PostgreSQL error alone, as [`describe`] words it (the message without `context`).
    pub fn described(&self) -> String {
        describe(&self.pg)
    }
}

/// Adds what pgwarden was doing to a failed database call: `.db_context(|| format!("cannot
/// read {HISTORY_TABLE}"))?`. The closure runs only on failure.
pub trait DbContext<T> {
    /// The error as a [`DbError`] with `context`.
    fn db_context<C, F>(self, context: F) -> Result<T, DbError>
    where
        C: Into<String>,
        F: FnOnce() -> C;
}

impl<T> DbContext<T> for Result<T, postgres::Error> {
    fn db_context<C, F>(self, context: F) -> Result<T, DbError>
    where
        C: Into<String>,
        F: FnOnce() -> C,
    {
        self.map_err(|pg| DbError::new(context(), pg))
    }
}

/// A one-line description of a PostgreSQL error: the server's message with its SQLSTATE,
/// detail and hint when there are some, else the client error chain.
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
    use std::str::FromStr;

    /// A client-side PostgreSQL error, made without a server.
    fn client_error() -> postgres::Error {
        postgres::Config::from_str("port=not-a-port").expect_err("a bad port")
    }

    #[test]
    fn the_message_is_the_context_then_the_description() {
        let e: Result<(), _> = Err(client_error());
        let err = e.db_context(|| "cannot read the catalog").unwrap_err();
        assert_eq!(err.context(), "cannot read the catalog");
        assert_eq!(
            err.to_string(),
            format!("cannot read the catalog: {}", describe(err.pg()))
        );
        assert_eq!(err.described(), describe(err.pg()));
        // Not from the server: no SQLSTATE, detail or hint.
        assert!(err.sqlstate().is_none() && err.detail().is_none() && err.hint().is_none());
        assert!(err.server_message().is_none());
    }

    #[test]
    fn an_error_chain_prints_the_postgres_error_once() {
        // Regression: `{:#}` joins every `source()`; the description must not come twice.
        let err = DbError::new("cannot read the catalog", client_error());
        assert!(std::error::Error::source(&err).is_none());
        let chain = format!("{:#}", anyhow::Error::new(err).context("plan"));
        let described = describe(&client_error());
        assert_eq!(chain, format!("plan: cannot read the catalog: {described}"));
    }

    #[test]
    fn the_context_is_only_built_on_failure() {
        let ok: Result<u8, postgres::Error> = Ok(7);
        let got = ok.db_context(|| -> String { panic!("context built on success") });
        assert_eq!(got.ok(), Some(7));
    }
}
