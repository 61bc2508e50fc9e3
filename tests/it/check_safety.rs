//! `check` never changes data: a workload query is exactly one statement (a second one, which
//! could end the READ ONLY transaction with a COMMIT, is an error naming the query, in every
//! mode), while trailing comments and semicolons inside strings or comments keep working.
//! Stats mode as a role without pg_read_all_stats skips the rows it cannot see and says so.

use crate::common::*;
use std::path::Path;

const DOCS: &str = "CREATE TABLE docs (id int PRIMARY KEY, body text); \
INSERT INTO docs SELECT g, 'doc ' || g FROM generate_series(1, 100) g;";

fn docs_db(label: &str) -> TestDb {
    let db = TestDb::new(label);
    db.client().batch_execute(DOCS).unwrap();
    db
}

fn check(db: &TestDb, policy: &Path, extra: &[&str]) -> std::process::Output {
    db.pgwarden(&shipped_migrations())
        .arg("--policy")
        .arg(policy)
        .args(["--format", "json", "check"])
        .args(extra)
        .output()
        .unwrap()
}

fn docs_rows(db: &TestDb) -> i64 {
    db.scalar("SELECT count(*) FROM docs")
}

/// The query is named as the error: in the message on stderr, or as the failed query of the
/// JSON report.
fn reported_as_error(out: &std::process::Output, name: &str) -> bool {
    if stderr(out).contains(name) {
        return true;
    }
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|r| r["queries"].as_array().cloned())
        .is_some_and(|qs| {
            qs.iter()
                .any(|q| q["name"] == name && q["error"].is_string())
        })
}

#[test]
fn a_second_statement_is_an_error_naming_the_query_and_changes_nothing() {
    let db = docs_db("multi_statement");
    let cases = [
        ("sneaky_commit", "SELECT 1; COMMIT; DELETE FROM docs", false),
        (
            "sneaky_commit_allowed",
            "SELECT 1; COMMIT; DELETE FROM docs",
            true,
        ),
        (
            "sneaky_rollback",
            "SELECT count(*) FROM docs; ROLLBACK; DELETE FROM docs",
            false,
        ),
        (
            "after_a_comment",
            "SELECT 1 -- harmless\n; DELETE FROM docs",
            false,
        ),
        ("sneaky_end", "SELECT 1; END; TRUNCATE docs", false),
        // PostgreSQL reads `$→$'$→$` as a string: the statements after it are real. Found by
        // a hostile review (sqlparser knew letters-only tags).
        (
            "unicode_dollar_tag",
            "SELECT count(*) FROM docs WHERE body <> $→$'$→$; COMMIT; DELETE FROM docs; BEGIN /*'*/",
            false,
        ),
    ];
    for (name, sql, allow_writes) in cases {
        let policy = policy_file(&format!(
            "version = 1\n[[query]]\nname = {}\nsql = {}\nallow_writes = {allow_writes}\n",
            toml_string(name),
            toml_string(sql)
        ));
        for mode in ["analyze", "explain"] {
            let out = check(&db, policy.path(), &["--mode", mode]);
            let ctx = format!("{name} ({mode})");
            assert_eq!(
                out.status.code(),
                Some(2),
                "{ctx}: {}\n{}",
                stderr(&out),
                stdout(&out)
            );
            assert!(
                reported_as_error(&out, name),
                "{ctx}: the query is not named: {}\n{}",
                stderr(&out),
                stdout(&out)
            );
            assert!(!stderr(&out).contains("panicked"), "{ctx}");
            assert_eq!(docs_rows(&db), 100, "{ctx}: the rows of docs changed");
        }
    }
}

