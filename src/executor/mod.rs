//! The one safe executor for every DDL step: per-step `lock_timeout` and `statement_timeout`,
//! bounded retries with backoff on lock timeouts that name the blocking session, recovery of
//! INVALID indexes left by failed concurrent builds, and index-build progress.

mod attempt;
mod error;
mod lag;
pub mod lock;
mod monitor;
mod recover;
mod settings;
pub mod stop;

pub use error::ExecError;
pub use lock::{AdvisoryLock, LockError};
pub use monitor::{Blocker, Monitor};
pub use recover::{Existing, drop_invalid_sql, existing, find_invalid, invalid_index_query};
pub use settings::ExecSettings;

use crate::db::{self, ConnectionTarget, DbContext, DbError};
use crate::sql::Statement;
use attempt::{AttemptError, Recovered, resolve_existing, run_batches};
use postgres::Client;
use postgres::error::SqlState;
use serde::Serialize;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// The statement that records a step as done, sent with the step's last statement; an error
/// about `table` is the record's, not the statement's.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The history statement (an INSERT, guarded or not).
    pub sql: &'a str,
    /// The history table: an error naming it is the record's, not the statement's.
    pub table: &'a str,
}

/// What happened while running one step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StepOutcome {
    /// Attempts made, the first included (more than 1 after lock timeouts or deadlocks).
    pub attempts: u32,
    /// Sessions that held the lock during failed attempts.
    pub blockers: Vec<Blocker>,
    /// INVALID indexes dropped before rebuilding them.
    pub recovered_indexes: Vec<String>,
    /// Indexes an interrupted run had built (valid, same definition): adopted, not rebuilt.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub adopted_indexes: Vec<String>,
    /// Wall time of the step in ms, retries and their backoff included.
    pub duration_ms: u128,
}

/// Runs DDL steps on one session, with a monitor session beside it.
pub struct Executor {
    client: Client,
    settings: ExecSettings,
    monitor: Option<Monitor>,
    /// Names of INVALID indexes when the run started: only builds of these names (or retried
    /// builds) need the per-build check, which saves a round trip per build.
    invalid_index_names: HashSet<String>,
    /// Hidden replica lag (no pg_read_all_stats) was already reported.
    lag_hidden_warned: bool,
}

/// This session's pid (for the monitor), the names of INVALID indexes and the database's own
/// `standard_conforming_strings`, in one round trip before the setup. The `RESET` brings back
/// the value the server, database and role give (the connection set it on); reading it with
/// `current_setting` spares `pg_settings`, which builds a row for every setting (about 1.5 ms
/// of server CPU per target on a fleet run).
const SESSION_FACTS: &str = "RESET standard_conforming_strings; SELECT pg_backend_pid(), \
     (SELECT string_agg(c.relname, ',') FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE NOT i.indisvalid), \
     current_setting('standard_conforming_strings')";

