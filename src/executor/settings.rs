//! The executor's settings: timeouts, retries, waits, and the session settings they become.

use std::time::Duration;

/// Timeouts and retry policy for DDL steps.
#[derive(Debug, Clone)]
pub struct ExecSettings {
    /// Longest wait for a lock before giving up the attempt.
    pub lock_timeout: Duration,
    /// `statement_timeout` for statements inside a transaction; zero disables it.
    pub statement_timeout: Duration,
    /// `statement_timeout` for statements run on their own (index builds); zero disables it,
    /// because a timeout aborts a large concurrent build and leaves an INVALID index.
    pub build_statement_timeout: Duration,
    /// Attempts after the first, on lock timeout or deadlock.
    pub retries: u32,
    /// First backoff delay; doubles each retry, capped at 30 s.
    pub retry_delay: Duration,
    /// Show a progress bar on stderr (terminal only).
    pub progress_bar: bool,
    /// Longest wait for a build that an interrupted run left running (`--lock-wait`), and for
    /// lagging replicas to catch up before a concurrent build.
    pub build_wait: Duration,
    /// `max_parallel_maintenance_workers` of the session (`--build-workers`): 0 builds with one
    /// process, slower but leaving the other cores to production.
    pub build_workers: u32,
    /// `maintenance_work_mem` of the session (`--maintenance-work-mem`), e.g. `256MB`;
    /// `None`: the server's.
    pub maintenance_work_mem: Option<String>,
    /// `wal_compression` of the session (`--build-wal-compression`); `None`: the server's.
    pub wal_compression: Option<String>,
    /// Before a concurrent build, wait while a streaming replica's replay lag is over this
    /// (`--max-replica-lag`); zero does not wait.
    pub max_replica_lag: Duration,
}

impl Default for ExecSettings {
    fn default() -> Self {
        Self {
            lock_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30 * 60),
            build_statement_timeout: Duration::ZERO,
            retries: 5,
            retry_delay: Duration::from_secs(1),
            progress_bar: false,
            build_wait: Duration::from_secs(30 * 60),
            build_workers: 0,
            maintenance_work_mem: None,
            wal_compression: None,
            max_replica_lag: Duration::from_secs(30),
        }
    }
}

impl ExecSettings {
    /// Session settings sent at the start of each migration transaction.
    /// `lock_timeout` is already set for the session; only `statement_timeout` differs.
    pub fn transaction_setup_sql(&self) -> String {
        format!(
            "SET LOCAL statement_timeout = '{}ms'",
            self.statement_timeout.as_millis()
        )
    }

    /// Session settings sent once per run (and again after every migration); they
    /// govern statements that run outside a transaction.
    /// `client_connection_check_interval` (PostgreSQL 14+) makes the server notice a client
    /// that died (SIGKILL, an evicted pod) during a long statement and end it: a killed deploy's
    /// concurrent build stops, leaving an INVALID index that the rerun rebuilds.
    pub fn alone_setup_sql(&self) -> String {
        format!(
            "SET standard_conforming_strings = on; SET lock_timeout = '{}ms'; SET statement_timeout = '{}ms'; SET max_parallel_maintenance_workers = {}; {}{}{CONNECTION_CHECK}",
            self.lock_timeout.as_millis(),
            self.build_statement_timeout.as_millis(),
            self.build_workers,
            set_sql("maintenance_work_mem", &self.maintenance_work_mem),
            set_sql("wal_compression", &self.wal_compression)
        )
    }

    /// What puts the session back after every migration (whatever it changed, with `SET`,
    /// `RESET`, `set_config` or in a `DO` block): the role and the session user the run logged
    /// in as, every setting at its default, then the run's own settings, so that no migration's settings (a `search_path`,
    /// a `SET ROLE`, a `work_mem`) reach the next one. `wal_compression`, when asked for, was
    /// checked for the login role before anything ran.
    pub fn restore_sql(&self) -> String {
        format!(
            "RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL; {}",
            self.alone_setup_sql()
        )
    }

    /// Refuses, before anything is written, a session setting the server will not take from
    /// this role (`--build-wal-compression` without the privilege, or a method the server
    /// lacks): tried in a transaction rolled back at once.
    pub fn check_settable(&self, client: &mut postgres::Client) -> Result<(), super::ExecError> {
        use crate::db::DbContext;
        let Some(method) = self.wal_compression.as_deref() else {
            return Ok(());
        };
        let tried = client
            .batch_execute(&format!(
                "BEGIN; SET LOCAL wal_compression = {}",
                crate::escape::literal(method)
            ))
            .db_context(|| "cannot set up the migration session");
        let _ = client.batch_execute("ROLLBACK");
        tried.map_err(|e| self.setup_error(e))
    }

