//! `pgwarden watch` against real PostgreSQL with pg_stat_statements preloaded: policy queries
//! found by their query identifiers, `--once`, and a running watch whose Prometheus metrics
//! turn a statement over budget when its index goes and back when it returns.

use crate::common::*;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const SLOW: &str = "SELECT count(*) FROM items WHERE owner = $1";

/// A table whose lookup by owner is a sequential scan until `items_owner` exists.
pub fn items_db(label: &str) -> TestDb {
    let db = TestDb::new(label);
    db.client()
        .batch_execute(
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; \
             CREATE TABLE items (id int PRIMARY KEY, owner int, note text); \
             INSERT INTO items SELECT g, g % 1000, 'n' FROM generate_series(1, 200000) g; \
             ANALYZE items;",
        )
        .unwrap();
    db
}

/// A policy naming the slow lookup and a primary-key lookup, with a budget of half the
/// lookup's unindexed time on this machine.
pub fn policy(db: &TestDb, extra: &str) -> tempfile::NamedTempFile {
    let budget = half_of_measured_ms(db, "SELECT count(*) FROM items WHERE owner = 7");
    policy_file(&format!(
        "version = 1\n{extra}[budget]\nmean_ms = {budget}\n[stats]\nmin_calls = 1000000\n\
         [[query]]\nname = \"by_owner\"\nsql = \"{SLOW}\"\nparams = [[7]]\n\
         [[query]]\nname = \"by_id\"\nsql = \"SELECT note FROM items WHERE id = $1\"\nparams = [[7]]\n\
         [[query]]\nname = \"never_run\"\nsql = \"SELECT note FROM items WHERE note = $1\"\nparams = [[\"x\"]]\n"
    ))
}

/// Runs the lookups as an application does: with parameters (the extended protocol).
pub fn run_lookups(db: &TestDb, times: usize) {
    let mut c = db.client();
    for i in 0..times {
        let owner = (i % 50) as i32;
        c.query(SLOW, &[&owner]).unwrap();
        c.query("SELECT note FROM items WHERE id = $1", &[&(i as i32 + 1)])
            .unwrap();
    }
}

