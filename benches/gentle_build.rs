//! Benchmark: p99 write latency while `pgwarden migrate apply` builds an index concurrently,
//! against the idle p99 in the same run (target: at most 3x idle), with the default
//! `--build-workers 0` and, for comparison, `--build-workers 2` (the server's default
//! parallelism). A writer inserts at a steady rate (`PGWARDEN_BENCH_WRITES`, default 300 per
//! second) into the table being indexed (`PGWARDEN_BENCH_ROWS`, default 3,000,000 rows).
//! Run with `cargo bench --bench gentle_build`.

use pgwarden::ephemeral::EphemeralServer;
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

/// Inserts at `rate` per second until `stop`, recording each insert's latency (ms) into the
/// current phase's vector.
fn writer(url: String, rate: u64, stop: Arc<AtomicBool>, sink: Arc<Mutex<Vec<f64>>>) {
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
            v.push(ms);
        }
        i = i.wrapping_add(1);
        next += period;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

fn main() {
    let rows = env_or("PGWARDEN_BENCH_ROWS", 3_000_000);
    let rate = env_or("PGWARDEN_BENCH_WRITES", 300);
    let server = EphemeralServer::start().expect("throwaway server");
    let target = server.create_database("gentle").expect("db");
    let mut c = target.connect().expect("connect");
    c.batch_execute(&format!(
        "CREATE TABLE w (id bigserial PRIMARY KEY, a int, b text);\n\
         INSERT INTO w (a, b) SELECT g % 100000, md5(g::text) FROM generate_series(1, {rows}) g;"
    ))
    .expect("load");
    c.batch_execute("VACUUM ANALYZE w").expect("vacuum");
    println!("{rows} rows loaded; writer at {rate} inserts/s");
    let pgwarden = PathBuf::from(env!("CARGO_BIN_EXE_pgwarden"));
    let url = server.url("gentle");
    let stop = Arc::new(AtomicBool::new(false));
    let sink = Arc::new(Mutex::new(Vec::new()));
    let handle = {
        let (url, stop, sink) = (url.clone(), stop.clone(), sink.clone());
        std::thread::spawn(move || writer(url, rate, stop, sink))
    };
    let take = |sink: &Arc<Mutex<Vec<f64>>>| std::mem::take(&mut *sink.lock().expect("lock"));
    std::thread::sleep(Duration::from_secs(3));
    take(&sink); // warm-up
    std::thread::sleep(Duration::from_secs(10));
    let idle = take(&sink);
    let mut results = Vec::new();
    for (i, workers) in ["0", "2"].iter().enumerate() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(
            dir.path().join(format!("V{}__w_a{i}.sql", i + 1)),
            format!("-- pgwarden:no-transaction\nCREATE INDEX CONCURRENTLY w_a{i} ON w (a, b);\n"),
        )
        .expect("write migration");
        // Each run sees only its own file: a baseline of the first for the second.
        if i == 1 {
            std::fs::write(
                dir.path().join("V1__w_a0.sql"),
                "-- pgwarden:no-transaction\nCREATE INDEX CONCURRENTLY w_a0 ON w (a, b);\n",
            )
            .expect("write migration");
        }
        take(&sink);
        let started = Instant::now();
        let out = Command::new(&pgwarden)
            .args(["-q", "--database-url", &url, "--migrations"])
            .arg(dir.path())
            .args(["migrate", "apply", "--build-workers", workers])
            .output()
            .expect("run pgwarden");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let took = started.elapsed();
        let during = take(&sink);
        results.push((workers.to_string(), took, during));
        std::thread::sleep(Duration::from_secs(3));
        take(&sink);
    }
    stop.store(true, Ordering::Relaxed);
    handle.join().expect("writer");
    let idle_p99 = p99(idle.clone());
    println!("idle: p99 {idle_p99:.2} ms over {} writes", idle.len());
    for (workers, took, during) in results {
        let p = p99(during.clone());
        println!(
            "--build-workers {workers}: build {:.1} s, p99 {p:.2} ms over {} writes, {:.2}x idle",
            took.as_secs_f64(),
            during.len(),
            p / idle_p99
        );
    }
}
