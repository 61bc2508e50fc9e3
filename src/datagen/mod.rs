//! Deterministic synthetic data for the seed platform's schema (users with skills, projects,
//! tasks, payments), generated server-side in chunks so a progress bar can follow.
//!
//! Every value derives from the row number through `hashint8`, PostgreSQL's stable hash (the one
//! hash partitioning relies on), so the same scale always yields the same data. This is demo
//! data for the seed schema only; nothing in the engine knows these tables.

use crate::db::{self, ConnectError, ConnectionTarget, DbContext, DbError};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use postgres::Client;
use serde::Serialize;
use std::time::Instant;

/// Rows at scale 1: enough that the unindexed seed workload breaks a 100 ms budget here.
const USERS: f64 = 1_600_000.0;
const PROJECTS: f64 = 1_500_000.0;
const TASKS: f64 = 4_000_000.0;
const PAYMENTS: f64 = 4_000_000.0;
const CHUNKS: i64 = 10;

/// A uniform number in [0, 1) from row number `g` and a salt.
const RAND: &str = "((hashint8(g * 7919 + {salt}) & 16777215)::float8 / 16777216)";

const USERS_SQL: &str = "INSERT INTO users (id, email, display_name, role, skills, hourly_rate, country, created_at) \
 OVERRIDING SYSTEM VALUE \
 SELECT g, 'user' || g || '@example.com', 'User ' || g, \
   CASE WHEN g % 10 = 0 THEN 'client' ELSE 'developer' END, \
   ARRAY(SELECT s FROM unnest(ARRAY['javascript','python','typescript','java','go','rust','sql','react', \
     'docker','kubernetes','aws','postgres','ruby','php','swift','kotlin','scala','elixir','haskell','c++']) \
     WITH ORDINALITY AS k(s, i) \
     WHERE (hashint8(g * 31 + i) & 1023) < (CASE WHEN i <= 4 THEN 300 WHEN i <= 12 THEN 100 ELSE 6 END)), \
   20 + g % 150, (ARRAY['US','DE','IN','BR','PL','UA','GB','FR'])[1 + g % 8], \
   timestamptz '2026-11-01' - (g % 1000) * interval '1 day' \
 FROM generate_series($1::int8, $2::int8) g";

const PROJECTS_SQL: &str = "INSERT INTO projects (id, client_id, title, description, status, budget, created_at, updated_at) \
 OVERRIDING SYSTEM VALUE \
 SELECT g, 10 * (1 + (hashint8(g) & 2147483647) % ($3::int8 / 10)), 'Project ' || g, \
   'Build ' || g || ': ' || repeat('scope, milestones and acceptance criteria; ', 12), \
   CASE WHEN r < 0.70 THEN 'completed' WHEN r < 0.88 THEN 'in_progress' WHEN r < 0.96 THEN 'open' \
        WHEN r < 0.99 THEN 'draft' ELSE 'cancelled' END, \
   100 + g % 9900, timestamptz '2026-11-01' - (g % 730) * interval '1 day', timestamptz '2026-11-01' \
 FROM (SELECT g, {r1} AS r FROM generate_series($1::int8, $2::int8) g) s";

const TASKS_SQL: &str = "INSERT INTO tasks (id, project_id, developer_id, title, status, estimate_hours, due_date, created_at) \
 OVERRIDING SYSTEM VALUE \
 SELECT g, 1 + (hashint8(g) & 2147483647) % $3::int8, 1 + (hashint8(g * 7) & 2147483647) % $4::int8, \
   'Task ' || g || ': implement and review the change set', \
   (ARRAY['todo','in_progress','review','done'])[1 + g % 4], g % 40, \
   date '2026-11-01' + (g % 90)::int, timestamptz '2026-11-01' - (g % 730) * interval '1 day' \
 FROM generate_series($1::int8, $2::int8) g";

const PAYMENTS_SQL: &str = "INSERT INTO payments (id, project_id, payer_id, payee_id, amount, currency, status, created_at) \
 OVERRIDING SYSTEM VALUE \
 SELECT g, 1 + (hashint8(g) & 2147483647) % $3::int8, 10, 1 + (hashint8(g * 3) & 2147483647) % $4::int8, \
   1 + g % 5000, 'USD', \
   CASE WHEN r < 0.85 THEN 'completed' WHEN r < 0.90 THEN 'pending' WHEN r < 0.95 THEN 'processing' \
        WHEN r < 0.98 THEN 'refunded' ELSE 'failed' END, \
   timestamptz '2026-11-01' - (r2 * 730) * interval '1 day' \
 FROM (SELECT g, {r1} AS r, {r2} AS r2 FROM generate_series($1::int8, $2::int8) g) s";

