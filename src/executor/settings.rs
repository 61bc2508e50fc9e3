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
    /// Longest wait for a build that an interrupted run left running (`--lock-wait`).
    pub build_wait: Duration,
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

    /// Session settings sent once per run (and after a migration that changes them); they
    /// govern statements that run outside a transaction.
    /// `client_connection_check_interval` (PostgreSQL 14+) makes the server notice a client
    /// that died (SIGKILL, an evicted pod) during a long statement and end it: a killed deploy's
    /// concurrent build stops, leaving an INVALID index that the rerun rebuilds.
    pub fn alone_setup_sql(&self) -> String {
        format!(
            "SET standard_conforming_strings = on; SET lock_timeout = '{}ms'; SET statement_timeout = '{}ms'; {CONNECTION_CHECK}",
            self.lock_timeout.as_millis(),
            self.build_statement_timeout.as_millis()
        )
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
        format!(
            "lock_timeout {}, statement_timeout {} outside transactions, standard_conforming_strings on, client_connection_check_interval 1s (PostgreSQL 14+)",
            limit(self.lock_timeout),
            limit(self.build_statement_timeout)
        )
    }
}

/// Sets `client_connection_check_interval` where the server has it (it is unknown before 14).
const CONNECTION_CHECK: &str = "SELECT set_config('client_connection_check_interval', '1s', false) \
     WHERE current_setting('server_version_num')::int >= 140000";
