//! Benchmark: `pgwarden lint` against squawk's own CLI (`squawk-cli` from PyPI or npm) on the
//! same generated corpus of real-world-style migrations, in the same run; findings compared by
//! rule. Run with `cargo bench --bench lint_corpus` (`PGWARDEN_BENCH_FILES`, default 300;
//! `SQUAWK`, the squawk binary, default `squawk` on PATH).

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Twelve kinds of migration, as teams write them.
fn migration(i: usize) -> String {
    let t = format!("t{}", i / 12);
    match i % 12 {
        0 => format!(
            "CREATE TABLE {t} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());\n"
        ),
        1 => format!(
            "ALTER TABLE {t} ADD COLUMN status text;\nCREATE INDEX {t}_status ON {t} (status);\n"
        ),
        2 => format!("CREATE INDEX CONCURRENTLY IF NOT EXISTS {t}_created ON {t} (created_at);\n"),
        3 => format!("ALTER TABLE {t} ADD COLUMN score int NOT NULL DEFAULT 0;\n"),
        4 => format!("ALTER TABLE {t} ADD CONSTRAINT {t}_name_key UNIQUE (name);\n"),
        5 => format!("ALTER TABLE {t} ALTER COLUMN name TYPE varchar(200);\n"),
        6 => format!("ALTER TABLE {t} RENAME COLUMN name TO title;\n"),
        7 => format!(
            "CREATE TABLE {t}_items (id serial PRIMARY KEY, {t}_id bigint REFERENCES {t} (id), qty int, price char(10), at timestamp);\n"
        ),
        8 => format!(
            "SET statement_timeout = '10s';\nCREATE INDEX CONCURRENTLY {t}_score ON {t} (score);\n"
        ),
        9 => format!(
            "-- pgwarden:no-transaction\nCREATE INDEX CONCURRENTLY ON {t} (title);\nDROP INDEX CONCURRENTLY IF EXISTS {t}_status;\n"
        ),
        10 => format!(
            "ALTER TABLE {t} ALTER COLUMN status SET NOT NULL;\nALTER TABLE {t} DROP COLUMN score;\n"
        ),
        _ => format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = '{t}_kind') THEN CREATE TYPE {t}_kind AS ENUM ('a', 'b'); END IF; END $$;\n"
        ),
    }
}

fn main() {
    let files: usize = std::env::var("PGWARDEN_BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let squawk = std::env::var("SQUAWK").unwrap_or_else(|_| "squawk".into());
    if Command::new(&squawk)
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        println!(
            "squawk not found: install it with `pip install squawk-cli` (or npm) or set SQUAWK"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut paths = Vec::new();
    for i in 0..files {
        let path = dir.path().join(format!("V{}__m{i}.sql", i + 1));
        std::fs::write(&path, migration(i)).expect("write");
        paths.push(path);
    }
    let pgwarden = env!("CARGO_BIN_EXE_pgwarden");
    let run = |cmd: &mut Command| {
        let started = Instant::now();
        let out = cmd.stderr(Stdio::null()).output().expect("run");
        (started.elapsed().as_secs_f64(), out.stdout)
    };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut our_out, mut their_out) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let (t, o) = run(Command::new(pgwarden)
            .args([
                "--policy",
                "/nonexistent.toml",
                "lint",
                "--output-format",
                "json",
            ])
            .arg(dir.path()));
        ours.push(t);
        our_out = o;
        let (t, o) = run(Command::new(&squawk)
            .args(["--reporter", "json"])
            .args(&paths));
        theirs.push(t);
        their_out = o;
    }
    ours.sort_by(f64::total_cmp);
    theirs.sort_by(f64::total_cmp);
    let (a, b) = (ours[2], theirs[2]);
    println!(
        "{files} migrations; median of 5: pgwarden lint {a:.3} s, squawk {b:.3} s, ratio {:.2}x",
        a / b
    );
    let mut by_rule: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let ours: serde_json::Value = serde_json::from_slice(&our_out).unwrap_or_default();
    for f in ours["findings"].as_array().into_iter().flatten() {
        by_rule
            .entry(f["rule"].as_str().unwrap_or("").to_string())
            .or_default()
            .0 += 1;
    }
    let theirs: serde_json::Value = serde_json::from_slice(&their_out).unwrap_or_default();
    for v in theirs.as_array().into_iter().flatten() {
        by_rule
            .entry(v["rule_name"].as_str().unwrap_or("?").to_string())
            .or_default()
            .1 += 1;
    }
    println!("| rule | pgwarden | squawk |\n|---|---|---|");
    for (rule, (o, t)) in by_rule {
        println!("| {rule} | {o} | {t} |");
    }
}