/// What `data generate` did.
#[derive(Debug, Clone, Serialize)]
pub struct GenerateReport {
    /// The target's connection string, password redacted.
    pub database: String,
    /// The scale asked for (1.0 is about 11 million rows).
    pub scale: f64,
    /// One entry per seed table, in the order users, projects, tasks, payments.
    pub tables: Vec<TableLoad>,
    /// False when foreign-key triggers could not be skipped (not a superuser): slower.
    pub fast_path: bool,
    /// Wall time of the whole command, in ms.
    pub duration_ms: u128,
}

/// One seed table's load.
#[derive(Debug, Clone, Serialize)]
pub struct TableLoad {
    /// The seed table's name (`users`, `projects`, `tasks` or `payments`).
    pub table: String,
    /// Rows inserted: the table's rows at scale 1 times the scale, rounded (at least 10).
    pub rows: i64,
    /// Wall time of this table's load, in ms.
    pub duration_ms: u128,
}

/// Generation failed; names the table.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// A seed table is missing: the base schema was not applied.
    #[error(
        "table {0} does not exist; data generate fills the seed schema: run `pgwarden migrate apply --target 1` first"
    )]
    MissingTable(String),
    /// A seed table already has rows.
    #[error(
        "table {0} already has rows; generate into an empty seed schema (TRUNCATE ... RESTART IDENTITY CASCADE first)"
    )]
    NotEmpty(String),
    /// The scale is not a positive finite number.
    #[error("scale must be a positive number, got {0}")]
    BadScale(f64),
    /// The loading sessions could not connect.
    #[error("generating (connect) failed: {0}")]
    Connect(ConnectError),
    /// A statement failed: "generating {table} failed: ...".
    #[error(transparent)]
    Sql(#[from] DbError),
    /// The second loading session's thread panicked.
    #[error("generating (loader) failed: the loader thread panicked")]
    LoaderPanicked,
}

/// "generating {table} failed", as the context of a failed statement.
fn generating(table: &str) -> impl FnOnce() -> String + '_ {
    move || format!("generating {table} failed")
}

struct Table {
    name: &'static str,
    rows: i64,
    sql: String,
}

/// Fills the seed tables at `scale` (1.0 is about 11 million rows), then VACUUM ANALYZE.
/// Two sessions load in parallel (users then tasks; projects then payments): every value is a
/// function of the row number, so the result does not depend on the interleaving.
pub fn generate(
    target: &ConnectionTarget,
    scale: f64,
    progress: bool,
) -> Result<GenerateReport, GenerateError> {
    if !(scale > 0.0 && scale.is_finite()) {
        return Err(GenerateError::BadScale(scale));
    }
    let rows = |base: f64| ((base * scale).round() as i64).max(10);
    let rand = |salt: u32| RAND.replace("{salt}", &salt.to_string());
    let tables = [
        Table {
            name: "users",
            rows: rows(USERS),
            sql: USERS_SQL.to_string(),
        },
        Table {
            name: "projects",
            rows: rows(PROJECTS),
            sql: PROJECTS_SQL.replace("{r1}", &rand(1)),
        },
        Table {
            name: "tasks",
            rows: rows(TASKS),
            sql: TASKS_SQL.to_string(),
        },
        Table {
            name: "payments",
            rows: rows(PAYMENTS),
            sql: PAYMENTS_SQL
                .replace("{r1}", &rand(2))
                .replace("{r2}", &rand(3)),
        },
    ];
    let connect = || target.connect().map_err(GenerateError::Connect);
    let mut client = connect()?;
    check_empty(&mut client, &tables)?;
    let started = Instant::now();
    let bar = progress_bar(progress, tables.iter().map(|t| t.rows as u64).sum());
    let sizes = (tables[0].rows, tables[1].rows);
    let mut second = connect()?;
    let fast_path =
        client.batch_execute(FAST_PATH).is_ok() && second.batch_execute(FAST_PATH).is_ok();
    if !fast_path {
        tracing::warn!(
            "not a superuser: foreign-key checks stay on while loading, which is slower"
        );
    }
    let (a, b) = std::thread::scope(|scope| {
        let bar_b = bar.clone();
        let (tables_b, second) = ([&tables[1], &tables[3]], &mut second);
        let worker = scope.spawn(move || load_tables(second, &tables_b, sizes, &bar_b));
        let mine = load_tables(&mut client, &[&tables[0], &tables[2]], sizes, &bar);
        let theirs = worker.join().unwrap_or(Err(GenerateError::LoaderPanicked));
        (mine, theirs)
    });
    let mut loads = a?;
    loads.extend(b?);
    loads.sort_by_key(|l| tables.iter().position(|t| t.name == l.table));
    bar.set_message("vacuum analyze");
    if let Err(e) = second.batch_execute(RESET_WRITE_COUNTERS) {
        tracing::warn!(
            "the load will count as writes for the advisor: {}",
            db::describe(&e)
        );
    }
    for stmt in FINISH {
        second
            .batch_execute(stmt)
            .db_context(generating("(finish)"))?;
    }
    bar.finish_and_clear();
    Ok(GenerateReport {
        database: target.redacted(),
        scale,
        tables: loads,
        fast_path,
        duration_ms: started.elapsed().as_millis(),
    })
}

