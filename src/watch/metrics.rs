//! `watch`'s Prometheus metrics (prometheus-client: the exposition format) and the HTTP
//! endpoint that serves them (tiny_http). Base units in seconds; labels bounded to the policy's
//! query names and the top statements of the last sample (series of statements that left the
//! top are removed, so the label set never grows without bound). Every series carries a
//! `server` label: `primary` for the target, the replica's name for each replica.

use super::Sample;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

/// The server's name of `PRIMARY`'s series.
pub const PRIMARY: &str = "primary";

/// A server's series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerLabel {
    /// `primary`, or the replica's name.
    pub server: String,
}

/// A statement's series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueryLabel {
    /// `primary`, or the replica's name.
    pub server: String,
    /// The policy query's name, else `queryid:<id>`.
    pub query: String,
}

/// A finding rule's series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabel {
    /// `primary`, or the replica's name.
    pub server: String,
    /// The rule id (`duplicate-index`, ...).
    pub rule: String,
}

/// An index build's series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IndexLabel {
    /// `primary`, or the replica's name.
    pub server: String,
    /// The index being built.
    pub index: String,
}

type ServerGauge = Family<ServerLabel, Gauge>;

type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric `watch` exposes.
pub struct Metrics {
    registry: Registry,
    up: ServerGauge,
    calls: Family<QueryLabel, Counter>,
    mean: Family<QueryLabel, FloatGauge>,
    budget: Family<QueryLabel, FloatGauge>,
    over: Family<QueryLabel, Gauge>,
    regressed: Family<QueryLabel, Gauge>,
    invalid: ServerGauge,
    lock_waiters: ServerGauge,
    long_lock_waits: ServerGauge,
    build_progress: Family<IndexLabel, FloatGauge>,
    sample_duration: Family<ServerLabel, FloatGauge>,
    samples: Family<ServerLabel, Counter>,
    sample_failures: Family<ServerLabel, Counter>,
    alert_failures: Counter,
    index_findings: Family<RuleLabel, Gauge>,
    hidden: ServerGauge,
    /// Per server, the labels of the unnamed statements with series (to remove those that
    /// leave the top), of every statement judged last (whose verdicts go before the next), and
    /// of the builds shown.
    live: std::collections::HashMap<String, Live>,
}

