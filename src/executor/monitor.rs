//! A second session that watches the executing one: index build progress from
//! `pg_stat_progress_create_index` (bar on a terminal, log lines otherwise) and the sessions
//! blocking it (`pg_blocking_pids`), so a lock timeout can name its blocker.

use crate::db::ConnectionTarget;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const PROGRESS: &str = "SELECT phase, coalesce(blocks_total, 0), coalesce(blocks_done, 0), \
     coalesce(tuples_total, 0), coalesce(tuples_done, 0) \
     FROM pg_stat_progress_create_index WHERE pid = $1";
const BLOCKERS: &str = "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''), \
     left(coalesce(a.query, ''), 300), \
     coalesce(extract(epoch FROM now() - coalesce(a.xact_start, a.query_start)), 0)::float8 \
     FROM pg_stat_activity a WHERE a.pid = ANY (pg_blocking_pids($1)) ORDER BY a.pid";
/// How often the monitor looks, and how long a step runs before it opens its session; shorter
/// when the lock timeout is short, so that a blocker is seen before the wait is cancelled.
const POLL: Duration = Duration::from_millis(150);
const MIN_POLL: Duration = Duration::from_millis(20);

/// A session that blocked the executor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Blocker {
    /// The blocking session's backend pid.
    pub pid: i32,
    /// Its `application_name` (empty when unset).
    pub application_name: String,
    /// Its `pg_stat_activity.state`: `active`, `idle in transaction`, ...
    pub state: String,
    /// Its current or last query, cut at 300 characters.
    pub query: String,
    /// Seconds since its transaction (or query) started.
    pub age_seconds: f64,
}

impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} (application_name '{}', {}, transaction open {:.0}s, query: {})",
            self.pid,
            self.application_name,
            self.state,
            self.age_seconds,
            self.query.replace('\n', " ")
        )
    }
}

#[derive(Default)]
struct Shared {
    /// The step being watched and when it began.
    active: Mutex<Option<(String, Instant)>>,
    blockers: Mutex<Vec<Blocker>>,
}

impl Shared {
    fn active_label(&self) -> Option<String> {
        self.active
            .lock()
            .ok()
            .and_then(|a| a.as_ref().map(|(label, _)| label.clone()))
    }

    /// Whether a step has been running for at least `at_least`.
    fn step_running_for(&self, at_least: Duration) -> bool {
        self.active
            .lock()
            .ok()
            .is_some_and(|a| a.as_ref().is_some_and(|(_, t)| t.elapsed() >= at_least))
    }
}

