//! Benchmark: `pgwarden plan` on a database with 10,000 tables and 30,000 secondary indexes,
//! against `pg_dump --schema-only` on the same database as the reference, in the same run.
//!
//! The migrations directory is empty, so every index is reported (the worst case: 30,000
//! findings and changes). The shadow is an empty database on the same server, so the time is
//! the catalog read, the comparison and the JSON output. Peak memory from `/usr/bin/time`.
//! Run with `cargo bench --bench plan_scale` (`PGWARDEN_BENCH_TABLES`, default 10000).

use pgwarden::ephemeral::{EphemeralOptions, EphemeralServer, find_bindir};
use std::process::{Command, Stdio};
use std::time::Instant;

fn main() {
    let tables: usize = std::env::var("PGWARDEN_BENCH_TABLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let server = EphemeralServer::start_with(&EphemeralOptions {
        // pg_dump locks every table in one transaction.
        extra_conf: vec!["max_locks_per_transaction = 512".into()],
        ..Default::default()
    })
    .expect("throwaway server");
    let target = server.create_database("scale").expect("db");
    server.create_database("shadow").expect("shadow");
    let mut client = target.connect().expect("connect");
    let started = Instant::now();
    for chunk in (1..=tables).collect::<Vec<_>>().chunks(500) {
        let (lo, hi) = (chunk[0], chunk[chunk.len() - 1]);
        client
            .batch_execute(&format!(
                "DO $$ BEGIN FOR i IN {lo}..{hi} LOOP \
                   EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, a int, b int, c text)', i); \
                   EXECUTE format('CREATE INDEX t%s_a ON t%s (a)', i, i); \
                   EXECUTE format('CREATE INDEX t%s_b_c ON t%s (b, c)', i, i); \
                   EXECUTE format('CREATE INDEX t%s_c ON t%s (c) WHERE b > 0', i, i); \
                 END LOOP; END $$"
            ))
            .expect("create tables");
    }
    drop(client);
    println!(
        "{tables} tables, {} secondary indexes (+ {tables} primary keys) created in {:.0} s",
        tables * 3,
        started.elapsed().as_secs_f64()
    );
    let empty = tempfile::tempdir().expect("temp dir");
    let time = |cmd: &mut Command| -> (f64, u64) {
        let started = Instant::now();
        let out = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run");
        let secs = started.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let kb = stderr
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0);
        assert!(matches!(out.status.code(), Some(0 | 1)), "failed: {stderr}");
        (secs, kb)
    };
    let pgwarden = env!("CARGO_BIN_EXE_pgwarden");
    let pg_dump = find_bindir().expect("binaries").join("pg_dump");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        ours.push(time(
            Command::new("/usr/bin/time")
                .args([
                    "-f",
                    "%M",
                    pgwarden,
                    "-q",
                    "--format",
                    "json",
                    "--database-url",
                    &server.url("scale"),
                ])
                .arg("--migrations")
                .arg(empty.path())
                .args([
                    "--policy",
                    "/dev/null",
                    "plan",
                    "--shadow-url",
                    &server.url("shadow"),
                ]),
        ));
        theirs.push(time(
            Command::new("/usr/bin/time")
                .args(["-f", "%M"])
                .arg(&pg_dump)
                .args(["--schema-only", "-d", &server.url("scale")]),
        ));
    }
    let median = |v: &mut Vec<(f64, u64)>| {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v[v.len() / 2]
    };
    let (a, b) = (median(&mut ours), median(&mut theirs));
    println!(
        "pgwarden plan: median {:.2} s, peak memory {:.0} MB (target < 2 s, < 100 MB)",
        a.0,
        a.1 as f64 / 1024.0
    );
    println!(
        "pg_dump --schema-only: median {:.2} s, peak memory {:.0} MB",
        b.0,
        b.1 as f64 / 1024.0
    );
    println!("ratio pgwarden/pg_dump: {:.2}x", a.0 / b.0);
}
