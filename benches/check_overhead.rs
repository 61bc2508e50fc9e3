//! Benchmark: `pgwarden check` against psql running the same queries, in the same run.
//!
//! On a throwaway server with the seed schema (no secondary indexes) and generated data:
//! - explain mode, 200 workload queries: pgwarden against psql running the same 200
//!   `EXPLAIN (FORMAT JSON)` statements in one session;
//! - analyze mode, 20 queries with 1 warm-up and 5 measured runs each: pgwarden against psql
//!   executing each query 6 times (the queries' own execution).
//!
//! Run with `cargo bench --bench check_overhead` (`PGWARDEN_BENCH_SCALE`, default 0.05;
//! `PGWARDEN_BENCH_ROUNDS`, default 5).

use pgwarden::ephemeral::{EphemeralServer, find_bindir};
use pgwarden::policy::{ParamValue, bind_literals};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// (sql, parameter values for variant i)
fn workload(i: usize) -> (&'static str, Vec<ParamValue>) {
    use ParamValue::{Array, Integer, Text};
    let statuses = ["draft", "cancelled", "open", "completed", "in_progress"];
    let skills = ["haskell", "elixir", "rust", "go", "scala", "swift"];
    let pay = ["failed", "refunded", "pending", "processing"];
    match i % 7 {
        0 => (
            "SELECT count(*) FROM projects WHERE status = $1",
            vec![Text(statuses[i % 5].into())],
        ),
        1 => (
            "SELECT id, title, status, due_date FROM tasks WHERE developer_id = $1 ORDER BY due_date",
            vec![Integer(1 + (i as i64 * 7919) % 60_000)],
        ),
        2 => (
            "SELECT id, display_name, hourly_rate FROM users WHERE skills @> $1",
            vec![Array(vec![Text(skills[i % 6].into())])],
        ),
        3 => (
            "SELECT id, amount, created_at FROM payments WHERE status = $1 AND created_at >= $2 AND created_at < $3 ORDER BY created_at LIMIT 100",
            vec![
                Text(pay[i % 4].into()),
                Text("2026-05-01".into()),
                Text("2026-11-01".into()),
            ],
        ),
        4 => (
            "SELECT id, email, display_name FROM users WHERE id = $1",
            vec![Integer(1 + i as i64 * 13)],
        ),
        5 => (
            "SELECT p.id, p.title, u.display_name FROM projects p JOIN users u ON u.id = p.client_id WHERE p.id = $1",
            vec![Integer(1 + i as i64 * 17)],
        ),
        _ => (
            "SELECT id, amount FROM payments WHERE id > $1 ORDER BY id LIMIT 50",
            vec![Integer(i as i64 * 100)],
        ),
    }
}

fn toml_value(v: &ParamValue) -> String {
    match v {
        ParamValue::Text(s) => format!("{s:?}"),
        ParamValue::Integer(i) => i.to_string(),
        ParamValue::Array(items) => format!(
            "[{}]",
            items.iter().map(toml_value).collect::<Vec<_>>().join(", ")
        ),
        other => format!("{other:?}"),
    }
}

/// A policy with `n` queries, and the psql script of the same statements.
fn write_case(dir: &Path, name: &str, n: usize, analyze: bool) -> (PathBuf, PathBuf) {
    let mut policy = String::from(
        "version = 1\n[budget]\nmean_ms = 100\nmax_cost = 1e12\n[check]\nwarmup = 1\nruns = 5\n",
    );
    let mut script = String::new();
    for i in 0..n {
        let (sql, params) = workload(i);
        let values: Vec<String> = params.iter().map(toml_value).collect();
        let _ = write!(
            policy,
            "\n[[query]]\nname = \"q{i:03}\"\nsql = {sql:?}\nparams = [[{}]]\n",
            values.join(", ")
        );
        let bound = bind_literals(sql, &params).expect("bind");
        if analyze {
            for _ in 0..6 {
                let _ = writeln!(script, "{bound};");
            }
        } else {
            let _ = writeln!(script, "EXPLAIN (FORMAT JSON) {bound};");
        }
    }
    let (p, s) = (
        dir.join(format!("{name}.toml")),
        dir.join(format!("{name}.sql")),
    );
    std::fs::write(&p, policy).expect("write policy");
    std::fs::write(&s, script).expect("write script");
    (p, s)
}

fn time(cmd: &mut Command) -> Duration {
    let started = Instant::now();
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    let took = started.elapsed();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let scale = std::env::var("PGWARDEN_BENCH_SCALE").unwrap_or_else(|_| "0.05".into());
    let rounds: usize = std::env::var("PGWARDEN_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let pgwarden = PathBuf::from(env!("CARGO_BIN_EXE_pgwarden"));
    let psql = find_bindir().expect("server binaries").join("psql");
    let server = EphemeralServer::start().expect("throwaway server");
    server.create_database("bench").expect("create db");
    let url = server.url("bench");
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let run = |args: &[&str]| {
        time(
            Command::new(&pgwarden)
                .args(["-q", "--database-url", &url, "--migrations"])
                .arg(&migrations)
                .args(args),
        )
    };
    run(&["migrate", "apply", "--target", "1"]);
    run(&["data", "generate", "--scale", &scale]);
    let dir = tempfile::tempdir().expect("temp dir");
    println!(
        "seed schema without secondary indexes, data scale {scale}, {rounds} rounds after a warm-up"
    );
    for (name, n, analyze) in [("explain", 200, false), ("analyze", 20, true)] {
        let (policy, script) = write_case(dir.path(), name, n, analyze);
        let policy = policy.to_str().expect("utf-8 path");
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for round in 0..=rounds {
            let a = run(&["--policy", policy, "check", "--mode", name]).as_secs_f64();
            let b = time(
                Command::new(&psql)
                    .args(["-X", "-q", "-d", &url, "-f"])
                    .arg(&script),
            )
            .as_secs_f64();
            if round > 0 {
                ours.push(a);
                theirs.push(b);
            }
        }
        let paired: Vec<f64> = ours.iter().zip(&theirs).map(|(a, b)| a / b).collect();
        println!(
            "{name} mode, {n} queries: pgwarden median {:.3}s, psql median {:.3}s, ratio of medians {:.3}x, median paired ratio {:.3}x (target <= 1.2x)",
            median(ours.clone()),
            median(theirs.clone()),
            median(ours) / median(theirs),
            median(paired)
        );
    }
}
