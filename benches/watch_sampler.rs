//! Benchmark: one `watch` sample against a plain read of pg_stat_statements, in the same run.
//!
//! A throwaway server with `pg_stat_statements.max = 10000` and 5,000 distinct statements in it
//! (50 tables, each read with 1 to 100 of its columns). Measured, median of the rounds:
//! - baseline: `SELECT * FROM pg_stat_statements` read whole by one session (what psql does);
//! - pgwarden: one sample of a running `watch` (snapshot, delta, judgement, index health,
//!   metrics), from its `pgwarden_sample_duration_seconds`;
//!
//! and the peak memory (VmHWM) of the `watch` process after the rounds.
//!
//! Run with `cargo bench --bench watch_sampler` (`PGWARDEN_BENCH_ROUNDS`, default 10).

use pgwarden::ephemeral::{EphemeralOptions, EphemeralServer};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TABLES: usize = 50;
const COLUMNS: usize = 100;

fn scrape(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::var("PGWARDEN_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let server = EphemeralServer::start_with(&EphemeralOptions {
        extra_conf: vec!["pg_stat_statements.max = 10000".into()],
        ..Default::default()
    })
    .expect("throwaway server");
    let target = server.create_database("bench").expect("database");
    let mut c = target.connect().expect("connect");
    c.batch_execute("CREATE EXTENSION pg_stat_statements")
        .unwrap();
    let columns: Vec<String> = (1..=COLUMNS).map(|i| format!("c{i} int")).collect();
    for t in 0..TABLES {
        c.batch_execute(&format!("CREATE TABLE t{t} ({})", columns.join(", ")))
            .unwrap();
    }
    c.batch_execute("SELECT pg_stat_statements_reset()")
        .unwrap();
    for t in 0..TABLES {
        for k in 1..=COLUMNS {
            let cols: Vec<String> = (1..=k).map(|i| format!("c{i}")).collect();
            c.batch_execute(&format!("SELECT {} FROM t{t}", cols.join(", ")))
                .unwrap();
        }
    }
    let count: i64 = c
        .query_one("SELECT count(*) FROM pg_stat_statements", &[])
        .unwrap()
        .get(0);

    // Baseline: the whole view, read as psql reads it.
    let mut baseline = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let rows = c.simple_query("SELECT * FROM pg_stat_statements").unwrap();
        assert!(rows.len() as i64 >= count);
        baseline.push(started.elapsed().as_secs_f64());
    }

    // pgwarden: a running watch, one sample a second.
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/pgwarden");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let policy = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(policy.path(), "version = 1\n[stats]\nmin_calls = 1\n").unwrap();
    let mut watch = Command::new(&bin)
        .args(["--database-url", &server.url("bench"), "--policy"])
        .arg(policy.path())
        .args(["watch", "--interval", "1s", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run target/release/pgwarden (cargo build --release first)");
    let mut samples = Vec::new();
    let mut last = 0.0;
    let deadline = Instant::now() + Duration::from_secs(60 + 3 * rounds as u64);
    while samples.len() < rounds && Instant::now() < deadline {
        // Keep every statement busy, so each interval judges thousands of them.
        for t in 0..TABLES {
            c.batch_execute(&format!("SELECT c1 FROM t{t}")).unwrap();
        }
        if let Some(text) = scrape(port)
            && let (Some(n), Some(d)) = (
                metric(&text, "pgwarden_samples_total"),
                metric(&text, "pgwarden_sample_duration_seconds"),
            )
            && n > last
        {
            if last > 0.0 {
                samples.push(d);
            }
            last = n;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", watch.id())).unwrap();
    let hwm_kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let _ = watch.kill();
    let _ = watch.wait();
    let (b, p) = (median(baseline), median(samples.clone()));
    println!(
        "pg_stat_statements entries: {count}; rounds: {} (pgwarden samples {})",
        rounds,
        samples.len()
    );
    println!("| | median time | ratio |");
    println!("|---|---|---|");
    println!(
        "| `SELECT * FROM pg_stat_statements` (baseline) | {:.1} ms | 1.00x |",
        b * 1000.0
    );
    println!(
        "| one `watch` sample (snapshot, delta, judgement, health, metrics) | {:.1} ms | {:.2}x |",
        p * 1000.0,
        p / b
    );
    println!("watch peak memory (VmHWM): {:.1} MB", hwm_kb / 1024.0);
}
