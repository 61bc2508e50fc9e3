//! `watch`'s alerts: each problem a sample shows (a statement over budget or regressed, an
//! INVALID index, a long lock wait) is one incident with a stable `dedup_key`, triggered when it
//! appears and resolved when it clears, sent to every sink in the policy (a JSON webhook,
//! PagerDuty's Events API v2). Sending happens on one thread per sink, with retries and
//! backoff, so a slow or failing sink never delays a sample; failures are logged and counted.

use super::Sample;
use crate::policy::AlertSink;
use prometheus_client::metrics::counter::Counter;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::Duration;

/// One problem, as an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Stable while the problem lasts: `pgwarden/<database>/<kind>/<subject>`.
    pub dedup_key: String,
    /// One line for a pager.
    pub summary: String,
    /// PagerDuty's severity, as the shipped Prometheus rules grade the same problem:
    /// `critical` (the database unreachable, sessions blocked) or `warning`.
    pub severity: &'static str,
    /// The figures behind it.
    pub details: serde_json::Value,
}

/// Trigger or resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A new problem.
    Trigger,
    /// A problem that cleared.
    Resolve,
}

/// Something to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Trigger or resolve.
    pub action: Action,
    /// The incident.
    pub problem: Problem,
}

/// The problems `sample` shows, for `database`.
pub fn problems(database: &str, sample: &Sample) -> Vec<Problem> {
    let key = |kind: &str, subject: &str| dedup_key(database, kind, subject);
    let mut out = Vec::new();
    for s in &sample.statements {
        let details = json!({
            "query": s.label, "mean_ms": s.mean_ms, "budget_ms": s.budget_ms,
            "baseline_ms": s.baseline_ms, "calls": s.calls, "statement": s.text,
            "plan": s.plan, "plan_changed": s.plan_changed,
        });
        if s.over_budget {
            out.push(Problem {
                dedup_key: key("over_budget", &s.label),
                summary: format!(
                    "{}: {} mean over the last interval, budget {} ({database})",
                    s.label,
                    crate::units::ms(s.mean_ms),
                    crate::units::ms(s.budget_ms)
                ),
                severity: "warning",
                details: details.clone(),
            });
        }
        if s.regressed {
            out.push(Problem {
                dedup_key: key("regressed", &s.label),
                summary: format!(
                    "{}: {} mean, {} before ({database})",
                    s.label,
                    crate::units::ms(s.mean_ms),
                    crate::units::ms(s.baseline_ms.unwrap_or(0.0))
                ),
                severity: "warning",
                details,
            });
        }
    }
    for i in &sample.health.invalid_indexes {
        out.push(Problem {
            dedup_key: key("invalid_index", i),
            summary: format!("INVALID index {i} ({database})"),
            severity: "warning",
            details: json!({ "index": i }),
        });
    }
    // One incident per blocking session, however many wait behind it.
    let mut blockers: Vec<i32> = Vec::new();
    for w in &sample.health.long_waits {
        let blocker = w.blocked_by.first().copied().unwrap_or(w.pid);
        if blockers.contains(&blocker) {
            continue;
        }
        blockers.push(blocker);
        let waiting = sample
            .health
            .long_waits
            .iter()
            .filter(|x| x.blocked_by.first().copied().unwrap_or(x.pid) == blocker)
            .count();
        out.push(Problem {
            dedup_key: key("lock_wait", &blocker.to_string()),
            summary: format!(
                "pid {blocker} blocks {waiting} session(s), the longest waiting {} ({database})",
                crate::units::ms(w.waiting_seconds * 1000.0)
            ),
            severity: "critical",
            details: json!({ "pid": w.pid, "waiting_seconds": w.waiting_seconds,
                             "blocked_by": w.blocked_by, "blocker_query": w.blocker_query }),
        });
    }
    out
}

/// `pgwarden/<host:port/db>/<kind>/<subject>`, stable when only connection options change
/// (the sslmode shown after the target is left out), and within PagerDuty's 255 characters (a
/// longer one ends with a hash of the whole instead).
pub fn dedup_key(database: &str, kind: &str, subject: &str) -> String {
    let db = database.split(" (").next().unwrap_or(database);
    let db = db.rsplit('@').next().unwrap_or(db);
    let key = format!("pgwarden/{db}/{kind}/{subject}");
    if key.len() <= 255 {
        return key;
    }
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    let head: String = key.chars().take(200).collect();
    format!("{head}…{:016x}", h.finish())
}

/// The incidents open now; turns each sample's problems into triggers and resolves.
#[derive(Debug, Default)]
pub struct Tracker {
    open: BTreeMap<String, Problem>,
}

