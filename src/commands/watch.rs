//! `pgwarden watch`: the budget watched in production. Samples pg_stat_statements every
//! interval, judges each statement, exposes Prometheus metrics on `--listen`, reconnects with
//! backoff when the database goes away (`pgwarden_up` 0 meanwhile), and stops cleanly on
//! SIGTERM or SIGINT. `--once` takes one sample (counters since the last reset) and reports it.

use crate::db::ConnectionTarget;
use crate::policy::Policy;
use crate::report::WatchReport;
use crate::report::model::ReplicaWatch;
use crate::settings::Settings;
use crate::statements::matcher;
use crate::watch::metrics::{self, Metrics};
use crate::watch::{Watcher, alerts};
use anyhow::Context;
use postgres::Client;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How `watch` runs.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// Serve `/metrics` here; no HTTP server without it.
    pub listen: Option<SocketAddr>,
    /// Overrides the policy's `[watch] interval`.
    pub interval: Option<Duration>,
    /// One sample, reported, then exit.
    pub once: bool,
    /// `--replica` arguments: each replica is watched too (`server` label).
    pub replicas: Vec<String>,
}

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Connects and (re)computes the policy queries' identifiers; the watcher keeps its
/// baselines across reconnects. A policy query that cannot be matched (a table that does not
/// exist yet) is reported and left out; the others are watched.
fn connect(
    target: &ConnectionTarget,
    policy: &Policy,
    watcher: &mut Watcher,
    replica: bool,
) -> anyhow::Result<Client> {
    let mut client = target.connect()?;
    if replica {
        super::replicas::require_standby(&mut client)?;
    }
    crate::check::stats::require_pg_stat_statements(&mut client)?;
    let (ids, problems) = matcher::policy_ids_lenient(&mut client, &policy.queries);
    if let Some(e) = problems
        .iter()
        .find(|e| matches!(e, matcher::MatchError::NoQueryId))
    {
        anyhow::bail!("{e}");
    }
    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
    for p in &problems {
        tracing::warn!(problem = %p, "policy query left out");
    }
    // pgwarden's own reads are never judged as the application's statements.
    let mut own = Vec::new();
    let ours = crate::watch::health::own_statements(crate::db::server_major(&mut client)?);
    for sql in ours {
        let values = vec![
            crate::policy::ParamValue::Integer(0);
            crate::policy::placeholder_count(&sql).unwrap_or(0)
        ];
        own.extend(matcher::sql_ids(&mut client, &sql, &values).unwrap_or_default());
    }
    watcher.connected(ids, own, problems);
    Ok(client)
}

/// One server watched: the target (`primary`) or a replica.
struct Watched {
    /// `primary`, or the replica's name: the `server` label of its metrics.
    name: String,
    /// Its connection string, password redacted (replicas say so), for alerts and logs.
    database: String,
    target: ConnectionTarget,
    watcher: Watcher,
    session: Option<Client>,
    /// Wait before the next connection attempt, doubled on each failure.
    backoff: Duration,
    next_try: Instant,
    outage: alerts::Outage,
    incidents: alerts::Tracker,
    last: Option<crate::watch::Sample>,
    samples: u64,
    error: Option<String>,
}

impl Watched {
    fn new(name: &str, database: String, target: ConnectionTarget, policy: &Policy) -> Self {
        Watched {
            name: name.into(),
            database,
            target,
            watcher: Watcher::new(policy.clone()),
            session: None,
            backoff: Duration::from_secs(1),
            next_try: Instant::now(),
            outage: alerts::Outage::new(policy.watch.down_alert),
            incidents: alerts::Tracker::default(),
            last: None,
            samples: 0,
            error: None,
        }
    }
}

/// What the servers' threads share.
#[derive(Clone)]
struct Outputs {
    metrics: Arc<Mutex<Metrics>>,
    dispatcher: Arc<Mutex<Option<alerts::Dispatcher>>>,
    policy: Arc<Policy>,
    exposition: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
    interval: Duration,
}

impl Outputs {
    fn send(&self, events: &[alerts::Event]) {
        if !events.is_empty()
            && let Ok(d) = self.dispatcher.lock()
            && let Some(d) = d.as_ref()
        {
            d.send(events);
        }
    }