    /// A failed session setup as an error: [`super::ExecError::Setting`], with the fix, when
    /// the server refused `wal_compression`.
    pub(super) fn setup_error(&self, e: crate::db::DbError) -> super::ExecError {
        match wal_compression_fix(self, &e) {
            Some(fix) => super::ExecError::Setting(e, fix),
            None => super::ExecError::Session(e),
        }
    }

    /// [`Self::alone_setup_sql`] in words.
    pub fn alone_setup_summary(&self) -> String {
        let limit = |d: Duration| {
            if d.is_zero() {
                "none".to_string()
            } else {
                humantime::format_duration(d).to_string()
            }
        };
        let lag = if self.max_replica_lag.is_zero() {
            "no wait for replicas".to_string()
        } else {
            format!(
                "each concurrent build waits while a streaming replica's replay lag is over {}",
                limit(self.max_replica_lag)
            )
        };
        format!(
            "lock_timeout {}, statement_timeout {} outside transactions, index builds with {} parallel worker(s), maintenance_work_mem {} and wal_compression {}, {lag}, standard_conforming_strings on, client_connection_check_interval 1s (PostgreSQL 14+)",
            limit(self.lock_timeout),
            limit(self.build_statement_timeout),
            self.build_workers,
            server_or(&self.maintenance_work_mem),
            server_or(&self.wal_compression),
        )
    }
}

/// `SET name = 'value'; `, or nothing when the value is the server's.
fn set_sql(name: &str, value: &Option<String>) -> String {
    value.as_deref().map_or(String::new(), |v| {
        format!("SET {name} = {}; ", crate::escape::literal(v))
    })
}

/// A session setting as the dry run shows it: its value, or the server's.
fn server_or(value: &Option<String>) -> String {
    value
        .as_deref()
        .map_or("of the server".to_string(), crate::escape::inline)
}

/// What to do when the server refuses `wal_compression` in the session setup: `None` when
/// the error is not about it.
fn wal_compression_fix(settings: &ExecSettings, error: &crate::db::DbError) -> Option<String> {
    let method = settings.wal_compression.as_deref()?;
    let message = error.server_message().unwrap_or_default();
    if !message.contains("wal_compression") {
        return None;
    }
    let code = error.sqlstate().map(|c| c.code()).unwrap_or_default();
    Some(if code == "42501" {
        format!(
            "--build-wal-compression {method} needs a superuser or a role granted it: GRANT SET ON PARAMETER wal_compression TO <this role> (PostgreSQL 15+); or leave the option out to keep the server's setting"
        )
    } else {
        format!(
            "this server does not accept wal_compression = {method} (before PostgreSQL 15 it is on or off; lz4 and zstd need a server built with them: SELECT enumvals FROM pg_settings WHERE name = 'wal_compression'); choose another method or leave the option out"
        )
    })
}

/// Sets `client_connection_check_interval` where the server has it (it is unknown before 14).
const CONNECTION_CHECK: &str = "SELECT pg_catalog.set_config('client_connection_check_interval', '1s', false) \
     WHERE pg_catalog.current_setting('server_version_num')::int >= 140000";

#[cfg(test)]
mod tests {
    use super::ExecSettings;

    #[test]
    fn the_build_settings_reach_the_session_quoted() {
        let s = ExecSettings {
            build_workers: 3,
            maintenance_work_mem: Some("1GB'; DROP TABLE t; --".into()),
            wal_compression: Some("zstd'; --".into()),
            ..Default::default()
        };
        let sql = s.alone_setup_sql();
        assert!(
            sql.contains("SET max_parallel_maintenance_workers = 3;"),
            "{sql}"
        );
        assert!(
            sql.contains("SET maintenance_work_mem = '1GB''; DROP TABLE t; --';"),
            "{sql}"
        );
        assert!(sql.contains("SET wal_compression = 'zstd''; --';"), "{sql}");
        let default = ExecSettings::default().alone_setup_sql();
        assert!(!default.contains("maintenance_work_mem") && !default.contains("wal_compression"));
    }
}