impl Tracker {
    /// The events for this sample's `problems`; `judged` are the statements the sample has
    /// figures for. A statement without figures (not called in the interval, evicted, or a
    /// sample right after a stats reset or a restart) says nothing: its incidents stay as they
    /// are, neither resolved nor triggered again.
    pub fn update(&mut self, problems: Vec<Problem>, judged: &[String]) -> Vec<Event> {
        let mut now: BTreeMap<String, Problem> = problems
            .into_iter()
            .map(|p| (p.dedup_key.clone(), p))
            .collect();
        for (k, p) in &self.open {
            let unjudged = ["/over_budget/", "/regressed/"].iter().any(|kind| {
                k.split_once(kind)
                    .is_some_and(|(_, label)| !judged.iter().any(|j| j == label))
            });
            if unjudged {
                now.entry(k.clone()).or_insert_with(|| p.clone());
            }
        }
        let mut events = Vec::new();
        for (k, p) in &now {
            if !self.open.contains_key(k) {
                events.push(Event {
                    action: Action::Trigger,
                    problem: p.clone(),
                });
            }
        }
        for (k, p) in &self.open {
            if !now.contains_key(k) {
                events.push(Event {
                    action: Action::Resolve,
                    problem: p.clone(),
                });
            }
        }
        self.open = now;
        events
    }
}

/// The database unreachable: one incident once it has lasted `grace`, resolved when samples
/// succeed again.
#[derive(Debug)]
pub struct Outage {
    grace: Duration,
    since: Option<std::time::Instant>,
    alerted: Option<Problem>,
}

impl Outage {
    /// An outage tracker that alerts after `grace`.
    pub fn new(grace: Duration) -> Self {
        Outage {
            grace,
            since: None,
            alerted: None,
        }
    }

    /// A sample failed with `error`: the trigger, once the outage has lasted the grace period.
    pub fn failed(&mut self, database: &str, error: &str) -> Option<Event> {
        let since = *self.since.get_or_insert_with(std::time::Instant::now);
        if self.alerted.is_some() || since.elapsed() < self.grace {
            return None;
        }
        let problem = Problem {
            dedup_key: dedup_key(database, "down", "database"),
            summary: format!("pgwarden cannot sample {database}: {error}"),
            severity: "critical",
            details: json!({ "error": error, "down_seconds": since.elapsed().as_secs_f64() }),
        };
        self.alerted = Some(problem.clone());
        Some(Event {
            action: Action::Trigger,
            problem,
        })
    }

    /// A sample succeeded: the resolve, when an alert went out.
    pub fn recovered(&mut self) -> Option<Event> {
        self.since = None;
        self.alerted.take().map(|problem| Event {
            action: Action::Resolve,
            problem,
        })
    }
}

/// One sink, with its secret read from the environment.
#[derive(Debug, Clone)]
enum Target {
    Webhook(String),
    PagerDuty { url: String, routing_key: String },
}

/// Why the sinks cannot start.
#[derive(Debug, thiserror::Error)]
#[error(
    "[[alert]] pagerduty: the environment variable {0} (routing_key_env) is not set or empty: export the integration's routing key in it"
)]
pub struct MissingKey(pub String);

/// Sends events to the sinks, one thread per sink.
pub struct Dispatcher {
    senders: Vec<mpsc::SyncSender<Event>>,
    failures: Counter,
    done: Vec<mpsc::Receiver<()>>,
}

/// Events a sink's queue holds.
const QUEUE: usize = 1000;

/// Attempts per event and sink (the first included).
const ATTEMPTS: u32 = 4;

impl Dispatcher {
    /// Starts one sender thread per sink; `failures` counts events a sink never took.
    pub fn start(sinks: &[AlertSink], source: &str, failures: Counter) -> Result<Self, MissingKey> {
        let mut targets = Vec::new();
        for s in sinks {
            targets.push(match s {
                AlertSink::Webhook { url } => Target::Webhook(url.clone()),
                AlertSink::Pagerduty {
                    routing_key_env,
                    url,
                } => Target::PagerDuty {
                    url: url.clone(),
                    routing_key: std::env::var(routing_key_env)
                        .ok()
                        .filter(|k| !k.is_empty())
                        .ok_or_else(|| MissingKey(routing_key_env.clone()))?,
                },
            });
        }
        let mut senders = Vec::new();
        let mut done = Vec::new();
        for target in targets {
            // Bounded: a sink that hangs holds at most this many events, then they are counted
            // as failures instead of growing memory.
            let (tx, rx) = mpsc::sync_channel::<Event>(QUEUE);
            let (done_tx, done_rx) = mpsc::channel();
            let failures = failures.clone();
            let source = source.to_string();
            std::thread::spawn(move || {
                let agent = agent();
                for event in rx {
                    let (url, body) = payload(&target, &event, &source);
                    if !deliver(&agent, url, &body) {
                        failures.inc();
                        tracing::warn!(sink = %url, dedup_key = %event.problem.dedup_key, "alert not delivered");
                    }
                }
                let _ = done_tx.send(());
            });
            senders.push(tx);
            done.push(done_rx);
        }
        Ok(Dispatcher {
            senders,
            failures,
            done,
        })
    }

