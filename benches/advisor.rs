//! Benchmark: `pgwarden advise` against pg_qualstats' index advisor (the one PoWA shows) and
//! against the index set a DBA writes by hand, on two schemas in the same run: the demo's
//! seed (DBA set: its four indexes) and the shop of tests/fixtures/shop (DBA set:
//! `dba_indexes.sql`, a reason per index).
//!
//! One throwaway server (pg_qualstats preloaded, sample_rate 1); per schema a base database
//! without secondary indexes and one copy per tool. Reported per tool: indexes proposed, their
//! total size, the advisor's time, and the workload after the indexes are built: queries within
//! budget and the sum of the queries' mean times (from `check`, the policy's runs). Goal
//! (issue 11): pgwarden at or below the DBA's sum, in fewer or equal index bytes.
//!
//! Run with `cargo bench --bench advisor` (`PGWARDEN_BENCH_SCALE` for the seed, default 0.2;
//! `PGWARDEN_BENCH_SHOP_SCALE` for the shop, default 2; `PGWARDEN_BENCH_ONLY=seed|shop`).

#[path = "common/advisor_harness.rs"]
mod harness;

use harness::{Run, Schema};
use pgwarden::ephemeral::{EphemeralOptions, EphemeralServer};
use pgwarden::policy::bind_literals;
use std::time::Instant;

/// (within budget, queries, sum of means ms) of the workload on `db`.
fn judged(run: &Run, server: &EphemeralServer, db: &str) -> (usize, usize, f64) {
    let w = run.workload(&server.url(db));
    (
        w.iter().filter(|q| q.2).count(),
        w.len(),
        w.iter().map(|q| q.1).sum(),
    )
}

struct Row {
    tool: &'static str,
    indexes: Vec<String>,
    seconds: Option<f64>,
    bytes: i64,
    after: (usize, usize, f64),
}

fn pgwarden(server: &EphemeralServer, schema: &Schema, base: &str) -> Row {
    let db = format!("{base}_pgw");
    server.copy_database(base, &db).expect("copy");
    server
        .copy_database(base, &format!("{db}_shadow"))
        .expect("shadow");
    let run = Run::new(schema);
    let dir = run.fresh_migrations();
    let started = Instant::now();
    let advice = run.cmd_in(
        dir.path(),
        &server.url(&db),
        &[
            "advise",
            "--write-migration",
            "--shadow-url",
            &server.url(&format!("{db}_shadow")),
        ],
    );
    let seconds = started.elapsed().as_secs_f64();
    run.cmd_in(dir.path(), &server.url(&db), &["migrate", "apply"]);
    harness::build(server, &db, &[]);
    for r in advice["rejected"].as_array().cloned().unwrap_or_default() {
        println!("  pgwarden rejected {} -- {}", r["ddl"], r["reason"]);
    }
    Row {
        tool: "pgwarden advise --shadow-url",
        indexes: advice["proposals"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|p| p["ddl"].as_str().unwrap_or("").to_string())
            .collect(),
        seconds: Some(seconds),
        bytes: harness::secondary_index_bytes(server, &db),
        after: judged(&run, server, &db),
    }
}

fn qualstats(server: &EphemeralServer, schema: &Schema, base: &str) -> Row {
    let db = format!("{base}_qs");
    server.copy_database(base, &db).expect("copy");
    let mut c = harness::connect(server, &db);
    c.batch_execute("CREATE EXTENSION pg_qualstats")
        .expect("pg_qualstats");
    let run = Run::new(schema);
    let policy = pgwarden::policy::load(run.policy.path()).expect("policy");
    for q in &policy.queries {
        let sets = if q.params.is_empty() {
            vec![q.sql.clone()]
        } else {
            q.params
                .iter()
                .map(|p| bind_literals(&q.sql, p).expect("bind"))
                .collect()
        };
        for sql in sets {
            for _ in 0..5 {
                c.simple_query(&sql).expect("workload query");
            }
        }
    }
    let started = Instant::now();
    let json: String = c
        .query_one("SELECT pg_qualstats_index_advisor()::text", &[])
        .expect("advisor")
        .get(0);
    let seconds = started.elapsed().as_secs_f64();
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("advisor json");
    let indexes: Vec<String> = parsed["indexes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    println!(
        "  pg_qualstats unoptimised quals: {}",
        parsed["unoptimised"]
    );
    drop(c);
    harness::build(server, &db, &indexes);
    Row {
        tool: "pg_qualstats_index_advisor",
        indexes,
        seconds: Some(seconds),
        bytes: harness::secondary_index_bytes(server, &db),
        after: judged(&run, server, &db),
    }
}

fn dba(server: &EphemeralServer, schema: &Schema, base: &str) -> Row {
    let db = format!("{base}_dba");
    server.copy_database(base, &db).expect("copy");
    harness::build(server, &db, &schema.dba);
    let run = Run::new(schema);
    Row {
        tool: "DBA-written set",
        indexes: schema.dba.clone(),
        seconds: None,
        bytes: harness::secondary_index_bytes(server, &db),
        after: judged(&run, server, &db),
    }
}

fn report(schema: &Schema, before: (usize, usize, f64), rows: &[Row]) {
    println!("\n### {}\n", schema.name);
    println!(
        "| tool | indexes | index size | advisor time | within budget after | sum of mean times after |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| no secondary index | - | - | - | {} of {} | {:.1} ms |",
        before.0, before.1, before.2
    );
    for r in rows {
        println!(
            "| {} | {} | {:.1} MB | {} | {} of {} | {:.1} ms |",
            r.tool,
            r.indexes.len(),
            r.bytes as f64 / 1e6,
            r.seconds.map_or("-".into(), |s| format!("{s:.1} s")),
            r.after.0,
            r.after.1,
            r.after.2
        );
    }
    for r in rows {
        println!("\n{}:", r.tool);
        for i in &r.indexes {
            println!("  {}", i.trim());
        }
    }
}

fn main() {
    let server = EphemeralServer::start_with(&EphemeralOptions {
        extra_conf: vec!["pg_qualstats.sample_rate = 1".into()],
        ..Default::default()
    })
    .expect("throwaway server");
    assert!(
        server.preloaded().iter().any(|l| l == "pg_qualstats"),
        "install postgresql-15-pg-qualstats"
    );
    let schemas = harness::schemas(&server);
    for (schema, base) in &schemas {
        let before = judged(&Run::new(schema), &server, base);
        let rows = [
            pgwarden(&server, schema, base),
            qualstats(&server, schema, base),
            dba(&server, schema, base),
        ];
        report(schema, before, &rows);
    }
}
