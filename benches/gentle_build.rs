//! Benchmark: p99 write latency while `pgwarden migrate apply` builds an index concurrently,
//! against the idle p99 in the same run (target: at most 3x idle), with the default
//! `--build-workers 0`, with it and `--build-wal-compression zstd`, and, for comparison,
//! `--build-workers 2` (the server's default parallelism). A writer inserts at a steady rate (`PGWARDEN_BENCH_WRITES`, default 300 per
//! second) into the table being indexed (`PGWARDEN_BENCH_ROWS`, default 3,000,000 rows).
//!
//! The reference is the same `CREATE INDEX CONCURRENTLY` sent by a plain session with
//! `max_parallel_maintenance_workers = 0`: what the server does without pgwarden, so the
//! figure shows what pgwarden adds and what no client setting can remove. Each mode builds
//! `PGWARDEN_BENCH_REPEAT` times (default 3; the index dropped between builds), and its p99
//! is over all the writes made during its builds. The throwaway server runs without fsync as
//! the tests' servers do; `PGWARDEN_BENCH_DURABLE=1` turns fsync, synchronous commits and full
//! page writes on, as on a production server. Run with `cargo bench --bench gentle_build`.

use pgwarden::ephemeral::{EphemeralOptions, EphemeralServer};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn p99(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64) * 0.99) as usize].max(0.0)
}

/// Each write's start and latency (ms).
type Sink = Arc<Mutex<Vec<(Instant, f64)>>>;

/// Inserts at `rate` per second until `stop`, recording each insert's latency (ms) into the
/// current phase's vector.
fn writer(url: String, rate: u64, stop: Arc<AtomicBool>, sink: Sink) {
    let target = pgwarden::db::ConnectionTarget::from_url(&url).expect("url");
    let mut c = target.connect().expect("connect");
    let insert = c
        .prepare("INSERT INTO w (a, b) VALUES ($1, 'written during the benchmark')")
        .expect("prepare");
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let mut next = Instant::now();
    let mut i: i32 = 0;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        c.execute(&insert, &[&i]).expect("insert");
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if let Ok(mut v) = sink.lock() {
            v.push((started, ms));
        }
        i = i.wrapping_add(1);
        next += period;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

/// One way of building the index: by a plain session, or by pgwarden with these options.
#[derive(Clone, Copy)]
enum Mode {
    Plain,
    Pgwarden(&'static [&'static str]),
}

impl Mode {
    fn label(self) -> String {
        match self {
            Mode::Plain => "PostgreSQL alone, 0 workers".into(),
            Mode::Pgwarden(args) => format!("pgwarden {}", args.join(" ")),
        }
    }
}

const BUILD: &str = "CREATE INDEX CONCURRENTLY w_ab ON w (a, b)";