    /// Queues `events` for every sink; returns at once (a full queue counts as a failure).
    pub fn send(&self, events: &[Event]) {
        for tx in &self.senders {
            for e in events {
                if tx.try_send(e.clone()).is_err() {
                    self.failures.inc();
                    tracing::warn!(dedup_key = %e.problem.dedup_key, "alert queue full: dropped");
                }
            }
        }
    }

    /// Stops taking events and waits up to `grace` for the queued ones to go out.
    pub fn flush(self, grace: Duration) {
        drop(self.senders);
        let until = std::time::Instant::now() + grace;
        for d in self.done {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if d.recv_timeout(left).is_err() {
                tracing::warn!("a sink did not take its queued alerts before shutdown");
            }
        }
    }
}

fn agent() -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::NativeTls)
        .build();
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .tls_config(tls)
        .build()
        .into()
}

fn payload<'a>(target: &'a Target, e: &Event, source: &str) -> (&'a str, serde_json::Value) {
    let action = match e.action {
        Action::Trigger => "trigger",
        Action::Resolve => "resolve",
    };
    let p = &e.problem;
    match target {
        Target::Webhook(url) => (
            url,
            json!({
                "event": action, "dedup_key": p.dedup_key, "summary": p.summary,
                "severity": p.severity, "source": source, "details": p.details,
            }),
        ),
        Target::PagerDuty { url, routing_key } => {
            let mut body = json!({
                "routing_key": routing_key, "event_action": action, "dedup_key": p.dedup_key,
            });
            if e.action == Action::Trigger {
                let summary: String = p.summary.chars().take(1024).collect();
                body["payload"] = json!({
                    "summary": summary, "source": source, "severity": p.severity,
                    "component": "pgwarden", "custom_details": p.details,
                });
            }
            (url, body)
        }
    }
}

/// Posts `body`, retrying with backoff (1 s, 2 s, 4 s); whether a 2xx came back.
fn deliver(agent: &ureq::Agent, url: &str, body: &serde_json::Value) -> bool {
    let mut wait = Duration::from_secs(1);
    for attempt in 1..=ATTEMPTS {
        match agent.post(url).send_json(body) {
            Ok(r) if r.status().is_success() => return true,
            Ok(r) => tracing::warn!(sink = %url, status = %r.status(), attempt, "alert refused"),
            Err(e) => tracing::warn!(sink = %url, error = %e, attempt, "alert not sent"),
        }
        if attempt < ATTEMPTS {
            std::thread::sleep(wait);
            wait *= 2;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(key: &str) -> Problem {
        Problem {
            dedup_key: key.into(),
            summary: key.into(),
            severity: "error",
            details: json!({}),
        }
    }

    #[test]
    fn a_persisting_problem_is_one_incident_resolved_when_it_clears() {
        let mut t = Tracker::default();
        let over = "pgwarden/db/over_budget/q";
        let q = vec!["q".to_string()];
        let e = t.update(vec![problem(over)], &q);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].action, Action::Trigger);
        assert!(
            t.update(vec![problem(over)], &q).is_empty(),
            "still open: no event"
        );
        // No figures for it (a stats reset, an eviction, no calls): neither cleared nor repeated.
        assert!(t.update(vec![], &[]).is_empty());
        let e = t.update(vec![], &q);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].action, Action::Resolve);
        assert_eq!(e[0].problem.dedup_key, over);
        // Health problems clear even in a sample without figures.
        let inv = "pgwarden/db/invalid_index/i";
        t.update(vec![problem(inv)], &[]);
        let e = t.update(vec![], &[]);
        assert_eq!((e.len(), e[0].action), (1, Action::Resolve));
    }

    #[test]
    fn pagerduty_payloads_follow_the_events_api() {
        let target = Target::PagerDuty {
            url: "http://x/v2/enqueue".into(),
            routing_key: "R".into(),
        };
        let e = Event {
            action: Action::Trigger,
            problem: problem("k"),
        };
        let (_, body) = payload(&target, &e, "db");
        assert_eq!(body["routing_key"], "R");
        assert_eq!(body["event_action"], "trigger");
        assert_eq!(body["dedup_key"], "k");
        assert_eq!(body["payload"]["severity"], "error");
        assert_eq!(body["payload"]["source"], "db");
        let (_, body) = payload(
            &target,
            &Event {
                action: Action::Resolve,
                ..e
            },
            "db",
        );
        assert_eq!(body["event_action"], "resolve");
        assert!(
            body.get("payload").is_none(),
            "a resolve carries no payload"
        );
    }
}
