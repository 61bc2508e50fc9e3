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

    /// Session settings sent once per run (and after a migration that changes them); they
    /// govern statements that run outside a transaction.
    /// `client_connection_check_interval` (PostgreSQL 14+) makes the server notice a client
    /// that died (SIGKILL, an evicted pod) during a long statement and end it: a killed deploy's
    /// concurrent build stops, leaving an INVALID index that the rerun rebuilds.
    pub fn alone_setup_sql(&self) -> String {
        let memory = self
            .maintenance_work_mem
            .as_deref()
            .map_or(String::new(), |m| {
                format!("SET maintenance_work_mem = {}; ", crate::escape::literal(m))
            });
        format!(
            "SET standard_conforming_strings = on; SET lock_timeout = '{}ms'; SET statement_timeout = '{}ms'; SET max_parallel_maintenance_workers = {}; {memory}{CONNECTION_CHECK}",
            self.lock_timeout.as_millis(),
            self.build_statement_timeout.as_millis(),
            self.build_workers
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
        let lag = if self.max_replica_lag.is_zero() {
            "no wait for replicas".to_string()
        } else {
            format!(
                "each concurrent build waits while a streaming replica's replay lag is over {}",
                limit(self.max_replica_lag)
            )
        };
        format!(
            "lock_timeout {}, statement_timeout {} outside transactions, index builds with {} parallel worker(s) and maintenance_work_mem {}, {lag}, standard_conforming_strings on, client_connection_check_interval 1s (PostgreSQL 14+)",
            limit(self.lock_timeout),
            limit(self.build_statement_timeout),
            self.build_workers,
            self.maintenance_work_mem
                .as_deref()
                .map_or("of the server".to_string(), crate::escape::inline)
        )
    }
}

/// Sets `client_connection_check_interval` where the server has it (it is unknown before 14).
const CONNECTION_CHECK: &str = "SELECT set_config('client_connection_check_interval', '1s', false) \
     WHERE current_setting('server_version_num')::int >= 140000";

#[cfg(test)]
mod tests {
    use super::ExecSettings;

    #[test]
    fn the_build_settings_reach_the_session_quoted() {
        let s = ExecSettings {
            build_workers: 3,
            maintenance_work_mem: Some("1GB'; DROP TABLE t; --".into()),
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
        assert!(
            !ExecSettings::default()
                .alone_setup_sql()
                .contains("maintenance_work_mem")
        );
    }
}
