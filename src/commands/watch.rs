//! `pgwarden watch`: the budget watched in production. Samples pg_stat_statements every
//! interval, judges each statement, exposes Prometheus metrics on `--listen`, reconnects with
//! backoff when the database goes away (`pgwarden_up` 0 meanwhile), and stops cleanly on
//! SIGTERM or SIGINT. `--once` takes one sample (counters since the last reset) and reports it.

use crate::db::ConnectionTarget;
use crate::policy::Policy;
use crate::report::WatchReport;
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
) -> anyhow::Result<Client> {
    let mut client = target.connect()?;
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
    let ours = [
        crate::statements::EPOCH,
        crate::statements::ENTRIES,
        crate::watch::health::INVALID,
        crate::watch::health::BUILDS,
        crate::watch::health::WAITERS,
    ]
    .map(String::from)
    .into_iter()
    .chain(crate::catalog::reader::queries(true));
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

/// Runs `watch` until SIGTERM or SIGINT (or for one sample with `--once`).
pub fn watch(
    settings: &Settings,
    policy: &Policy,
    opts: &WatchOptions,
) -> anyhow::Result<WatchReport> {
    let target = settings.target()?;
    let mut report = WatchReport {
        database: target.redacted(),
        samples: 0,
        once: opts.once,
        last: None,
    };
    let mut watcher = Watcher::new(policy.clone());
    if opts.once {
        let mut client = connect(&target, policy, &mut watcher)?;
        report.last = Some(watcher.sample(&mut client, true)?);
        report.samples = 1;
        return Ok(report);
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install the SIGTERM/SIGINT handlers")?;
    }
    let mut metrics = Metrics::new();
    // Before anything runs: a sink whose key is missing is a configuration error.
    let dispatcher =
        alerts::Dispatcher::start(&policy.alerts, &report.database, metrics.alert_failures())?;
    let mut incidents = alerts::Tracker::default();
    let mut outage = alerts::Outage::new(policy.watch.down_alert);
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
    let mut session: Option<Client> = None;
    let mut backoff = Duration::from_secs(1);
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        if session.is_none() {
            match connect(&target, policy, &mut watcher) {
                Ok(s) => {
                    tracing::info!(database = %target.redacted(), "connected");
                    session = Some(s);
                    backoff = Duration::from_secs(1);
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), retry_in = ?backoff, "cannot sample");
                    metrics.failed();
                    let error = format!("{e:#}");
                    dispatcher.send(
                        &outage
                            .failed(&report.database, &error)
                            .into_iter()
                            .collect::<Vec<_>>(),
                    );
                    publish(&exposition, &metrics);
                    sleep_unless_stopped(backoff, &stop);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
        }
        if let Some(client) = session.as_mut() {
            match watcher.sample(client, false) {
                Ok(sample) => {
                    report.samples += 1;
                    for s in sample
                        .statements
                        .iter()
                        .filter(|s| s.over_budget || s.regressed)
                    {
                        tracing::warn!(
                            query = %s.label,
                            mean_ms = s.mean_ms,
                            budget_ms = s.budget_ms,
                            baseline_ms = ?s.baseline_ms,
                            over_budget = s.over_budget,
                            regressed = s.regressed,
                            "statement needs attention"
                        );
                    }
                    metrics.record(&sample);
                    dispatcher.send(&outage.recovered().into_iter().collect::<Vec<_>>());
                    let problems = alerts::problems(&report.database, &sample);
                    let judged: Vec<String> =
                        sample.statements.iter().map(|s| s.label.clone()).collect();
                    dispatcher.send(&incidents.update(problems, &judged));
                    report.last = Some(sample);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "sample failed; reconnecting");
                    metrics.failed();
                    let error = e.to_string();
                    dispatcher.send(
                        &outage
                            .failed(&report.database, &error)
                            .into_iter()
                            .collect::<Vec<_>>(),
                    );
                    session = None;
                }
            }
        }
        publish(&exposition, &metrics);
        sleep_unless_stopped(interval.saturating_sub(started.elapsed()), &stop);
    }
    // Nothing is resolved on the way out; what is queued still goes.
    dispatcher.flush(Duration::from_secs(10));
    tracing::info!(samples = report.samples, "stopped");
    Ok(report)
}

fn publish(exposition: &Arc<Mutex<String>>, metrics: &Metrics) {
    if let Ok(mut text) = exposition.lock() {
        *text = metrics.encode();
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