/// Handle to the watching thread; stops it on drop.
pub struct Monitor {
    shared: Arc<Shared>,
    /// Dropping it wakes the thread and ends it at once.
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Monitor {
    /// Watches backend `pid`; `bar` shows a progress bar on stderr. The watching session is
    /// opened on the monitor's own thread, and only once a step has run for one poll interval:
    /// most migration steps finish sooner, and a run of them then costs no second session
    /// (whose authentication costs as much CPU as many small steps).
    pub fn start(
        target: &ConnectionTarget,
        pid: i32,
        bar: bool,
        lock_timeout: Duration,
    ) -> Option<Monitor> {
        // A zero lock_timeout is PostgreSQL's "wait for ever".
        let poll = if lock_timeout.is_zero() {
            POLL
        } else {
            POLL.min(lock_timeout / 3).max(MIN_POLL)
        };
        let target = target.with_application_name("pgwarden-monitor");
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        let (stop, stopped) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("pgwarden-monitor".into())
            .spawn(move || {
                while !thread_shared.step_running_for(poll) {
                    if !matches!(
                        stopped.recv_timeout(poll / 3),
                        Err(mpsc::RecvTimeoutError::Timeout)
                    ) {
                        return;
                    }
                }
                match target.connect() {
                    Ok(client) => watch(client, pid, bar, poll, &thread_shared, &stopped),
                    Err(e) => tracing::warn!("no progress or blocker reporting: {e}"),
                }
            })
            .ok()?;
        Some(Monitor {
            shared,
            stop: Some(stop),
            handle: Some(handle),
        })
    }

    /// Starts watching a step (label shown on the bar); clears the blockers seen so far.
    pub fn begin(&self, label: &str) {
        if let Ok(mut b) = self.shared.blockers.lock() {
            b.clear();
        }
        if let Ok(mut a) = self.shared.active.lock() {
            *a = Some((label.to_string(), Instant::now()));
        }
    }

    /// Stops watching the current step; returns the sessions that blocked it.
    pub fn end(&self) -> Vec<Blocker> {
        if let Ok(mut a) = self.shared.active.lock() {
            *a = None;
        }
        self.shared
            .blockers
            .lock()
            .map(|b| b.clone())
            .unwrap_or_default()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn watch(
    mut client: postgres::Client,
    pid: i32,
    show_bar: bool,
    poll: Duration,
    shared: &Shared,
    stopped: &mpsc::Receiver<()>,
) {
    let (Ok(blockers_query), Ok(progress_query)) =
        (client.prepare(BLOCKERS), client.prepare(PROGRESS))
    else {
        tracing::warn!("no progress or blocker reporting: cannot prepare the monitor queries");
        return;
    };
    let mut bar: Option<ProgressBar> = None;
    let mut last_log: Option<Instant> = None;
    // Polls at once (a step has been running for a while when this starts), then every `poll`.
    loop {
        match shared.active_label() {
            Some(label) => {
                record_blockers(&mut client, &blockers_query, pid, shared);
                if let Ok(Some(row)) = client.query_opt(&progress_query, &[&pid]) {
                    show_progress(&row, &label, show_bar, &mut bar, &mut last_log);
                }
            }
            None => {
                if let Some(b) = bar.take() {
                    b.finish_and_clear();
                }
            }
        }
        if !matches!(
            stopped.recv_timeout(poll),
            Err(mpsc::RecvTimeoutError::Timeout)
        ) {
            break;
        }
    }
    if let Some(b) = bar.take() {
        b.finish_and_clear();
    }
}

fn record_blockers(
    client: &mut postgres::Client,
    query: &postgres::Statement,
    pid: i32,
    shared: &Shared,
) {
    let Ok(rows) = client.query(query, &[&pid]) else {
        return;
    };
    let seen: Vec<Blocker> = rows
        .iter()
        .map(|r| Blocker {
            pid: r.get(0),
            application_name: r.get(1),
            state: r.get(2),
            query: r.get(3),
            age_seconds: r.get(4),
        })
        .collect();
    if !seen.is_empty()
        && let Ok(mut b) = shared.blockers.lock()
    {
        *b = seen;
    }
}

/// One row of `pg_stat_progress_create_index` on the bar, or as a log line (the first at once,
/// then every 5 s).
fn show_progress(
    row: &postgres::Row,
    label: &str,
    show_bar: bool,
    bar: &mut Option<ProgressBar>,
    last_log: &mut Option<Instant>,
) {
    let phase: String = row.get(0);
    let (blocks_total, blocks_done): (i64, i64) = (row.get(1), row.get(2));
    let (tuples_total, tuples_done): (i64, i64) = (row.get(3), row.get(4));
    let (total, done, unit) = if blocks_total > 0 {
        (blocks_total, blocks_done, "blocks")
    } else {
        (tuples_total, tuples_done, "tuples")
    };
    if show_bar {
        let b = bar.get_or_insert_with(new_bar);
        b.set_message(format!("{label}: {phase} ({unit})"));
        b.set_length(total.max(0) as u64);
        b.set_position(done.max(0) as u64);
    } else if last_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
        *last_log = Some(Instant::now());
        tracing::info!(step = %label, %phase, done, total, unit, "index build progress");
    }
}

fn new_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {percent:>3}% {elapsed}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
