//! `watch`'s Prometheus metrics (prometheus-client: the exposition format) and the HTTP
//! endpoint that serves them (tiny_http). Base units in seconds; labels bounded to the policy's
//! query names and the top statements of the last sample (series of statements that left the
//! top are removed, so the label set never grows without bound).

use super::Sample;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

/// A statement's series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueryLabel {
    /// The policy query's name, else `queryid:<id>`.
    pub query: String,
}

/// A finding rule's series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabel {
    /// The rule id (`duplicate-index`, ...).
    pub rule: String,
}

/// An index build's series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IndexLabel {
    /// The index being built.
    pub index: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric `watch` exposes.
pub struct Metrics {
    registry: Registry,
    up: Gauge,
    calls: Family<QueryLabel, Counter>,
    mean: Family<QueryLabel, FloatGauge>,
    budget: Family<QueryLabel, FloatGauge>,
    over: Family<QueryLabel, Gauge>,
    regressed: Family<QueryLabel, Gauge>,
    invalid: Gauge,
    lock_waiters: Gauge,
    long_lock_waits: Gauge,
    build_progress: Family<IndexLabel, FloatGauge>,
    sample_duration: FloatGauge,
    samples: Counter,
    sample_failures: Counter,
    alert_failures: Counter,
    index_findings: Family<RuleLabel, Gauge>,
    hidden: Gauge,
    /// Labels of the unnamed statements with series, to remove those that leave the top.
    live: Vec<QueryLabel>,
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
            up: Gauge::default(),
            calls: Family::default(),
            mean: Family::default(),
            budget: Family::default(),
            over: Family::default(),
            regressed: Family::default(),
            invalid: Gauge::default(),
            lock_waiters: Gauge::default(),
            long_lock_waits: Gauge::default(),
            build_progress: Family::default(),
            sample_duration: FloatGauge::default(),
            samples: Counter::default(),
            sample_failures: Counter::default(),
            alert_failures: Counter::default(),
            index_findings: Family::default(),
            hidden: Gauge::default(),
            live: Vec::new(),
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

    /// Records a failed sample: the database is down or unreadable.
    pub fn failed(&self) {
        self.up.set(0);
        self.sample_failures.inc();
    }

    /// Records a sample.
    pub fn record(&mut self, s: &Sample) {
        self.up.set(1);
        self.samples.inc();
        self.sample_duration.set(s.duration_seconds);
        self.hidden.set(s.hidden_statements);
        self.invalid.set(s.health.invalid_indexes.len() as i64);
        self.lock_waiters.set(s.health.lock_waiters);
        self.long_lock_waits.set(s.health.long_waits.len() as i64);
        self.build_progress.clear();
        for b in &s.health.builds {
            let label = IndexLabel {
                index: b.index.clone(),
            };
            self.build_progress
                .get_or_create(&label)
                .set(b.ratio.unwrap_or(0.0));
        }
        if let Some(findings) = &s.index_findings {
            for rule in [
                "invalid-index",
                "duplicate-index",
                "redundant-index",
                "unused-index",
            ] {
                let n = findings.iter().filter(|f| f.rule == rule).count();
                self.index_findings
                    .get_or_create(&RuleLabel { rule: rule.into() })
                    .set(n as i64);
            }
        }
        if s.baseline_only {
            // No interval figures (the first sample, a stats reset, a restart): no statement
            // is judged, so none keeps a verdict from before.
            self.mean.clear();
            self.over.clear();
            self.regressed.clear();
            return;
        }
        // A statement idle in this interval has no mean and no verdict (a shipped rule's `for:`
        // must not see a stale 1); any unnamed statement that left the top loses its series.
        self.mean.clear();
        self.over.clear();
        self.regressed.clear();
        let mut live = Vec::new();
        for st in &s.statements {
            let label = QueryLabel {
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
                live.push(label);
            }
        }
        for gone in self.live.iter().filter(|l| !live.contains(l)) {
            self.calls.remove(gone);
            self.mean.remove(gone);
            self.budget.remove(gone);
            self.over.remove(gone);
            self.regressed.remove(gone);
        }
        self.live = live;
    }

    /// The exposition (OpenMetrics text).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
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