/// Skip foreign-key triggers while loading (superuser only); the data is consistent by construction.
const FAST_PATH: &str = "SET session_replication_role = replica";

/// The load is not production traffic: it must not count as the tables' write rate (best
/// effort: needs superuser or a grant on the function).
const RESET_WRITE_COUNTERS: &str = "SELECT pg_stat_reset_single_table_counters(oid) FROM pg_class \
     WHERE oid IN ('users'::regclass, 'projects'::regclass, 'tasks'::regclass, 'payments'::regclass)";

const FINISH: [&str; 9] = [
    "RESET session_replication_role",
    "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users))",
    "SELECT setval(pg_get_serial_sequence('projects', 'id'), (SELECT max(id) FROM projects))",
    "SELECT setval(pg_get_serial_sequence('tasks', 'id'), (SELECT max(id) FROM tasks))",
    "SELECT setval(pg_get_serial_sequence('payments', 'id'), (SELECT max(id) FROM payments))",
    "VACUUM ANALYZE users",
    "VACUUM ANALYZE projects",
    "VACUUM ANALYZE tasks",
    "VACUUM ANALYZE payments",
];

fn load_tables(
    client: &mut Client,
    tables: &[&Table],
    sizes: (i64, i64),
    bar: &ProgressBar,
) -> Result<Vec<TableLoad>, GenerateError> {
    let mut loads = Vec::new();
    for t in tables {
        let t0 = Instant::now();
        load_table(client, t, sizes.0, sizes.1, bar)?;
        loads.push(TableLoad {
            table: t.name.into(),
            rows: t.rows,
            duration_ms: t0.elapsed().as_millis(),
        });
        tracing::info!(
            table = t.name,
            rows = t.rows,
            ms = t0.elapsed().as_millis() as u64,
            "loaded"
        );
    }
    // Publish this session's row counts now (PostgreSQL 15 flushes them when the session next
    // goes idle, before replying), so the counter reset after the load sees them all.
    if let Err(e) = client.batch_execute("SELECT pg_stat_force_next_flush()") {
        tracing::debug!("could not flush statistics: {}", db::describe(&e));
    }
    Ok(loads)
}

fn check_empty(client: &mut Client, tables: &[Table]) -> Result<(), GenerateError> {
    for t in tables {
        let exists: bool = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&t.name])
            .db_context(generating(t.name))?
            .get(0);
        if !exists {
            return Err(GenerateError::MissingTable(t.name.into()));
        }
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", db::quote_ident(t.name));
        let has_rows: bool = client
            .query_one(sql.as_str(), &[])
            .db_context(generating(t.name))?
            .get(0);
        if has_rows {
            return Err(GenerateError::NotEmpty(t.name.into()));
        }
    }
    Ok(())
}

fn load_table(
    client: &mut Client,
    t: &Table,
    users: i64,
    projects: i64,
    bar: &ProgressBar,
) -> Result<(), GenerateError> {
    let chunk = (t.rows + CHUNKS - 1) / CHUNKS;
    let mut lo = 1i64;
    while lo <= t.rows {
        let hi = (lo + chunk - 1).min(t.rows);
        let result = match t.name {
            "users" => client.execute(t.sql.as_str(), &[&lo, &hi]),
            "projects" => client.execute(t.sql.as_str(), &[&lo, &hi, &users]),
            _ => client.execute(t.sql.as_str(), &[&lo, &hi, &projects, &users]),
        };
        result.db_context(generating(t.name))?;
        bar.inc((hi - lo + 1) as u64);
        lo = hi + 1;
    }
    Ok(())
}

fn progress_bar(visible: bool, total: u64) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_message("users, projects, tasks, payments");
    if let Ok(style) = ProgressStyle::with_template(
        "generating {msg} [{bar:30}] {percent:>3}% {human_pos}/{human_len} rows {elapsed}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