/// Builds the index once in `mode`; the index and its history row are removed afterwards.
fn build(mode: Mode, url: &str, admin: &mut postgres::Client) -> Duration {
    let pgwarden = PathBuf::from(env!("CARGO_BIN_EXE_pgwarden"));
    let started = Instant::now();
    match mode {
        Mode::Plain => {
            // One statement per message: a multi-statement one is a transaction block.
            for sql in [
                "SET max_parallel_maintenance_workers = 0",
                BUILD,
                "RESET max_parallel_maintenance_workers",
            ] {
                admin.batch_execute(sql).expect("plain build");
            }
        }
        Mode::Pgwarden(args) => {
            let dir = tempfile::tempdir().expect("dir");
            std::fs::write(
                dir.path().join("V1__w_ab.sql"),
                format!("-- pgwarden:no-transaction\n{BUILD};\n"),
            )
            .expect("write migration");
            let out = Command::new(&pgwarden)
                .args(["-q", "--database-url", url, "--migrations"])
                .arg(dir.path())
                .args(["migrate", "apply"])
                .args(args)
                .output()
                .expect("run pgwarden");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let took = started.elapsed();
    admin
        .batch_execute("DROP INDEX w_ab")
        .expect("drop the index");
    if let Mode::Pgwarden(_) = mode {
        admin
            .batch_execute("DELETE FROM refinery_schema_history")
            .expect("forget the migration");
    }
    took
}

fn main() {
    let rows = env_or("PGWARDEN_BENCH_ROWS", 3_000_000);
    let rate = env_or("PGWARDEN_BENCH_WRITES", 300);
    let repeat = env_or("PGWARDEN_BENCH_REPEAT", 3).max(1);
    let durable = std::env::var("PGWARDEN_BENCH_DURABLE").is_ok_and(|v| v == "1");
    let mut options = EphemeralOptions::default();
    if durable {
        options.extra_conf = vec![
            "fsync = on".into(),
            "synchronous_commit = on".into(),
            "full_page_writes = on".into(),
        ];
    }
    let server = EphemeralServer::start_with(&options).expect("throwaway server");
    let target = server.create_database("gentle").expect("db");
    let mut admin = target.connect().expect("connect");
    admin
        .batch_execute(&format!(
            "CREATE TABLE w (id bigserial PRIMARY KEY, a int, b text);\n\
             INSERT INTO w (a, b) SELECT g % 100000, md5(g::text) FROM generate_series(1, {rows}) g;"
        ))
        .expect("load");
    admin.batch_execute("VACUUM ANALYZE w").expect("vacuum");
    admin.batch_execute("CHECKPOINT").expect("checkpoint");
    println!(
        "{rows} rows loaded; writer at {rate} inserts/s; {repeat} builds per mode; {} server",
        if durable {
            "durable (fsync on)"
        } else {
            "throwaway (fsync off)"
        }
    );
    let url = server.url("gentle");
    let stop = Arc::new(AtomicBool::new(false));
    let sink: Sink = Arc::new(Mutex::new(Vec::new()));
    let handle = {
        let (url, stop, sink) = (url.clone(), stop.clone(), sink.clone());
        std::thread::spawn(move || writer(url, rate, stop, sink))
    };
    let take = |sink: &Sink| std::mem::take(&mut *sink.lock().expect("lock"));
    let latencies = |v: Vec<(Instant, f64)>| v.into_iter().map(|(_, ms)| ms).collect::<Vec<_>>();
    std::thread::sleep(Duration::from_secs(3));
    take(&sink); // warm-up
    std::thread::sleep(Duration::from_secs(10));
    let idle = latencies(take(&sink));
    let idle_p99 = p99(idle.clone());
    let trace = std::env::var("PGWARDEN_BENCH_TRACE").is_ok_and(|v| v == "1");
    let modes = [
        Mode::Plain,
        Mode::Pgwarden(&["--build-workers", "0"]),
        Mode::Pgwarden(&["--build-workers", "0", "--build-wal-compression", "zstd"]),
        Mode::Pgwarden(&["--build-workers", "2"]),
    ];
    let mut results: Vec<(Mode, Vec<Duration>, Vec<f64>)> =
        modes.iter().map(|m| (*m, Vec::new(), Vec::new())).collect();
    // Rounds interleave the modes, so a slow spell of the machine falls on all of them.
    for _ in 0..repeat {
        for (mode, took, during) in results.iter_mut() {
            take(&sink);
            let started = Instant::now();
            took.push(build(*mode, &url, &mut admin));
            let writes = take(&sink);
            if trace {
                // PGWARDEN_BENCH_TRACE=1: when, in the build, the writes over twice the idle p99 fell.
                let slow: Vec<String> = writes
                    .iter()
                    .filter(|(_, ms)| *ms > 2.0 * idle_p99)
                    .map(|(at, ms)| {
                        let s = at.saturating_duration_since(started).as_secs_f64();
                        format!("{s:.2}s:{ms:.1}")
                    })
                    .collect();
                println!(
                    "{}: slow writes (s into the build: ms) {}",
                    mode.label(),
                    slow.join(" ")
                );
            }
            during.extend(latencies(writes));
            std::thread::sleep(Duration::from_secs(3));
        }
    }
    stop.store(true, Ordering::Relaxed);
    handle.join().expect("writer");
    println!("idle: p99 {idle_p99:.2} ms over {} writes", idle.len());
    for (mode, took, during) in results {
        let p = p99(during.clone());
        let secs: Vec<String> = took
            .iter()
            .map(|t| format!("{:.1}", t.as_secs_f64()))
            .collect();
        println!(
            "{:<66} builds {} s, p99 {p:.2} ms over {} writes, {:.2}x idle",
            mode.label(),
            secs.join(" / "),
            during.len(),
            p / idle_p99
        );
    }
}
