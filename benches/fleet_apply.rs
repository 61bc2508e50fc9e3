//! Benchmark: `migrate apply` of the shipped (seed) migrations on a fleet of databases, against
//! the same number of sequential single runs, in the same run on one throwaway server.
//!
//! Three fresh sets of databases: sequential single runs (one `pgwarden migrate apply` process
//! per database), one fleet run with `--parallel 1` (the fleet's overhead per target, target
//! within 10% of the single runs), and one with `--parallel 4 --per-host 4` (the speedup,
//! target at least 2.5x on a 2-core machine). Run with `cargo bench --bench fleet_apply`
//! (`PGWARDEN_BENCH_DATABASES`, default 100; `PGWARDEN_BENCH_PARALLEL`, default 4).

use pgwarden::ephemeral::EphemeralServer;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run(cmd: &mut Command) -> Duration {
    let started = Instant::now();
    let out = cmd.output().expect("run pgwarden");
    assert!(
        out.status.success(),
        "pgwarden failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

/// `n` fresh databases named `{prefix}_{i}`, and a targets file listing them.
fn databases(
    server: &EphemeralServer,
    prefix: &str,
    n: usize,
    dir: &Path,
) -> (Vec<String>, PathBuf) {
    let urls: Vec<String> = (0..n)
        .map(|i| {
            let name = format!("{prefix}_{i}");
            server.create_database(&name).expect("create database");
            server.url(&name)
        })
        .collect();
    let file = dir.join(format!("{prefix}.txt"));
    let text: String = urls
        .iter()
        .enumerate()
        .map(|(i, u)| format!("{prefix}_{i} = {u}\n"))
        .collect();
    std::fs::write(&file, text).expect("write targets");
    (urls, file)
}

fn main() {
    let n = env_or("PGWARDEN_BENCH_DATABASES", 100);
    let parallel = env_or("PGWARDEN_BENCH_PARALLEL", 4);
    let server = EphemeralServer::start_with(&pgwarden::ephemeral::EphemeralOptions {
        extra_conf: vec!["max_connections = 300".into()],
        ..Default::default()
    })
    .expect("throwaway server");
    let pgwarden = PathBuf::from(env!("CARGO_BIN_EXE_pgwarden"));
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let work = tempfile::tempdir().expect("temp dir");
    let (single, _) = databases(&server, "single", n, work.path());
    let (_, one) = databases(&server, "one", n, work.path());
    let (_, many) = databases(&server, "many", n, work.path());
    println!(
        "{n} databases per mode, the shipped migrations ({})",
        migrations.display()
    );

    let started = Instant::now();
    for url in &single {
        run(Command::new(&pgwarden)
            .args(["-q", "--database-url", url, "--migrations"])
            .arg(&migrations)
            .args(["migrate", "apply"]));
    }
    let sequential = started.elapsed();
    let fleet = |file: &Path, parallel: usize| {
        run(Command::new(&pgwarden)
            .args(["-q", "--migrations"])
            .arg(&migrations)
            .arg("--targets")
            .arg(file)
            .arg("--ledger")
            .arg(work.path().join("ledger.json"))
            .args(["--parallel", &parallel.to_string()])
            .args(["--per-host", &parallel.to_string()])
            .args(["migrate", "apply"]))
    };
    let one_at_a_time = fleet(&one, 1);
    let in_parallel = fleet(&many, parallel);
    println!(
        "sequential single runs: {:.2} s ({:.1} ms per database)",
        sequential.as_secs_f64(),
        sequential.as_secs_f64() * 1000.0 / n as f64
    );
    println!(
        "fleet --parallel 1:     {:.2} s ({:.1} ms per database), {:.3}x the single runs",
        one_at_a_time.as_secs_f64(),
        one_at_a_time.as_secs_f64() * 1000.0 / n as f64,
        one_at_a_time.as_secs_f64() / sequential.as_secs_f64()
    );
    println!(
        "fleet --parallel {parallel}:     {:.2} s, speedup {:.2}x over the single runs",
        in_parallel.as_secs_f64(),
        sequential.as_secs_f64() / in_parallel.as_secs_f64()
    );
}
