//! What the advisor benchmarks share: the two schemas (the seed's marketplace and the shop of
//! tests/fixtures/shop), a `pgwarden` runner, and the workload measured by `check`.

#![allow(dead_code)]

use pgwarden::ephemeral::EphemeralServer;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A connection to database `db` of `server`.
pub fn connect(server: &EphemeralServer, db: &str) -> postgres::Client {
    server
        .target(db)
        .expect("target")
        .connect()
        .expect("connect")
}

/// The schemas a bench runs on, each in its base database with a 10 ms budget: the seed at
/// `PGWARDEN_BENCH_SCALE` (default 0.2) and the shop at `PGWARDEN_BENCH_SHOP_SCALE` (default 2),
/// or only the one `PGWARDEN_BENCH_ONLY` names.
pub fn schemas(server: &EphemeralServer) -> Vec<(Schema, &'static str)> {
    let seed_scale = std::env::var("PGWARDEN_BENCH_SCALE").unwrap_or_else(|_| "0.2".into());
    let shop_scale = std::env::var("PGWARDEN_BENCH_SHOP_SCALE").unwrap_or_else(|_| "2".into());
    let only = std::env::var("PGWARDEN_BENCH_ONLY").unwrap_or_default();
    println!("seed scale {seed_scale}, shop scale {shop_scale}; 10 ms budget for both");
    let mut schemas = Vec::new();
    if only.is_empty() || only == "seed" {
        schemas.push((seed(server, "seed_base", &seed_scale, 10.0), "seed_base"));
    }
    if only.is_empty() || only == "shop" {
        schemas.push((shop(server, "shop_base", &shop_scale, 10.0), "shop_base"));
    }
    schemas
}

/// One schema the advisor is judged on.
pub struct Schema {
    /// How the tables name it.
    pub name: &'static str,
    /// Migrations that make its tables (the seed's V1; none for the shop).
    pub migrations: tempfile::TempDir,
    /// The policy text, budget written in.
    pub policy: String,
    /// The DBA-written index set, one statement each.
    pub dba: Vec<String>,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The seed schema at `scale` in database `db` of `server`, with the shipped policy and its
/// 100 ms budget replaced by `budget_ms` (at a small scale every query is under 100 ms); the DBA
/// set is the seed's own four indexes (migrations V2 to V5).
pub fn seed(server: &EphemeralServer, db: &str, scale: &str, budget_ms: f64) -> Schema {
    let migrations = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        root().join("migrations/V1__base_schema.sql"),
        migrations.path().join("V1__base_schema.sql"),
    )
    .expect("copy V1");
    let policy = std::fs::read_to_string(root().join("policies/default.toml"))
        .expect("policy")
        .replace("mean_ms = 100.0", &format!("mean_ms = {budget_ms}"));
    let schema = Schema {
        name: "seed",
        migrations,
        policy,
        dba: [
            "V2__idx_projects_status.sql",
            "V3__idx_tasks_developer_id.sql",
            "V4__idx_users_skills.sql",
            "V5__idx_payments_status.sql",
        ]
        .iter()
        .map(|f| std::fs::read_to_string(root().join("migrations").join(f)).expect("seed index"))
        .collect(),
    };
    server.create_database(db).expect("db");
    let url = server.url(db);
    let run = Run::new(&schema);
    run.cmd(&url, &["migrate", "apply"]);
    run.cmd(&url, &["data", "generate", "--scale", scale]);
    schema
}

/// The shop schema at `scale` in database `db` of `server`, with a `budget_ms` budget.
pub fn shop(server: &EphemeralServer, db: &str, scale: &str, budget_ms: f64) -> Schema {
    let dir = root().join("tests/fixtures/shop");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("shop fixture");
    server.create_database(db).expect("db");
    let mut c = server
        .target(db)
        .expect("target")
        .connect()
        .expect("connect");
    c.batch_execute(&read("schema.sql")).expect("shop schema");
    c.batch_execute(&read("data.sql").replace("{scale}", scale))
        .expect("shop data");
    let dba = pgwarden::sql::split(&read("dba_indexes.sql"))
        .expect("dba set")
        .statements
        .into_iter()
        .map(|s| s.text)
        .collect();
    Schema {
        name: "shop",
        migrations: tempfile::tempdir().expect("temp dir"),
        policy: read("policy.toml").replace("{budget}", &budget_ms.to_string()),
        dba,
    }
}