/// With `standard_conforming_strings = off` in the database, `'x\' --'` ends a string for
/// PostgreSQL but not for a standard tokenizer: pgwarden's sessions read strings the standard
/// way, so the hidden statements are never run.
#[test]
fn a_string_read_differently_off_standard_conforming_strings_hides_nothing() {
    let db = docs_db("scs_off");
    db.client()
        .batch_execute(&format!(
            "ALTER DATABASE {} SET standard_conforming_strings = off",
            db.name
        ))
        .unwrap();
    let sql = "SELECT 'x\\' --'; COMMIT; DELETE FROM docs; COMMIT; SELECT 1 AS y\n, 2 AS z";
    let policy = policy_file(&format!(
        "version = 1\n[budget]\nmean_ms = 100\n[[query]]\nname = \"scs\"\nsql = {}\n",
        toml_string(sql)
    ));
    for mode in ["explain", "analyze"] {
        let out = check(&db, policy.path(), &["--mode", mode]);
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        assert_eq!(docs_rows(&db), 100, "{mode}: the rows survive");
    }
    // Migrations run with standard strings too: the runner says so on such a database.
    let dir = migrations_dir(&[("V1__note.sql", "CREATE TABLE notes (t text);\n")]);
    let out = db.run(dir.path(), &["migrate", "apply"], 0);
    assert!(
        stderr(&out).contains("standard_conforming_strings = off"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn one_statement_with_comments_or_semicolons_in_strings_still_runs() {
    let db = docs_db("one_statement");
    let queries = [
        ("trailing_comment", "SELECT count(*) FROM docs -- trailing"),
        ("comment_after_semicolon", "SELECT 1; -- comment only after"),
        ("trailing_semicolon", "SELECT count(*) FROM docs;"),
        (
            "semicolon_in_string",
            "SELECT count(*) FROM docs WHERE body <> 'a; DELETE FROM docs'",
        ),
        (
            "semicolon_in_comment",
            "SELECT count(*) FROM docs /* ; DELETE FROM docs */ WHERE id > $1",
        ),
    ];
    let mut text = String::from("version = 1\n");
    for (name, sql) in queries {
        text.push_str(&format!(
            "[[query]]\nname = {}\nsql = {}\n",
            toml_string(name),
            toml_string(sql)
        ));
        if sql.contains("$1") {
            text.push_str("params = [[10]]\n");
        }
    }
    let policy = policy_file(&text);
    for mode in ["analyze", "explain"] {
        let out = check(&db, policy.path(), &["--mode", mode]);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{mode}: {}\n{}",
            stderr(&out),
            stdout(&out)
        );
        let report = json(&out);
        assert_eq!(report["errors"], 0, "{mode}: {report:#}");
        let checked = report["queries"].as_array().unwrap();
        assert_eq!(checked.len(), queries.len(), "{report:#}");
        for q in checked {
            assert!(
                q["error"].is_null() && !q["verdict"].is_null(),
                "{mode}: {q:#}"
            );
        }
        assert_eq!(docs_rows(&db), 100, "{mode}");
    }
}

#[test]
fn stats_mode_as_a_role_without_pg_read_all_stats_skips_hidden_rows_and_says_so() {
    let db = TestDb::new("stats_low");
    let role = format!("pgw_low_{}", db.name);
    let password = "low-role-pw";
    let mut admin = db.client();
    admin
        .batch_execute(&format!(
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; \
             CREATE ROLE {role} LOGIN PASSWORD '{password}'; \
             CREATE SCHEMA app AUTHORIZATION {role}; \
             CREATE TABLE public.admin_only (x int);"
        ))
        .unwrap();
    // Another role's statements (the superuser's): hidden from the low role.
    for _ in 0..6 {
        admin
            .batch_execute("SELECT count(*) FROM public.admin_only")
            .unwrap();
        admin
            .batch_execute("SELECT pg_sleep(0.001), 'admin_marker'")
            .unwrap();
    }
    drop(admin);
    let url = format!(
        "postgres://{role}:{password}@127.0.0.1:{}/{}?sslmode=disable",
        server().port(),
        db.name
    );
    let mut low = pgwarden::db::ConnectionTarget::from_url(&url)
        .unwrap()
        .connect()
        .expect("connect as the low role");
    low.batch_execute("CREATE TABLE app.items (id int); INSERT INTO app.items VALUES (1);")
        .unwrap();
    for _ in 0..6 {
        low.batch_execute("SELECT count(*) FROM app.items").unwrap();
    }
    let is_member: bool = low
        .query_one("SELECT pg_has_role('pg_read_all_stats', 'USAGE')", &[])
        .unwrap()
        .get(0);
    assert!(!is_member, "the role must lack pg_read_all_stats");
    let hidden: i64 = low
        .query_one(
            "SELECT count(*) FROM pg_stat_statements WHERE queryid IS NULL \
             AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(hidden > 0, "the setup needs rows the role cannot see");
    drop(low);

    let policy = policy_file("version = 1\n[budget]\nmean_ms = 100\n[stats]\nmin_calls = 1\n");
    for format in ["json", "human"] {
        let out = pgwarden()
            .args(["--database-url", &url, "--policy"])
            .arg(policy.path())
            .args(["--format", format, "check", "--mode", "stats"])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{format}: {err}");
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{format}: {err}\n{}",
            stdout(&out)
        );
        let all = format!("{}\n{err}", stdout(&out));
        assert!(
            all.contains("pg_read_all_stats"),
            "{format}: the hidden statements and the grant that shows them are named:\n{all}"
        );
        if format == "json" {
            let report = json(&out);
            assert!(
                report["queries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|q| q["sql"].as_str().is_some_and(|s| s.contains("app.items"))),
                "the role's own statements are still judged: {report:#}"
            );
        }
    }
}

/// The same text as an `advise --sql` workload: refused before anything runs, the file and
/// the fix named.
#[test]
fn advise_refuses_a_workload_file_read_differently_by_postgresql() {
    let db = docs_db("advise_dollar_tag");
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("w.sql");
    std::fs::write(
        &sql,
        "SELECT count(*) FROM docs WHERE body <> $→$'$→$; COMMIT; DELETE FROM docs; BEGIN /*'*/;\n",
    )
    .unwrap();
    let policy = policy_file("version = 1\n[budget]\nmean_ms = 0.001\n");
    let out = db
        .pgwarden(&shipped_migrations())
        .arg("--policy")
        .arg(policy.path())
        .args(["advise", "--no-sample-copy", "--sql"])
        .arg(&sql)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("w.sql") && stderr(&out).contains("dollar quote"),
        "{}",
        stderr(&out)
    );
    assert_eq!(docs_rows(&db), 100);
}
