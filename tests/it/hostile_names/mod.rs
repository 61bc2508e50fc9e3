//! Hostile names: a schema, tables, a column, indexes and constraints whose names hold newlines,
//! quotes, `*/`, `--`, backslashes, single quotes, terminal escapes, XML specials and 63 bytes of
//! multi-byte characters, through migrate apply, plan, apply, migrate status, lint (every output
//! format), check and advise --write-migration. A canary table must survive every command, every
//! output must keep its format, and every generated SQL file must hold exactly the statements
//! pgwarden meant. One module per group of commands, each on a database of its own.

mod advise;
mod commands;
mod outputs;

use crate::common::*;
use std::path::Path;
use std::time::{Duration, Instant};

const SCHEMA: &str = "s\"ch\nema */ -- \\ 'ß";
const PARENT: &str = "p\"arent\n*/ 'ü";
const CHILD: &str = "t\"ab\nle; */ -- \\ 'é";
const COLUMN: &str = "c\"ol\n*/ -- \\ '€";
/// Also a terminal colour sequence, a carriage return, a bell and XML specials.
const INDEX: &str = "i\"dx\n*/ -- \\ '<&>\u{1b}[31m\r\u{7}ñ";
/// The injection: a newline ends a `--` comment and the rest runs.
const FK: &str = "f\nDROP TABLE victim; --";
/// 21 x '€': exactly 63 bytes (PostgreSQL's longest name), every character three bytes.
const EURO: &str = "€€€€€€€€€€€€€€€€€€€€€";
const EURO_FK: &str = "*/ DROP TABLE victim; /*";
/// Left INVALID by a failed concurrent build (and clears the screen if printed raw).
const BROKEN: &str = "b\n*/; DROP TABLE victim; --\u{1b}[2J";
const UNEXPECTED: &str = "u\n; DROP TABLE victim; --";
const QUERY: &str = "q\"uery\n*/ -- \\ '<&>\u{1b}]0;pwned\u{7}";

/// The test's own identifier quoting (independent of pgwarden's).
fn q(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn in_schema(name: &str) -> String {
    format!("{}.{}", q(SCHEMA), q(name))
}

fn base_sql() -> String {
    format!(
        "CREATE TABLE victim (id int PRIMARY KEY, note text);\n\
         INSERT INTO victim VALUES (1, 'canary');\n\
         CREATE SCHEMA {s};\n\
         CREATE TABLE {p} (id int PRIMARY KEY);\n\
         INSERT INTO {p} SELECT generate_series(1, 10);\n\
         CREATE TABLE {c} (id int PRIMARY KEY, {col} int, note text,\n  CONSTRAINT {fk} FOREIGN KEY ({col}) REFERENCES {p} (id));\n\
         INSERT INTO {c} SELECT g, 1 + g % 10, 'n' || g FROM generate_series(1, 100) g;\n\
         CREATE TABLE {e} (id int PRIMARY KEY, {ecol} int CONSTRAINT {efk} REFERENCES {p} (id));\n\
         INSERT INTO {e} SELECT g, 1 + g % 10 FROM generate_series(1, 50) g;\n",
        s = q(SCHEMA),
        p = in_schema(PARENT),
        c = in_schema(CHILD),
        col = q(COLUMN),
        fk = q(FK),
        e = in_schema(EURO),
        ecol = q(EURO),
        efk = q(EURO_FK),
    )
}

fn policy_text() -> String {
    let sql = format!(
        "SELECT count(*) FROM {} WHERE {} = $1",
        in_schema(CHILD),
        q(COLUMN)
    );
    format!(
        "version = 1\n[lint]\nindex_name_pattern = \"^idx_\"\n[[query]]\nname = {}\nsql = {}\nparams = [[3]]\n",
        toml_string(QUERY),
        toml_string(&sql)
    )
}

fn assert_canary(db: &TestDb, after: &str) {
    let exists: bool = db.scalar("SELECT to_regclass('public.victim') IS NOT NULL");
    assert!(exists, "the canary table is gone after {after}");
    let rows: i64 = db.scalar("SELECT count(*) FROM public.victim WHERE note = 'canary'");
    assert_eq!(rows, 1, "the canary row is gone after {after}");
}

/// Human output: no control character but the layout's newlines and tabs (no ESC, CR, BEL).
fn assert_terminal_safe(what: &str, out: &std::process::Output) {
    for (stream, text) in [("stdout", stdout(out)), ("stderr", stderr(out))] {
        if let Some(c) = text
            .chars()
            .find(|c| c.is_control() && *c != '\n' && *c != '\t')
        {
            panic!("{what}: {stream} holds the control character {c:?}:\n{text:?}");
        }
    }
}

/// Whether any string anywhere in `v` contains `needle` (JSON must carry names exactly).
fn json_contains(v: &serde_json::Value, needle: &str) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains(needle),
        serde_json::Value::Array(a) => a.iter().any(|x| json_contains(x, needle)),
        serde_json::Value::Object(o) => o.values().any(|x| json_contains(x, needle)),
        _ => false,
    }
}