/// A server's labels from its last sample.
#[derive(Default)]
struct Live {
    unnamed: Vec<QueryLabel>,
    judged: Vec<QueryLabel>,
    builds: Vec<IndexLabel>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All metrics registered, `pgwarden_up` 0 until the first sample.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let m = Metrics {
            registry: Registry::default(),
            up: Family::default(),
            calls: Family::default(),
            mean: Family::default(),
            budget: Family::default(),
            over: Family::default(),
            regressed: Family::default(),
            invalid: Family::default(),
            lock_waiters: Family::default(),
            long_lock_waits: Family::default(),
            build_progress: Family::default(),
            sample_duration: Family::default(),
            samples: Family::default(),
            sample_failures: Family::default(),
            alert_failures: Counter::default(),
            index_findings: Family::default(),
            hidden: Family::default(),
            live: Default::default(),
        };
        registry.register(
            "pgwarden_up",
            "1 when the last sample of the database succeeded",
            m.up.clone(),
        );
        registry.register(
            "pgwarden_query_calls",
            "Calls of the statement, summed over the intervals watched",
            m.calls.clone(),
        );
        registry.register(
            "pgwarden_query_mean_seconds",
            "Mean execution time of the statement over the last interval",
            m.mean.clone(),
        );
        registry.register(
            "pgwarden_query_budget_seconds",
            "The statement's mean-time budget",
            m.budget.clone(),
        );
        registry.register(
            "pgwarden_query_over_budget",
            "1 when the statement's mean over the last interval is over its budget",
            m.over.clone(),
        );
        registry.register(
            "pgwarden_query_regressed",
            "1 when the statement's mean is regression_factor times its baseline or more",
            m.regressed.clone(),
        );
        registry.register(
            "pgwarden_invalid_indexes",
            "INVALID indexes in the database",
            m.invalid.clone(),
        );
        registry.register(
            "pgwarden_lock_waiters",
            "Sessions waiting on a lock",
            m.lock_waiters.clone(),
        );
        registry.register(
            "pgwarden_long_lock_waits",
            "Sessions waiting on a lock longer than the policy's lock_wait_alert",
            m.long_lock_waits.clone(),
        );
        registry.register(
            "pgwarden_index_build_progress_ratio",
            "Share done of the current phase of an index build in progress",
            m.build_progress.clone(),
        );
        registry.register(
            "pgwarden_sample_duration_seconds",
            "How long the last sample took",
            m.sample_duration.clone(),
        );
        registry.register("pgwarden_samples", "Samples taken", m.samples.clone());
        registry.register(
            "pgwarden_sample_failures",
            "Samples that failed (the database unreachable or an error)",
            m.sample_failures.clone(),
        );
        registry.register(
            "pgwarden_alert_failures",
            "Alert events a sink did not take after every retry",
            m.alert_failures.clone(),
        );
        registry.register(
            "pgwarden_index_findings",
            "plan's findings that need no shadow, per rule (INVALID, duplicate, redundant, unused indexes), read at a slower cadence",
            m.index_findings.clone(),
        );
        registry.register(
            "pgwarden_hidden_statements",
            "Statements of other roles hidden from pgwarden's role (GRANT pg_read_all_stats shows them): not judged",
            m.hidden.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The counter the alert senders increment when a sink fails.
    pub fn alert_failures(&self) -> Counter {
        self.alert_failures.clone()
    }

    /// Shows `server` as not (yet) sampled: `pgwarden_up` 0 until its first sample.
    pub fn watching(&self, server: &str) {
        let label = server_label(server);
        self.up.get_or_create(&label).set(0);
        self.sample_failures.get_or_create(&label).inc_by(0);
        self.samples.get_or_create(&label).inc_by(0);
    }

    /// Records a failed sample of `server`: it is down or unreadable.
    pub fn failed(&self, server: &str) {
        let label = server_label(server);
        self.up.get_or_create(&label).set(0);
        self.sample_failures.get_or_create(&label).inc();
    }

    /// Records a sample of `server` (`PRIMARY`, or a replica's name).
    pub fn record(&mut self, server: &str, s: &Sample) {
        let label = server_label(server);
        self.up.get_or_create(&label).set(1);
        self.samples.get_or_create(&label).inc();
        self.sample_duration
            .get_or_create(&label)
            .set(s.duration_seconds);
        self.hidden.get_or_create(&label).set(s.hidden_statements);
        self.invalid
            .get_or_create(&label)
            .set(s.health.invalid_indexes.len() as i64);
        self.lock_waiters
            .get_or_create(&label)
            .set(s.health.lock_waiters);
        self.long_lock_waits
            .get_or_create(&label)
            .set(s.health.long_waits.len() as i64);
        let mut live = self.live.remove(server).unwrap_or_default();
        for gone in live.builds.drain(..) {
            self.build_progress.remove(&gone);
        }
        for b in &s.health.builds {
            let label = IndexLabel {
                server: server.into(),
                index: b.index.clone(),
            };
            self.build_progress
                .get_or_create(&label)
                .set(b.ratio.unwrap_or(0.0));
            live.builds.push(label);
        }
        if let Some(findings) = &s.index_findings {
            for rule in [
                "invalid-index",
                "duplicate-index",
                "redundant-index",
                "unused-index",
            ] {
                let n = findings.iter().filter(|f| f.rule == rule).count();
                let label = RuleLabel {
                    server: server.into(),
                    rule: rule.into(),
                };
                self.index_findings.get_or_create(&label).set(n as i64);
            }
        }
        // A statement idle in this interval has no mean and no verdict (a shipped rule's `for:`
        // must not see a stale 1); after a baseline-only sample (the first, a stats reset, a
        // restart) none is judged, so none keeps a verdict from before.
        for gone in live.judged.drain(..) {
            self.mean.remove(&gone);
            self.over.remove(&gone);
            self.regressed.remove(&gone);
        }
        if s.baseline_only {
            self.live.insert(server.into(), live);
            return;
        }
        let mut unnamed = Vec::new();
        for st in &s.statements {
            let label = QueryLabel {
                server: server.into(),
                query: st.label.clone(),
            };
            self.calls
                .get_or_create(&label)
                .inc_by(st.calls.max(0) as u64);
            self.mean.get_or_create(&label).set(st.mean_ms / 1000.0);
            self.budget.get_or_create(&label).set(st.budget_ms / 1000.0);
            self.over
                .get_or_create(&label)
                .set(i64::from(st.over_budget));
            self.regressed
                .get_or_create(&label)
                .set(i64::from(st.regressed));
            if !st.named {
                unnamed.push(label.clone());
            }
            live.judged.push(label);
        }
        // Any unnamed statement that left the top loses its series.
        for gone in live.unnamed.iter().filter(|l| !unnamed.contains(l)) {
            self.calls.remove(gone);
            self.budget.remove(gone);
        }
        live.unnamed = unnamed;
        self.live.insert(server.into(), live);
    }

    /// The exposition (OpenMetrics text).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

fn server_label(server: &str) -> ServerLabel {
    ServerLabel {
        server: server.into(),
    }
}

/// The exposition's content type (OpenMetrics, what Prometheus asks for).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The classic Prometheus text format's content type, for scrapers that do not ask for
/// OpenMetrics.
pub const CLASSIC_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The OpenMetrics exposition in the classic Prometheus text format: counters are typed under
/// their `_total` sample name, and the `# UNIT` and `# EOF` lines go.
pub fn to_classic(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# TYPE ", "# HELP "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// Serves `/metrics` from `text` (updated after each sample) on `server`, until the process
/// ends. Runs on its own thread: a slow scraper never delays a sample.
pub fn serve(server: tiny_http::Server, text: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let openmetrics = request.headers().iter().any(|h| {
                h.field.equiv("Accept") && h.value.as_str().contains("application/openmetrics-text")
            });
            let (status, body, content_type) = if request.url() == "/metrics" {
                let body = text.lock().map(|t| t.clone()).unwrap_or_default();
                if openmetrics {
                    (200, body, CONTENT_TYPE)
                } else {
                    (200, to_classic(&body), CLASSIC_CONTENT_TYPE)
                }
            } else {
                (
                    404,
                    "pgwarden watch: the metrics are at /metrics\n".to_string(),
                    "text/plain; charset=utf-8",
                )
            };
            let mut response = tiny_http::Response::from_string(body).with_status_code(status);
            if let Ok(header) = tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type) {
                response = response.with_header(header);
            }
            let _ = request.respond(response);
        }
    });
}