    fn metrics(&self, f: impl FnOnce(&mut Metrics)) {
        if let Ok(mut m) = self.metrics.lock() {
            f(&mut m);
            if let Ok(mut text) = self.exposition.lock() {
                *text = m.encode();
            }
        }
    }
}

/// Runs `watch` until SIGTERM or SIGINT (or for one sample with `--once`), on the target and
/// every replica (`--replica` arguments and the policy's), each server on its own thread so a
/// hung one never delays the others.
pub fn watch(
    settings: &Settings,
    policy: &Policy,
    opts: &WatchOptions,
) -> anyhow::Result<WatchReport> {
    let target = settings.target()?;
    let database = target.redacted();
    let mut servers = vec![Watched::new(
        metrics::PRIMARY,
        database.clone(),
        target,
        policy,
    )];
    for r in super::replicas::resolve(&opts.replicas, Some(policy))? {
        let database = format!("{} (replica {})", r.target.redacted(), r.name);
        servers.push(Watched::new(&r.name, database, r.target, policy));
    }
    if opts.once {
        return once(database, servers, policy);
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install the SIGTERM/SIGINT handlers")?;
    }
    let metrics = Metrics::new();
    for w in &servers {
        metrics.watching(&w.name);
    }
    // Before anything runs: a sink whose key is missing is a configuration error.
    let dispatcher =
        alerts::Dispatcher::start(&policy.alerts, &database, metrics.alert_failures())?;
    let exposition = Arc::new(Mutex::new(metrics.encode()));
    if let Some(addr) = opts.listen {
        let server = tiny_http::Server::http(addr)
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        metrics::serve(server, Arc::clone(&exposition));
        tracing::info!(%addr, "serving metrics on /metrics");
    }
    let interval = opts.interval.unwrap_or(policy.watch.interval);
    if interval < Duration::from_secs(1) {
        anyhow::bail!(
            "--interval must be at least 1s (each sample reads pg_stat_statements and the catalog; 60s is usual)"
        );
    }
    let out = Outputs {
        metrics: Arc::new(Mutex::new(metrics)),
        dispatcher: Arc::new(Mutex::new(Some(dispatcher))),
        policy: Arc::new(policy.clone()),
        exposition,
        stop: Arc::clone(&stop),
        interval,
    };
    let handles: Vec<_> = servers
        .into_iter()
        .map(|w| {
            let out = out.clone();
            let name = w.name.clone();
            (name, std::thread::spawn(move || watch_server(w, &out)))
        })
        .collect();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    // A server stuck in a network call is not waited for long: what is known is reported.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut done = Vec::new();
    for (name, handle) in handles {
        while !handle.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        match handle.is_finished().then(|| handle.join()) {
            Some(Ok(w)) => done.push(w),
            _ => {
                tracing::warn!(server = %name, "still busy at exit (a hung connection): not waited for")
            }
        }
    }
    // Nothing is resolved on the way out; what is queued still goes.
    if let Some(d) = out.dispatcher.lock().ok().and_then(|mut d| d.take()) {
        d.flush(Duration::from_secs(10));
    }
    let samples = done
        .iter()
        .find(|w| w.name == metrics::PRIMARY)
        .map_or(0, |w| w.samples);
    tracing::info!(samples, "stopped");
    Ok(report(database, samples, false, done))
}

/// One server's loop: sample every interval, reconnect with backoff, until a stop.
fn watch_server(mut w: Watched, out: &Outputs) -> Watched {
    let mut next_sample = Instant::now();
    while !out.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let fresh = w.session.is_none();
        if fresh && !reconnect(&mut w, out, now) {
            sleep_unless_stopped(
                w.next_try.saturating_duration_since(Instant::now()),
                &out.stop,
            );
            continue;
        }
        if fresh || now >= next_sample {
            next_sample = now + out.interval;
            sample(&mut w, out);
        }
        let wake = if w.session.is_none() {
            w.next_try.min(next_sample)
        } else {
            next_sample
        };
        sleep_unless_stopped(wake.saturating_duration_since(Instant::now()), &out.stop);
    }
    w
}

