//! Benchmark: `pgwarden advise` against pg_qualstats' index advisor (the one PoWA shows), on the
//! demo's seed database, in the same run.
//!
//! One throwaway server (pg_qualstats preloaded, sample_rate 1), the seed schema without
//! secondary indexes and `data generate` data; three copies of it. Reported per tool: how many
//! indexes it proposes, how long it takes, and the workload (the shipped policy's queries)
//! after its proposals are built: queries within the 100 ms budget and the sum of mean times.
//! Run with `cargo bench --bench advisor` (`PGWARDEN_BENCH_SCALE`, default 1).

use pgwarden::ephemeral::{EphemeralOptions, EphemeralServer};
use pgwarden::policy::{self, bind_literals};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

struct Run {
    pgwarden: PathBuf,
    migrations: tempfile::TempDir,
    policy: PathBuf,
}

impl Run {
    fn cmd(&self, url: &str, args: &[&str]) -> serde_json::Value {
        let out = Command::new(&self.pgwarden)
            .args([
                "-q",
                "--format",
                "json",
                "--database-url",
                url,
                "--migrations",
            ])
            .arg(self.migrations.path())
            .arg("--policy")
            .arg(&self.policy)
            .args(args)
            .output()
            .expect("run pgwarden");
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "pgwarden {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// (queries within budget, total of their means in ms) from `check`.
    fn workload(&self, url: &str) -> (usize, usize, f64) {
        let report = self.cmd(url, &["check"]);
        let queries = report["queries"].as_array().expect("check queries");
        let within = queries
            .iter()
            .filter(|q| q["verdict"]["verdict"] == "within")
            .count();
        let total = queries
            .iter()
            .map(|q| q["verdict"]["mean_ms"].as_f64().unwrap_or(0.0))
            .sum();
        (within, queries.len(), total)
    }
}

/// The DDL of each proposal in an `advise` JSON report.
fn proposed_ddl(advice: &serde_json::Value) -> Vec<String> {
    advice["proposals"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| p["ddl"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn main() {
    let scale = std::env::var("PGWARDEN_BENCH_SCALE").unwrap_or_else(|_| "1".into());
    let server = EphemeralServer::start_with(&EphemeralOptions {
        extra_conf: vec!["pg_qualstats.sample_rate = 1".into()],
        ..Default::default()
    })
    .expect("throwaway server");
    assert!(
        server.preloaded().iter().any(|l| l == "pg_qualstats"),
        "install postgresql-15-pg-qualstats"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let migrations = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        root.join("migrations/V1__base_schema.sql"),
        migrations.path().join("V1__base_schema.sql"),
    )
    .expect("copy V1");
    let run = Run {
        pgwarden: PathBuf::from(env!("CARGO_BIN_EXE_pgwarden")),
        migrations,
        policy: root.join("policies/default.toml"),
    };
    server.create_database("base").expect("db");
    run.cmd(&server.url("base"), &["migrate", "apply"]);
    run.cmd(
        &server.url("base"),
        &["data", "generate", "--scale", &scale],
    );
    for copy in ["pgw", "pgw_shadow", "qs"] {
        server.copy_database("base", copy).expect("copy");
    }
    let before = run.workload(&server.url("base"));

    // pgwarden: advise (proven on the shadow), write the migration, apply it.
    let started = Instant::now();
    let advice = run.cmd(
        &server.url("pgw"),
        &[
            "advise",
            "--shadow-url",
            &server.url("pgw_shadow"),
            "--write-migration",
        ],
    );
    let pgw_time = started.elapsed().as_secs_f64();
    let pgw_indexes = proposed_ddl(&advice);
    run.cmd(&server.url("pgw"), &["migrate", "apply"]);
    let pgw_after = run.workload(&server.url("pgw"));

    // pgwarden with no copy given: it makes its own throwaway copy (schema, rows or a sample).
    let started = Instant::now();
    let throwaway = run.cmd(&server.url("base"), &["advise", "--throwaway"]);
    let tw_time = started.elapsed().as_secs_f64();
    let tw_indexes = proposed_ddl(&throwaway);

    // pg_qualstats: run the workload (5 times per parameter set), then ask its advisor.
    let target = server.target("qs").expect("target");
    let mut qs = target.connect().expect("connect");
    qs.batch_execute("CREATE EXTENSION pg_qualstats")
        .expect("pg_qualstats");
    let policy = policy::load(&run.policy).expect("policy");
    for q in &policy.queries {
        for params in &q.params {
            let sql = bind_literals(&q.sql, params).expect("bind");
            for _ in 0..5 {
                qs.simple_query(&sql).expect("workload query");
            }
        }
    }
    let started = Instant::now();
    let json: String = qs
        .query_one("SELECT pg_qualstats_index_advisor()::text", &[])
        .expect("advisor")
        .get(0);
    let qs_time = started.elapsed().as_secs_f64();
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("advisor json");
    let qs_indexes: Vec<String> = parsed["indexes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for ddl in &qs_indexes {
        qs.batch_execute(ddl).expect("build a qualstats index");
    }
    qs.batch_execute("ANALYZE").expect("analyze");
    drop(qs);
    let qs_after = run.workload(&server.url("qs"));

    println!(
        "seed database at scale {scale}; workload: the shipped policy's {} queries, 100 ms budget",
        before.1
    );
    println!(
        "| | indexes proposed | advisor time | within budget after | sum of mean times after |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| no index (before) | - | - | {} of {} | {:.1} ms |",
        before.0, before.1, before.2
    );
    println!(
        "| pgwarden advise | {} | {:.1} s | {} of {} | {:.1} ms |",
        pgw_indexes.len(),
        pgw_time,
        pgw_after.0,
        pgw_after.1,
        pgw_after.2
    );
    println!(
        "| pgwarden advise --throwaway | {} | {:.1} s (copy included) | - | - |",
        tw_indexes.len(),
        tw_time
    );
    println!(
        "| pg_qualstats_index_advisor | {} | {:.2} s | {} of {} | {:.1} ms |",
        qs_indexes.len(),
        qs_time,
        qs_after.0,
        qs_after.1,
        qs_after.2
    );
    println!("\npgwarden proposed:");
    for i in &pgw_indexes {
        println!("  {i}");
    }
    let rejected = advice["rejected"].as_array().cloned().unwrap_or_default();
    println!(
        "pgwarden considered {} candidate(s): {} proposed, {} rejected:",
        pgw_indexes.len() + rejected.len(),
        pgw_indexes.len(),
        rejected.len()
    );
    for r in &rejected {
        println!("  {} -- {}", r["ddl"], r["reason"]);
    }
    println!("pgwarden --throwaway ({}):", throwaway["evaluation"]);
    for i in &tw_indexes {
        println!("  {i}");
    }
    println!(
        "pg_qualstats proposed (unoptimised quals: {}):",
        parsed["unoptimised"]
    );
    for i in &qs_indexes {
        println!("  {i}");
    }
}