/// Runs the built `pgwarden` with a schema's migrations and a policy file.
pub struct Run {
    pub pgwarden: PathBuf,
    pub migrations: PathBuf,
    pub policy: tempfile::NamedTempFile,
}

impl Run {
    pub fn new(schema: &Schema) -> Self {
        Self::with_policy(schema, &schema.policy)
    }

    pub fn with_policy(schema: &Schema, policy: &str) -> Self {
        let file = tempfile::NamedTempFile::new().expect("policy file");
        std::fs::write(file.path(), policy).expect("write policy");
        Self {
            pgwarden: PathBuf::from(env!("CARGO_BIN_EXE_pgwarden")),
            migrations: schema.migrations.path().to_path_buf(),
            policy: file,
        }
    }

    /// `pgwarden ARGS` as JSON, in a migrations folder of its own (a copy of the schema's).
    pub fn cmd_in(&self, dir: &Path, url: &str, args: &[&str]) -> serde_json::Value {
        let out = Command::new(&self.pgwarden)
            .args([
                "-q",
                "--format",
                "json",
                "--database-url",
                url,
                "--migrations",
            ])
            .arg(dir)
            .arg("--policy")
            .arg(self.policy.path())
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

    pub fn cmd(&self, url: &str, args: &[&str]) -> serde_json::Value {
        self.cmd_in(&self.migrations, url, args)
    }

    /// A fresh migrations folder holding the schema's files.
    pub fn fresh_migrations(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for f in std::fs::read_dir(&self.migrations).expect("migrations") {
            let f = f.expect("entry");
            std::fs::copy(f.path(), dir.path().join(f.file_name())).expect("copy migration");
        }
        dir
    }

    /// Each query's mean time from `check` (policy order): (name, mean ms, within budget).
    pub fn workload(&self, url: &str) -> Vec<(String, f64, bool)> {
        let report = self.cmd(url, &["check"]);
        report["queries"]
            .as_array()
            .expect("check queries")
            .iter()
            .map(|q| {
                (
                    q["name"].as_str().unwrap_or("").to_string(),
                    q["verdict"]["mean_ms"].as_f64().unwrap_or(f64::NAN),
                    q["verdict"]["verdict"] == "within",
                )
            })
            .collect()
    }
}

/// Bytes of all indexes on user tables except primary keys and unique constraints' indexes.
pub fn secondary_index_bytes(server: &EphemeralServer, db: &str) -> i64 {
    let mut c = server
        .target(db)
        .expect("target")
        .connect()
        .expect("connect");
    c.query_one(
        "SELECT coalesce(sum(pg_relation_size(i.indexrelid)), 0)::int8 FROM pg_index i \
         JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = 'public' AND NOT i.indisprimary AND NOT i.indisunique",
        &[],
    )
    .expect("index sizes")
    .get(0)
}

/// Runs statements on `db`, then ANALYZE.
pub fn build(server: &EphemeralServer, db: &str, statements: &[String]) {
    let mut c = server
        .target(db)
        .expect("target")
        .connect()
        .expect("connect");
    for s in statements {
        c.batch_execute(s).expect("build an index");
    }
    c.batch_execute("VACUUM ANALYZE").expect("vacuum analyze");
}

/// Total size of the public tables, bytes.
pub fn table_bytes(server: &EphemeralServer, db: &str) -> i64 {
    let mut c = server
        .target(db)
        .expect("target")
        .connect()
        .expect("connect");
    c.query_one(
        "SELECT coalesce(sum(pg_table_size(c.oid)), 0)::int8 FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'",
        &[],
    )
    .expect("table sizes")
    .get(0)
}