fn rules(report: &serde_json::Value) -> Vec<String> {
    let mut r: Vec<String> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect();
    r.sort();
    r
}

/// Every statement of a list of changes, in order.
fn statements(changes: &serde_json::Value) -> Vec<String> {
    changes
        .as_array()
        .expect("a list of changes")
        .iter()
        .flat_map(|c| c["statements"].as_array().expect("statements").clone())
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// A generated SQL file holds exactly `expected` (in order): no line starts a `DROP TABLE`, and
/// split as pgwarden splits migrations, its statements are those and nothing else.
fn assert_file_holds(what: &str, path: &Path, expected: &[String]) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{what}: cannot read {}: {e}", path.display()));
    for line in text.lines() {
        assert!(
            !line
                .trim_start()
                .to_ascii_uppercase()
                .starts_with("DROP TABLE"),
            "{what}: a line of {} starts a DROP TABLE:\n{text:?}",
            path.display()
        );
    }
    let split = pgwarden::sql::split(&text)
        .unwrap_or_else(|e| panic!("{what}: {} does not split: {e}\n{text:?}", path.display()));
    let found: Vec<String> = split
        .statements
        .iter()
        .map(|s| s.text.trim().to_string())
        .collect();
    let expected: Vec<String> = expected
        .iter()
        .map(|s| s.trim().trim_end_matches(';').trim_end().to_string())
        .collect();
    assert!(
        !expected.is_empty(),
        "{what}: nothing was meant to be written"
    );
    assert_eq!(
        found,
        expected,
        "{what}: {} holds other statements than pgwarden meant:\n{text:?}",
        path.display()
    );
}

/// Waits until the statistics show writes on each of `tables` (in SCHEMA): fk-without-index
/// only fires on written tables. Backends publish their counters at exit or when forced.
fn wait_for_writes(db: &TestDb, tables: &[&str]) {
    let names: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    let mut c = db.client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_stat_user_tables WHERE schemaname::text = $1::text \
                 AND relname::text = ANY ($2::text[]) AND n_tup_ins + n_tup_upd + n_tup_del > 0",
                &[&SCHEMA, &names],
            )
            .unwrap()
            .get(0);
        if n == names.len() as i64 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the writes never reached pg_stat_user_tables"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `Some(valid)` when index `name` exists in SCHEMA.
fn index_state(db: &TestDb, name: &str) -> Option<bool> {
    db.client()
        .query_opt(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname::text = $1::text AND c.relname::text = $2::text",
            &[&SCHEMA, &name],
        )
        .unwrap()
        .map(|r| r.get(0))
}

/// Valid indexes of `schema`.`table` whose first key column is `column`.
fn leading_indexes(db: &TestDb, schema: &str, table: &str, column: &str) -> i64 {
    db.client()
        .query_one(
            "SELECT count(*) FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] \
             WHERE n.nspname::text = $1::text AND t.relname::text = $2::text AND a.attname::text = $3::text AND i.indisvalid",
            &[&schema, &table, &column],
        )
        .unwrap()
        .get(0)
}

/// A database migrated with the hostile base schema (V1) and the hostile index (V2), its
/// migrations directory and the hostile policy (`[lint]` pattern, a `[[query]]` on CHILD).
fn migrated(label: &str) -> (TestDb, tempfile::TempDir, tempfile::NamedTempFile) {
    assert_eq!((EURO.len(), EURO.chars().count()), (63, 21));
    let db = TestDb::new(label);
    let (base, index) = (
        base_sql(),
        format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} (note);\n",
            q(INDEX),
            in_schema(CHILD)
        ),
    );
    let dir = migrations_dir(&[
        ("V1__base.sql", base.as_str()),
        ("V2__index.sql", index.as_str()),
    ]);
    let policy = policy_file(&policy_text());
    db.run(
        dir.path(),
        &[
            "--policy",
            policy.path().to_str().unwrap(),
            "migrate",
            "apply",
        ],
        0,
    );
    assert_canary(&db, "migrate apply");
    assert_eq!(index_state(&db, INDEX), Some(true));
    (db, dir, policy)
}