impl Executor {
    /// Wraps `client`; opens a monitor session on `target` (best effort).
    pub fn new(
        mut client: Client,
        target: &ConnectionTarget,
        settings: ExecSettings,
    ) -> Result<Self, ExecError> {
        let start = format!("{SESSION_FACTS};\n{}", settings.alone_setup_sql());
        let messages = client
            .simple_query(&start)
            .db_context(|| "cannot set up the migration session")
            .map_err(|e| settings.setup_error(e))?;
        // The first row: the setup's own SELECT answers after it.
        let row = messages.iter().find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => Some((r.get(0), r.get(1), r.get(2))),
            _ => None,
        });
        let (pid, invalid, strings) = row.unwrap_or_default();
        if strings == Some("off") {
            tracing::warn!(
                "this database defaults to standard_conforming_strings = off; pgwarden runs every statement with it on (so that its SQL splitter and the server read strings alike): a backslash in a '...' string is a plain character; write E'...' for escapes"
            );
        }
        let pid: i32 = pid.and_then(|p| p.parse().ok()).unwrap_or_default();
        let invalid_index_names = invalid
            .unwrap_or_default()
            .split(',')
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect();
        let monitor = Monitor::start(target, pid, settings.progress_bar, settings.lock_timeout);
        Ok(Self {
            client,
            settings,
            monitor,
            invalid_index_names,
            lag_hidden_warned: false,
        })
    }

    /// The executor's session, e.g. to release the migration lock on it.
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Runs `statements` and then `record.sql` in one transaction, retrying the whole
    /// transaction on lock timeout or deadlock. `BEGIN` and the timeouts travel with the first
    /// statement and `record.sql; COMMIT` with the last, so a migration of n statements costs n
    /// round trips, as in psql.
    pub fn run_transaction(
        &mut self,
        label: &str,
        statements: &[Statement],
        record: Record<'_>,
    ) -> Result<StepOutcome, ExecError> {
        if stop::requested() {
            return Err(ExecError::Interrupted);
        }
        let setup = format!("BEGIN;\n{}", self.settings.transaction_setup_sql());
        let first_line = statements.first().map_or(0, |s| s.line);
        let finish = format!("{};\nCOMMIT", record.sql);
        let outcome = self.with_retries(label, first_line, |client| {
            let result = run_batches(client, &setup, statements, &finish, record.table);
            if result.is_err() {
                let _ = client.batch_execute("ROLLBACK");
            }
            result
                .map(|()| Recovered::default())
                .map_err(|(s, e)| AttemptError::Pg(s, e))
        })?;
        // After the COMMIT, so that the migration's own settings (a lock_timeout) cover the
        // work done at commit (deferred constraints); a failure here is said as such.
        self.end_migration()?;
        Ok(outcome)
    }

    /// Runs one statement outside a transaction (autocommit). Before a concurrent index build it
    /// drops an INVALID index of the same name, so the build cannot silently keep a broken one.
    /// When an index of the statement's name already exists (an interrupted run's), it is
    /// adopted if it is valid with the same definition, rebuilt if INVALID, waited for if its
    /// build still runs, and refused with both definitions otherwise.
    pub fn run_alone(
        &mut self,
        label: &str,
        statement: &Statement,
    ) -> Result<StepOutcome, ExecError> {
        if stop::requested() {
            return Err(ExecError::Interrupted);
        }
        let mut attempt = 0;
        let concurrent_build = statement.index_build.as_ref().filter(|b| b.concurrently);
        let known_invalid =
            concurrent_build.is_some_and(|b| self.invalid_index_names.contains(&b.index_name));
        let wait = self.settings.build_wait;
        if (concurrent_build.is_some() || statement.reindex.is_some())
            && !self.settings.max_replica_lag.is_zero()
        {
            lag::wait_for_replicas(
                &mut self.client,
                self.settings.max_replica_lag,
                wait,
                &mut self.lag_hidden_warned,
            )?;
        }
        let outcome = self.with_retries(label, statement.line, |client| {
            attempt += 1;
            let pg = |e| AttemptError::Pg(Some(statement), e);
            let mut recovered = Recovered::default();
            if let Some(build) = concurrent_build
                && (known_invalid || attempt > 1)
            {
                // An INVALID index may still be building (an interrupted run's backend): wait
                // for it rather than fight its lock; then drop it only if it is still INVALID.
                recover::wait_for_build(client, build, wait).map_err(pg)?;
                recovered.rebuilt = recover::drop_invalid(client, build).map_err(pg)?;
            }
            if let Some(index) = &statement.reindex {
                recovered.rebuilt = recover::drop_reindex_leftovers(client, index).map_err(pg)?;
            }
            let Some(build) = statement.index_build.as_ref() else {
                client.batch_execute(&statement.text).map_err(pg)?;
                return Ok(recovered);
            };
            // IF NOT EXISTS accepts any relation of that name: it must be this very index.
            let before = if build.if_not_exists {
                recover::existing(client, build, &statement.text, wait).map_err(pg)?
            } else {
                None
            };
            let found = match before {
                Some(found) => found,
                None => match client.batch_execute(&statement.text) {
                    Ok(()) => return Ok(recovered),
                    Err(e) if e.code() == Some(&SqlState::DUPLICATE_TABLE) => {
                        recover::existing(client, build, &statement.text, wait)
                            .map_err(pg)?
                            .unwrap_or(recover::Existing::Invalid)
                    }
                    Err(e) => return Err(pg(e)),
                },
            };
            resolve_existing(client, statement, build, found, recovered)
        })?;
        Ok(outcome)
    }

    /// Runs a history statement on its own; returns the rows it wrote.
    pub fn record(&mut self, record_sql: &str) -> Result<u64, ExecError> {
        let messages = self
            .client
            .simple_query(record_sql)
            .db_context(|| "recording the migration failed")
            .map_err(ExecError::Session)?;
        Ok(messages
            .iter()
            .map(|m| match m {
                postgres::SimpleQueryMessage::CommandComplete(n) => *n,
                _ => 0,
            })
            .sum())
    }

    /// Puts the session back after a migration (see [`ExecSettings::restore_sql`]): after
    /// every one, since a `SET` inside a `DO` block or a function escapes any reading of the
    /// text. A transaction migration has committed by then; a no-transaction migration calls it
    /// after its history row.
    pub fn end_migration(&mut self) -> Result<(), ExecError> {
        self.client
            .batch_execute(&self.settings.restore_sql())
            .db_context(|| "cannot restore the session settings after the migration")
            .map_err(ExecError::NotRestored)
    }

    fn with_retries<'s, F>(
        &mut self,
        label: &str,
        line: u64,
        mut attempt: F,
    ) -> Result<StepOutcome, ExecError>
    where
        F: FnMut(&mut Client) -> Result<Recovered, AttemptError<'s>>,
    {
        let started = Instant::now();
        let mut outcome = StepOutcome::default();
        loop {
            if outcome.attempts > 0 && stop::requested() {
                return Err(ExecError::Interrupted);
            }
            outcome.attempts += 1;
            if let Some(m) = &self.monitor {
                m.begin(label);
            }
            let result = attempt(&mut self.client);
            let blockers = self.monitor.as_ref().map(Monitor::end).unwrap_or_default();
            match result {
                Ok(recovered) => {
                    outcome.recovered_indexes.extend(recovered.rebuilt);
                    outcome.adopted_indexes.extend(recovered.adopted);
                    outcome.duration_ms = started.elapsed().as_millis();
                    return Ok(outcome);
                }
                Err(AttemptError::Refused(e)) => return Err(e),
                Err(AttemptError::Pg(stmt, e)) if is_retryable(&e) => {
                    outcome.blockers.extend(blockers.iter().cloned());
                    let line = stmt.map_or(line, |s| s.line);
                    if outcome.attempts > self.settings.retries {
                        return Err(ExecError::LockTimeout {
                            line,
                            attempts: outcome.attempts,
                            lock_timeout: self.settings.lock_timeout,
                            blockers: dedup(outcome.blockers),
                        });
                    }
                    let delay = backoff(self.settings.retry_delay, outcome.attempts);
                    let who: Vec<String> = blockers.iter().map(|b| b.to_string()).collect();
                    tracing::warn!(
                        step = label,
                        line,
                        attempt = outcome.attempts,
                        blockers = %who.join("; "),
                        "{}; retrying in {}ms",
                        db::describe(&e),
                        delay.as_millis()
                    );
                    std::thread::sleep(delay);
                }
                Err(AttemptError::Pg(stmt, e)) => {
                    let line = stmt.map_or(line, |s| s.line);
                    let context = match stmt {
                        Some(_) => format!("statement at line {line} failed"),
                        None => "recording the migration in the history table failed".to_string(),
                    };
                    return Err(ExecError::Statement {
                        line,
                        excerpt: stmt.map(|s| excerpt(&s.text)).unwrap_or_default(),
                        cause: DbError::new(context, e),
                    });
                }
            }
        }
    }
}

fn is_retryable(e: &postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == SqlState::LOCK_NOT_AVAILABLE || *c == SqlState::T_R_DEADLOCK_DETECTED
    })
}

fn backoff(base: Duration, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
    base.saturating_mul(factor).min(Duration::from_secs(30))
}

fn dedup(mut blockers: Vec<Blocker>) -> Vec<Blocker> {
    blockers.sort_by_key(|b| b.pid);
    blockers.dedup_by_key(|b| b.pid);
    blockers
}

fn excerpt(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(160) {
        Some((i, _)) => format!("{}...", &one_line[..i]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_millis(100);
        assert_eq!(backoff(base, 1), Duration::from_millis(100));
        assert_eq!(backoff(base, 3), Duration::from_millis(400));
        assert_eq!(backoff(base, 40), Duration::from_secs(30));
    }

    #[test]
    fn excerpt_is_one_short_line() {
        let long = format!("CREATE TABLE t (\n{}\n)", "x int,\n".repeat(100));
        let e = excerpt(&long);
        assert!(!e.contains('\n') && e.ends_with("...") && e.len() < 200);
    }
}