#[test]
fn once_judges_the_policy_queries_found_by_their_identifiers() {
    let db = items_db("watch_once");
    let policy = policy(&db, "");
    run_lookups(&db, 5);
    db.client()
        .batch_execute(
            "CREATE INDEX items_note_a ON items (note); CREATE INDEX items_note_b ON items (note);",
        )
        .unwrap();
    let dir = migrations_dir(&[]);
    let out = db
        .pgwarden(dir.path())
        .arg("--policy")
        .arg(policy.path())
        .args(["--format", "json", "watch", "--once"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    let statements = report["last"]["statements"].as_array().unwrap();
    let find = |name: &str| {
        statements
            .iter()
            .find(|s| s["label"] == name)
            .unwrap_or_else(|| panic!("{name} in {report:#}"))
    };
    // The five runs here; the budget's measurement (EXPLAIN ANALYZE, nested) is not a call.
    assert_eq!(find("by_owner")["calls"], 5, "{report:#}");
    assert_eq!(find("by_owner")["over_budget"], true);
    assert_eq!(find("by_id")["calls"], 5, "{report:#}");
    assert_eq!(find("by_id")["over_budget"], false);
    assert!(
        find("by_id")["plan"]
            .as_str()
            .unwrap()
            .contains("items_pkey"),
        "{report:#}"
    );
    assert_eq!(
        report["last"]["unmatched"],
        serde_json::json!(["never_run"])
    );
    // plan's findings that need no shadow, from the live catalog.
    let findings = report["last"]["index_findings"].as_array().unwrap();
    assert!(
        findings.iter().any(|f| f["rule"] == "duplicate-index"),
        "{findings:#?}"
    );
    // Only the policy's statements: everything else is under min_calls.
    assert_eq!(statements.len(), 2, "{report:#}");

    let human = db
        .pgwarden(dir.path())
        .arg("--policy")
        .arg(policy.path())
        .args(["watch", "--once"])
        .output()
        .unwrap();
    let text = stdout(&human);
    assert!(text.contains("by_owner") && text.contains("OVER"), "{text}");
    assert!(text.contains("query never_run has no entry"), "{text}");

    // A policy query that does not plan here is left out and said; the others are watched.
    let broken = policy_file(
        "version = 1\n\
         [[query]]\nname = \"broken\"\nsql = \"SELECT nope FROM items WHERE id = $1\"\nparams = [[1]]\n\
         [[query]]\nname = \"by_id\"\nsql = \"SELECT note FROM items WHERE id = $1\"\nparams = [[7]]\n",
    );
    let out = db
        .pgwarden(dir.path())
        .arg("--policy")
        .arg(broken.path())
        .args(["--format", "json", "watch", "--once"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(2), "{}", stderr(&out));
    let report = json(&out);
    assert!(
        report["last"]["match_problems"][0]
            .as_str()
            .unwrap()
            .starts_with("query `broken`"),
        "{report:#}"
    );
    assert!(
        report["last"]["statements"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["label"] == "by_id"),
        "{report:#}"
    );

    // With every statement judged, pgwarden's own reads (run twice above) are still left out.
    let all = policy_file("version = 1\n[stats]\nmin_calls = 1\n");
    let out = db
        .pgwarden(dir.path())
        .arg("--policy")
        .arg(all.path())
        .args(["--format", "json", "watch", "--once"])
        .output()
        .unwrap();
    let report = json(&out);
    let texts: Vec<&str> = report["last"]["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert!(texts.iter().any(|t| t.contains("FROM items")), "{texts:#?}");
    for own in [
        "pg_index",
        "pg_locks",
        "pg_stat_progress_create_index",
        "pg_stat_statements",
    ] {
        assert!(
            !texts.iter().any(|t| t.contains(own)),
            "{own} in {texts:#?}"
        );
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn scrape(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

/// The value of `metric` (its whole series name with labels) in the exposition.
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Waits until `series` has `want`, scraping; returns the samples taken meanwhile.
fn wait_for(port: u16, series: &str, want: f64, load: &dyn Fn()) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let start = scrape(port)
        .and_then(|t| value(&t, "pgwarden_samples_total{server=\"primary\"}"))
        .unwrap_or(0.0);
    let mut last = String::new();
    loop {
        load();
        if let Some(text) = scrape(port) {
            if value(&text, series) == Some(want) {
                return value(&text, "pgwarden_samples_total{server=\"primary\"}").unwrap_or(0.0)
                    - start;
            }
            last = text;
        }
        assert!(
            Instant::now() < deadline,
            "{series} never became {want}; last scrape:\n{last}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_running_watch_turns_over_budget_on_and_off_with_the_index() {
    let db = items_db("watch_live");
    let (hook_port, received) = receiver();
    let policy = policy(
        &db,
        &format!(
            "[[alert]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{hook_port}/hook\"\n\
             [[alert]]\nkind = \"pagerduty\"\nrouting_key_env = \"PGW_TEST_PD_KEY\"\n\
             url = \"http://127.0.0.1:{hook_port}/v2/enqueue\"\n"
        ),
    );
    let port = free_port();
    let dir = migrations_dir(&[]);
    let mut child = spawn_watch(
        &db.url,
        dir.path(),
        policy.path(),
        port,
        &[("PGW_TEST_PD_KEY", "test-routing-key")],
    );
    let load = || run_lookups(&db, 3);
    let over = "pgwarden_query_over_budget{server=\"primary\",query=\"by_owner\"}";
    // The first sample only sets the baseline; the next interval's figures are over.
    let samples = wait_for(port, over, 1.0, &load);
    assert!(samples <= 3.0, "over budget after {samples} samples");
    let text = scrape(port).unwrap();
    assert_eq!(
        value(&text, "pgwarden_up{server=\"primary\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "pgwarden_query_over_budget{server=\"primary\",query=\"by_id\"}"
        ),
        Some(0.0),
        "{text}"
    );
    assert!(
        value(
            &text,
            "pgwarden_query_calls_total{server=\"primary\",query=\"by_owner\"}"
        )
        .unwrap()
            >= 3.0,
        "{text}"
    );
    assert!(
        value(
            &text,
            "pgwarden_query_budget_seconds{server=\"primary\",query=\"by_owner\"}"
        )
        .unwrap()
            > 0.0,
        "{text}"
    );

    db.client()
        .batch_execute("CREATE INDEX items_owner ON items (owner)")
        .unwrap();
    let samples = wait_for(port, over, 0.0, &load);
    assert!(samples <= 3.0, "back within budget after {samples} samples");

    // One incident: triggered once while it lasted, resolved with the same dedup_key, on both
    // sinks; PagerDuty's body as the Events API v2 wants it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let events = loop {
        let got = received.lock().unwrap().clone();
        let resolved = |path: &str| {
            got.iter().any(|(p, b)| {
                p == path
                    && (b["event"] == "resolve" || b["event_action"] == "resolve")
                    && b["dedup_key"]
                        .as_str()
                        .unwrap_or("")
                        .ends_with("/over_budget/by_owner")
            })
        };
        if resolved("/hook") && resolved("/v2/enqueue") {
            break got;
        }
        assert!(Instant::now() < deadline, "alerts received: {got:#?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let for_key = |path: &str| -> Vec<&serde_json::Value> {
        events
            .iter()
            .filter(|(p, b)| {
                p == path
                    && b["dedup_key"]
                        .as_str()
                        .unwrap_or("")
                        .ends_with("/over_budget/by_owner")
            })
            .map(|(_, b)| b)
            .collect()
    };
    let hook = for_key("/hook");
    assert_eq!(hook.len(), 2, "one trigger, one resolve: {hook:#?}");
    assert_eq!(hook[0]["event"], "trigger");
    assert_eq!(hook[1]["event"], "resolve");
    assert_eq!(hook[0]["dedup_key"], hook[1]["dedup_key"]);
    assert_eq!(hook[0]["details"]["query"], "by_owner");
    // The plan it had then: the generic plan, read without running the query.
    assert!(
        hook[0]["details"]["plan"]
            .as_str()
            .unwrap()
            .contains("Seq Scan on items"),
        "{hook:#?}"
    );
    let pd = for_key("/v2/enqueue");
    assert_eq!(pd.len(), 2, "{pd:#?}");
    assert_eq!(pd[0]["routing_key"], "test-routing-key");
    assert_eq!(pd[0]["event_action"], "trigger");
    assert_eq!(
        pd[0]["payload"]["severity"], "warning",
        "as the shipped rule grades it"
    );
    assert!(
        pd[0]["payload"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("by_owner: ")
    );
    assert!(
        pd[0]["payload"]["source"]
            .as_str()
            .unwrap()
            .contains(&db.name)
    );
    assert_eq!(pd[1]["event_action"], "resolve");
    assert_eq!(pd[1]["dedup_key"], pd[0]["dedup_key"]);

    // Memory stays within the stated bound (50 MB).
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let peak_kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(peak_kb < 50.0 * 1024.0, "peak {peak_kb} kB");

    // SIGTERM: a clean stop, exit 0.
    let stopped = Instant::now();
    unsafe_kill(child.id(), "TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(stopped.elapsed() < Duration::from_secs(10));
}

pub fn unsafe_kill(pid: u32, signal: &str) {
    std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
}

pub type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>;

/// A local HTTP receiver for the alert sinks: records each POST's path and JSON body, answers
/// 202.
pub fn receiver() -> (u16, Received) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Received = Default::default();
    let store = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut data = Vec::new();
            let mut buf = [0u8; 4096];
            let (head, body) = loop {
                let n = stream.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break (String::new(), Vec::new());
                }
                data.extend_from_slice(&buf[..n]);
                if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&data[..end]).to_string();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    let mut body = data[end + 4..].to_vec();
                    while body.len() < length {
                        let n = stream.read(&mut buf).unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        body.extend_from_slice(&buf[..n]);
                    }
                    break (head, body);
                }
            };
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            if let Ok(v) = serde_json::from_slice(&body) {
                store.lock().unwrap().push((path, v));
            }
            let _ = stream.write_all(
                b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (port, got)
}

#[test]
fn a_pagerduty_sink_without_its_key_is_refused_before_anything_runs() {
    let policy = policy_file(
        "version = 1\n[[alert]]\nkind = \"pagerduty\"\nrouting_key_env = \"PGW_TEST_NO_SUCH_KEY\"\n",
    );
    let out = pgwarden()
        .args([
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
            "--policy",
        ])
        .arg(policy.path())
        .args(["watch", "--interval", "1s"])
        .env_remove("PGW_TEST_NO_SUCH_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("PGW_TEST_NO_SUCH_KEY (routing_key_env) is not set"),
        "{}",
        stderr(&out)
    );
    // A routing key written into the policy is refused too.
    let policy = policy_file(
        "version = 1\n[[alert]]\nkind = \"pagerduty\"\nrouting_key_env = \"R0ut1ng key!\"\n",
    );
    let out = pgwarden()
        .args([
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
            "--policy",
        ])
        .arg(policy.path())
        .args(["watch", "--once"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("must name an environment variable"),
        "{}",
        stderr(&out)
    );
}

/// A sink that accepts connections and never answers.
fn hanging_receiver() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    port
}

fn events_for(received: &Received, suffix: &str) -> Vec<String> {
    received
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, b)| p == "/hook" && b["dedup_key"].as_str().unwrap_or("").ends_with(suffix))
        .map(|(_, b)| b["event"].as_str().unwrap_or("").to_string())
        .collect()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_outage_is_one_alert_and_a_hanging_sink_never_delays_samples() {
    let db = items_db("watch_outage");
    let (hook_port, received) = receiver();
    let hang_port = hanging_receiver();
    let policy = policy(
        &db,
        &format!(
            "[watch]\ndown_alert = \"2s\"\n\
             [[alert]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{hang_port}/hang\"\n\
             [[alert]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{hook_port}/hook\"\n"
        ),
    );
    let port = free_port();
    let dir = migrations_dir(&[]);
    let mut child = spawn_watch(&db.url, dir.path(), policy.path(), port, &[]);
    let samples = || {
        scrape(port)
            .and_then(|t| value(&t, "pgwarden_samples_total{server=\"primary\"}"))
            .unwrap_or(0.0)
    };
    // An incident goes to both sinks; the hanging one holds its own thread only.
    wait_until("an over-budget alert", || {
        run_lookups(&db, 3);
        events_for(&received, "/over_budget/by_owner") == ["trigger"]
    });
    let before = samples();
    let started = Instant::now();
    wait_until("three more samples", || samples() >= before + 3.0);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "samples went on at their interval ({:?} for 3)",
        started.elapsed()
    );

    // The database goes away: pgwarden_up 0, one alert after the grace period.
    let admin = || {
        pgwarden::db::ConnectionTarget::from_url(&server().url("postgres"))
            .unwrap()
            .connect()
            .unwrap()
    };
    admin()
        .batch_execute(&format!(
            "ALTER DATABASE {0} ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{0}';",
            db.name
        ))
        .unwrap();
    wait_until("pgwarden_up 0", || {
        scrape(port).and_then(|t| value(&t, "pgwarden_up{server=\"primary\"}")) == Some(0.0)
    });
    wait_until("an outage alert", || {
        events_for(&received, "/down/database") == ["trigger"]
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        events_for(&received, "/down/database"),
        ["trigger"],
        "one alert, not one per attempt"
    );
    // Back: pgwarden_up 1 and the outage resolved.
    admin()
        .batch_execute(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS true",
            db.name
        ))
        .unwrap();
    wait_until("pgwarden_up 1", || {
        scrape(port).and_then(|t| value(&t, "pgwarden_up{server=\"primary\"}")) == Some(1.0)
    });
    wait_until("the outage resolved", || {
        events_for(&received, "/down/database") == ["trigger", "resolve"]
    });
    unsafe_kill(child.id(), "TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_stats_reset_and_evictions_raise_and_clear_nothing() {
    // pg_stat_statements is cluster-wide and its size is fixed at start: a server of its own,
    // holding at most 100 statements.
    let server =
        pgwarden::ephemeral::EphemeralServer::start_with(&pgwarden::ephemeral::EphemeralOptions {
            extra_conf: vec!["pg_stat_statements.max = 100".into()],
            ..Default::default()
        })
        .unwrap();
    let target = server.create_database("watch_reset").unwrap();
    let url = server.url("watch_reset");
    let mut c = target.connect().unwrap();
    c.batch_execute(
        "CREATE EXTENSION pg_stat_statements; \
         CREATE TABLE items (id int PRIMARY KEY, owner int, note text); \
         INSERT INTO items SELECT g, g % 1000, 'n' FROM generate_series(1, 200000) g; \
         ANALYZE items; \
         CREATE TABLE wide (c0 int, c1 int, c2 int, c3 int, c4 int, c5 int, c6 int, c7 int, c8 int, c9 int);",
    )
    .unwrap();
    // Half the lookup's fastest unindexed time here: over budget all along (half the mean was
    // not: a slow spell while measuring put the budget within reach, and the alert flapped).
    let mut times = Vec::new();
    for _ in 0..6 {
        let started = Instant::now();
        c.query(SLOW, &[&7i32]).unwrap();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let budget = times[1..].iter().copied().fold(f64::INFINITY, f64::min) / 2.0;
    let (hook_port, received) = receiver();
    let policy = policy_file(&format!(
        "version = 1\n[budget]\nmean_ms = {budget}\n\
         [[alert]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{hook_port}/hook\"\n\
         [[query]]\nname = \"by_owner\"\nsql = \"{SLOW}\"\nparams = [[7]]\n"
    ));
    let port = free_port();
    let dir = migrations_dir(&[]);
    let mut child = spawn_watch(&url, dir.path(), policy.path(), port, &[]);
    let load = |c: &mut postgres::Client| {
        for i in 0..3 {
            c.query(SLOW, &[&i]).unwrap();
        }
    };
    wait_until("an over-budget alert", || {
        load(&mut c);
        events_for(&received, "/over_budget/by_owner") == ["trigger"]
    });
    let samples = || {
        scrape(port)
            .and_then(|t| value(&t, "pgwarden_samples_total{server=\"primary\"}"))
            .unwrap_or(0.0)
    };
    // A stats reset, then a flood of 300 distinct statements that evicts entries (by_owner's
    // among them), while the lookup stays slow: the one incident stays open, nothing else.
    c.batch_execute("SELECT pg_stat_statements_reset()")
        .unwrap();
    for k in 0..30 {
        for n in 1..=10 {
            let cols: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
            c.batch_execute(&format!(
                "SELECT {} FROM wide WHERE c0 = {k}",
                cols.join(", ")
            ))
            .unwrap();
            c.batch_execute(&format!(
                "SELECT {} FROM wide WHERE c1 = {k} ORDER BY c2",
                cols.join(", ")
            ))
            .unwrap();
        }
    }
    let before = samples();
    wait_until("five more samples", || {
        load(&mut c);
        samples() >= before + 5.0
    });
    let got = received.lock().unwrap().clone();
    let keys: Vec<(String, String)> = got
        .iter()
        .map(|(_, b)| {
            (
                b["event"].as_str().unwrap_or("").to_string(),
                b["dedup_key"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(keys.len(), 1, "one trigger, nothing more: {keys:#?}");
    assert!(keys[0].1.ends_with("/over_budget/by_owner"));
    unsafe_kill(child.id(), "TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// `pgwarden watch --interval 1s --listen 127.0.0.1:PORT` on `url` with `policy`, reaped when
/// the test ends; `env` sets extra environment variables (a routing key).
pub fn spawn_watch(
    url: &str,
    dir: &std::path::Path,
    policy: &std::path::Path,
    port: u16,
    env: &[(&str, &str)],
) -> crate::common::Reaped {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("pgwarden"));
    cmd.args(["--database-url", url, "--migrations"])
        .arg(dir)
        .arg("--policy")
        .arg(policy)
        .args(["watch", "--interval", "1s", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    crate::common::Reaped(cmd.spawn().unwrap())
}
