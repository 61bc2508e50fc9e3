//! `pgwarden watch` against real PostgreSQL with pg_stat_statements preloaded: policy queries
//! found by their query identifiers, `--once`, and a running watch whose Prometheus metrics
//! turn a statement over budget when its index goes and back when it returns.

use crate::common::*;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const SLOW: &str = "SELECT count(*) FROM items WHERE owner = $1";

/// A table whose lookup by owner is a sequential scan until `items_owner` exists.
fn items_db(label: &str) -> TestDb {
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
fn policy(db: &TestDb) -> tempfile::NamedTempFile {
    let budget = half_of_measured_ms(db, "SELECT count(*) FROM items WHERE owner = 7");
    policy_file(&format!(
        "version = 1\n[budget]\nmean_ms = {budget}\n[stats]\nmin_calls = 1000000\n\
         [[query]]\nname = \"by_owner\"\nsql = \"{SLOW}\"\nparams = [[7]]\n\
         [[query]]\nname = \"by_id\"\nsql = \"SELECT note FROM items WHERE id = $1\"\nparams = [[7]]\n\
         [[query]]\nname = \"never_run\"\nsql = \"SELECT note FROM items WHERE note = $1\"\nparams = [[\"x\"]]\n"
    ))
}

/// Runs the lookups as an application does: with parameters (the extended protocol).
fn run_lookups(db: &TestDb, times: usize) {
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
    let policy = policy(&db);
    run_lookups(&db, 5);
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
    assert_eq!(
        report["last"]["unmatched"],
        serde_json::json!(["never_run"])
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
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scrape(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

/// The value of `metric` (its whole series name with labels) in the exposition.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Waits until `series` has `want`, scraping; returns the samples taken meanwhile.
fn wait_for(port: u16, series: &str, want: f64, load: &dyn Fn()) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let start = scrape(port)
        .and_then(|t| value(&t, "pgwarden_samples_total"))
        .unwrap_or(0.0);
    let mut last = String::new();
    loop {
        load();
        if let Some(text) = scrape(port) {
            if value(&text, series) == Some(want) {
                return value(&text, "pgwarden_samples_total").unwrap_or(0.0) - start;
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
    let policy = policy(&db);
    let port = free_port();
    let dir = migrations_dir(&[]);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("pgwarden"))
        .args(["--database-url", &db.url, "--migrations"])
        .arg(dir.path())
        .arg("--policy")
        .arg(policy.path())
        .args(["watch", "--interval", "1s", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let load = || run_lookups(&db, 3);
    let over = "pgwarden_query_over_budget{query=\"by_owner\"}";
    // The first sample only sets the baseline; the next interval's figures are over.
    let samples = wait_for(port, over, 1.0, &load);
    assert!(samples <= 3.0, "over budget after {samples} samples");
    let text = scrape(port).unwrap();
    assert_eq!(value(&text, "pgwarden_up"), Some(1.0), "{text}");
    assert_eq!(
        value(&text, "pgwarden_query_over_budget{query=\"by_id\"}"),
        Some(0.0),
        "{text}"
    );
    assert!(
        value(&text, "pgwarden_query_calls_total{query=\"by_owner\"}").unwrap() >= 3.0,
        "{text}"
    );
    assert!(
        value(&text, "pgwarden_query_budget_seconds{query=\"by_owner\"}").unwrap() > 0.0,
        "{text}"
    );

    db.client()
        .batch_execute("CREATE INDEX items_owner ON items (owner)")
        .unwrap();
    let samples = wait_for(port, over, 0.0, &load);
    assert!(samples <= 3.0, "back within budget after {samples} samples");

    // SIGTERM: a clean stop, exit 0.
    let stopped = Instant::now();
    unsafe_kill(child.id(), "TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(stopped.elapsed() < Duration::from_secs(10));
}

fn unsafe_kill(pid: u32, signal: &str) {
    std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
}