/// `--once`: one sample of each server's counters since the last reset. The target must be
/// reachable (else an error); a replica that is not is reported.
fn once(
    database: String,
    mut servers: Vec<Watched>,
    policy: &Policy,
) -> anyhow::Result<WatchReport> {
    for (i, w) in servers.iter_mut().enumerate() {
        let sampled = connect(&w.target, policy, &mut w.watcher, i > 0)
            .and_then(|mut client| Ok(w.watcher.sample(&mut client, true)?));
        match sampled {
            Ok(sample) => {
                w.last = Some(sample);
                w.samples = 1;
            }
            Err(e) if i == 0 => return Err(e),
            Err(e) => w.error = Some(format!("{e:#}")),
        }
    }
    Ok(report(database, 1, true, servers))
}

fn report(database: String, samples: u64, once: bool, servers: Vec<Watched>) -> WatchReport {
    let mut servers = servers.into_iter();
    let last = servers.next().and_then(|w| w.last);
    WatchReport {
        database,
        samples,
        once,
        last,
        replicas: servers
            .map(|w| ReplicaWatch {
                server: w.name,
                database: w.database,
                samples: w.samples,
                last: w.last,
                error: w.error,
            })
            .collect(),
    }
}

/// Connects `w` when its next attempt is due; on failure, counts it, alerts after the grace
/// time and backs off. True when `w` is connected.
fn reconnect(w: &mut Watched, out: &Outputs, now: Instant) -> bool {
    if now < w.next_try {
        return false;
    }
    let replica = w.name != metrics::PRIMARY;
    match connect(&w.target, &out.policy, &mut w.watcher, replica) {
        Ok(s) => {
            tracing::info!(database = %w.database, "connected");
            w.session = Some(s);
            w.backoff = Duration::from_secs(1);
            true
        }
        Err(e) => {
            let error = format!("{e:#}");
            tracing::warn!(server = %w.name, error = %error, retry_in = ?w.backoff, "cannot sample");
            out.metrics(|m| m.failed(&w.name));
            let event = w.outage.failed(&w.database, &error);
            out.send(&event.into_iter().collect::<Vec<_>>());
            w.error = Some(error);
            w.next_try = now + w.backoff;
            w.backoff = (w.backoff * 2).min(MAX_BACKOFF);
            false
        }
    }
}

/// Samples a connected server: metrics, logs and alerts. A failed sample drops the session
/// (reconnected at the next attempt).
fn sample(w: &mut Watched, out: &Outputs) {
    let Some(client) = w.session.as_mut() else {
        return;
    };
    match w.watcher.sample(client, false) {
        Ok(sample) => {
            for s in sample
                .statements
                .iter()
                .filter(|s| s.over_budget || s.regressed)
            {
                tracing::warn!(
                    server = %w.name,
                    query = %s.label,
                    mean_ms = s.mean_ms,
                    budget_ms = s.budget_ms,
                    baseline_ms = ?s.baseline_ms,
                    over_budget = s.over_budget,
                    regressed = s.regressed,
                    "statement needs attention"
                );
            }
            out.metrics(|m| m.record(&w.name, &sample));
            out.send(&w.outage.recovered().into_iter().collect::<Vec<_>>());
            let problems = alerts::problems(&w.database, &sample);
            let judged: Vec<String> = sample.statements.iter().map(|s| s.label.clone()).collect();
            out.send(&w.incidents.update(problems, &judged));
            w.last = Some(sample);
            w.samples += 1;
            w.error = None;
        }
        Err(e) => {
            tracing::warn!(server = %w.name, error = %e, "sample failed; reconnecting");
            out.metrics(|m| m.failed(&w.name));
            let error = e.to_string();
            let event = w.outage.failed(&w.database, &error);
            out.send(&event.into_iter().collect::<Vec<_>>());
            w.error = Some(error);
            w.session = None;
            w.next_try = Instant::now() + w.backoff;
        }
    }
}

/// Sleeps `total`, waking early when a stop was asked for.
fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let until = Instant::now() + total;
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}
