//! Benchmark: `pgwarden migrate apply` against `psql` running the same files in one session.
//!
//! Generates a few hundred migrations (tables with rows, added columns, plain and concurrent
//! indexes), then, on one throwaway server, alternates fresh-database runs of both tools and
//! reports the median wall times and their ratio. Run with `cargo bench --bench migrate_apply`
//! (`PGWARDEN_BENCH_ROUNDS` and `PGWARDEN_BENCH_TABLES` change the size).

use pgwarden::ephemeral::{EphemeralServer, find_bindir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Four migrations per table: create + rows, add a column, a plain index, a concurrent index.
fn generate(dir: &Path, tables: usize) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut version = 0;
    let mut add = |name: String, sql: String| {
        version += 1;
        let path = dir.join(format!("V{version}__{name}.sql"));
        std::fs::write(&path, sql).expect("write migration");
        files.push(path);
    };
    for t in 0..tables {
        add(
            format!("create_t{t}"),
            format!(
                "CREATE TABLE t{t} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, status text NOT NULL, \
                 owner_id bigint, created_at timestamptz NOT NULL DEFAULT now());\n\
                 INSERT INTO t{t} (status, owner_id) SELECT (ARRAY['open','closed','draft'])[1 + g % 3], g % 97 \
                 FROM generate_series(1, 2000) g;\n"
            ),
        );
        add(
            format!("add_column_t{t}"),
            format!("ALTER TABLE t{t} ADD COLUMN note text;\n"),
        );
        add(
            format!("index_t{t}_owner"),
            format!("CREATE INDEX t{t}_owner ON t{t} (owner_id);\n"),
        );
        add(
            format!("concurrent_index_t{t}"),
            format!(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS t{t}_status_created ON t{t} (status, created_at);\n"
            ),
        );
    }
    files
}

fn run(cmd: &mut Command) -> Duration {
    let started = Instant::now();
    let out = cmd.output().expect("run benchmark command");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "benchmark command failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rounds = env_or("PGWARDEN_BENCH_ROUNDS", 7);
    let tables = env_or("PGWARDEN_BENCH_TABLES", 75);
    let server = EphemeralServer::start().expect("throwaway server");
    let psql = find_bindir().expect("server binaries").join("psql");
    let pgwarden = PathBuf::from(env!("CARGO_BIN_EXE_pgwarden"));
    let dir = tempfile::tempdir().expect("temp dir");
    let files = generate(dir.path(), tables);
    println!(
        "{} migrations ({} tables), {rounds} rounds each after a warm-up, alternating",
        files.len(),
        tables
    );

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    // Round 0 warms caches for both tools and is not counted.
    for round in 0..=rounds {
        let db = format!("bench_pgw_{round}");
        server.create_database(&db).expect("create db");
        ours.push(run(Command::new(&pgwarden)
            .args(["-q", "--database-url", &server.url(&db), "--migrations"])
            .arg(dir.path())
            .args(["migrate", "apply"])));
        if round == 0 {
            ours.clear();
        }
        let db = format!("bench_psql_{round}");
        server.create_database(&db).expect("create db");
        let mut cmd = Command::new(&psql);
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &server.url(&db)]);
        for f in &files {
            cmd.arg("-f").arg(f);
        }
        theirs.push(run(cmd.stdout(std::process::Stdio::null())));
        if round == 0 {
            theirs.clear();
        }
    }
    // Fixed cost: a run with nothing to apply, against psql connecting to run one statement.
    let noop_ours = run(Command::new(&pgwarden)
        .args([
            "-q",
            "--database-url",
            &server.url("bench_pgw_0"),
            "--migrations",
        ])
        .arg(dir.path())
        .args(["migrate", "apply"]));
    let noop_theirs = run(Command::new(&psql)
        .args([
            "-X",
            "-q",
            "-d",
            &server.url("bench_psql_0"),
            "-c",
            "SELECT 1",
        ])
        .stdout(std::process::Stdio::null()));
    println!(
        "fixed cost (nothing to apply): pgwarden {:.3}s, psql connect + SELECT 1 {:.3}s",
        noop_ours.as_secs_f64(),
        noop_theirs.as_secs_f64()
    );
    let (a, b) = (median(ours.clone()), median(theirs.clone()));
    println!(
        "pgwarden migrate apply: median {:.3}s  (runs: {:?})",
        a.as_secs_f64(),
        ours
    );
    println!(
        "psql, one session:      median {:.3}s  (runs: {:?})",
        b.as_secs_f64(),
        theirs
    );
    let paired: Vec<f64> = ours
        .iter()
        .zip(&theirs)
        .map(|(o, t)| o.as_secs_f64() / t.as_secs_f64())
        .collect();
    let mut sorted = paired.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "ratio of medians pgwarden/psql: {:.3}x (target <= 1.10x)",
        a.as_secs_f64() / b.as_secs_f64()
    );
    println!(
        "median of paired ratios: {:.3}x (pairs: {})",
        sorted[sorted.len() / 2],
        paired
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
