//! `pgwarden doctor` against real servers: a superuser, a role without privileges, a server
//! without pg_stat_statements preloaded, server binaries of another major version; and a
//! throwaway server asked for a major version that is not installed.

use crate::common::*;
use pgwarden::ephemeral::{EphemeralOptions, EphemeralServer};
use std::os::unix::fs::PermissionsExt;

fn doctor(url: &str, extra: &[&str]) -> (i32, serde_json::Value, String) {
    let dir = migrations_dir(&[("V1__a.sql", "CREATE TABLE a (id int);")]);
    let out = pgwarden()
        .args(["--database-url", url, "--migrations"])
        .arg(dir.path())
        .args(extra)
        .args(["--format", "json", "doctor"])
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    assert_ne!(code, 2, "{}", stderr(&out));
    (code, json(&out), stderr(&out))
}

/// capability -> the whole diagnosis.
fn check<'a>(report: &'a serde_json::Value, capability: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["capability"] == capability)
        .unwrap_or_else(|| panic!("no {capability} in {report:#}"))
}

#[test]
fn a_superuser_on_a_full_server_can_run_everything_and_gets_notes_for_extensions() {
    let db = TestDb::new("doctor_super");
    let (code, report, _) = doctor(&db.url, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["server"]["superuser"], true);
    assert_eq!(check(&report, "server binaries")["status"], "ok");
    assert_eq!(check(&report, "DDL privilege")["status"], "ok");
    let history = check(&report, "history table");
    assert!(
        history["detail"]
            .as_str()
            .unwrap()
            .contains("not created yet"),
        "{history:#}"
    );
    let folder = check(&report, "migrations folder");
    assert_eq!(folder["status"], "ok");
    assert!(
        folder["detail"].as_str().unwrap().ends_with("1 pending"),
        "{folder:#}"
    );
    // Preloaded by the test server but not created in this database: a note with the fix.
    let pss = check(&report, "pg_stat_statements");
    assert_eq!(pss["status"], "note", "{pss:#}");
    assert_eq!(
        pss["fix"],
        "CREATE EXTENSION pg_stat_statements (as a superuser)"
    );
    let hypopg = check(&report, "hypopg");
    assert_eq!(hypopg["status"], "note");
    assert_eq!(hypopg["fix"], "CREATE EXTENSION hypopg (as a superuser)");

    db.client()
        .batch_execute(
            "CREATE EXTENSION pg_stat_statements; CREATE EXTENSION hypopg; \
             CREATE TABLE t (v int); INSERT INTO t VALUES (1), (1);",
        )
        .unwrap();
    // An INVALID index, as a failed concurrent build leaves it.
    let _ = db
        .client()
        .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY t_v ON t (v)");
    let (code, report, _) = doctor(&db.url, &[]);
    assert_eq!(code, 0, "notes do not change the exit: {report:#}");
    assert_eq!(check(&report, "pg_stat_statements")["status"], "ok");
    assert_eq!(check(&report, "hypopg")["status"], "ok");
    let invalid = check(&report, "INVALID indexes");
    assert_eq!(invalid["status"], "note");
    assert_eq!(invalid["detail"], "\"public\".\"t_v\"");
}

#[test]
fn a_role_without_privileges_is_told_each_gap_and_its_grant() {
    let db = TestDb::new("doctor_role");
    let role = format!("doctor_{}", db.name);
    db.client()
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'pw'; \
             ALTER ROLE {role} SET statement_timeout = '30s';"
        ))
        .unwrap();
    let url = format!(
        "postgres://{role}:pw@127.0.0.1:{}/{}?sslmode=disable",
        server().port(),
        db.name
    );
    let (code, report, _) = doctor(&url, &[]);
    // PostgreSQL 15's public schema lets nobody but its owner create: migrations cannot run.
    assert_eq!(code, 1, "{report:#}");
    // The whole verdict for this role, pinned (machine-specific details left out).
    let verdict: Vec<serde_json::Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["capability"] != "server binaries")
        .map(|c| {
            serde_json::json!({
                "capability": c["capability"],
                "status": c["status"],
                "affects": c["affects"],
                "fix": c["fix"],
            })
        })
        .collect();
    let verdict = serde_json::to_string_pretty(&verdict)
        .unwrap()
        .replace(&role, "ROLE");
    insta::assert_snapshot!("doctor_restricted_role", verdict);
    let ddl = check(&report, "DDL privilege");
    assert_eq!(ddl["status"], "limited");
    assert_eq!(
        ddl["fix"],
        format!(
            "GRANT CREATE ON SCHEMA \"public\" TO \"{role}\", or run migrations as the schema's owner"
        )
    );
    assert_eq!(
        ddl["affects"],
        serde_json::json!(["migrate apply", "apply"])
    );
    let stats = check(&report, "pg_read_all_stats");
    assert_eq!(stats["status"], "note");
    assert_eq!(
        stats["fix"],
        format!("GRANT pg_read_all_stats TO \"{role}\"")
    );
    assert!(
        check(&report, "pg_stat_statements")["fix"]
            .as_str()
            .unwrap()
            .contains("GRANT pg_read_all_stats"),
        "{report:#}"
    );
    let timeouts = check(&report, "inherited timeouts");
    assert_eq!(timeouts["status"], "note");
    assert!(
        timeouts["detail"]
            .as_str()
            .unwrap()
            .contains("statement_timeout = 30000ms (from the user)"),
        "{timeouts:#}"
    );
    // The table shows the same, with the fix beside the gap.
    let human = pgwarden()
        .args(["--database-url", &url, "doctor"])
        .env("COLUMNS", "200")
        .output()
        .unwrap();
    assert_eq!(human.status.code(), Some(1));
    let text = stdout(&human);
    assert!(text.contains("LIMITED"), "{text}");
    assert!(text.contains("limited (apply, migrate apply)"), "{text}");

    db.client()
        .batch_execute(&format!("GRANT CREATE ON SCHEMA public TO {role}"))
        .unwrap();
    let (code, report, _) = doctor(&url, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(check(&report, "DDL privilege")["status"], "ok");
}

#[test]
fn a_server_without_pg_stat_statements_preloaded_is_told_to_preload_it() {
    let bare = EphemeralServer::start_with(&EphemeralOptions {
        extra_conf: vec!["shared_preload_libraries = ''".into()],
        ..Default::default()
    })
    .unwrap();
    bare.create_database("doctor_bare").unwrap();
    let (code, report, _) = doctor(&bare.url("doctor_bare"), &[]);
    assert_eq!(code, 0, "optional: {report:#}");
    let pss = check(&report, "pg_stat_statements");
    assert_eq!(pss["status"], "note");
    assert!(
        pss["detail"].as_str().unwrap().contains("preloaded: no")
            && pss["fix"]
                .as_str()
                .unwrap()
                .starts_with("add pg_stat_statements to shared_preload_libraries"),
        "{pss:#}"
    );
    assert_eq!(
        pss["affects"],
        serde_json::json!(["check --mode stats", "advise --from-stats"])
    );
}

/// A directory that looks like PostgreSQL `major`'s binaries: scripts that print its version
/// (a fixture for the wrong-version error path only; nothing is started from it).
fn fake_bindir(major: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["initdb", "pg_ctl", "postgres"] {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho \"{name} (PostgreSQL) {major}.4\"\n"),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

#[test]
fn server_binaries_of_another_major_version_are_a_limit_and_a_clear_error() {
    let db = TestDb::new("doctor_major");
    let fake = fake_bindir(11);
    let bindir = fake.path().to_str().unwrap().to_string();
    let (code, report, _) = doctor(&db.url, &["--pg-bindir", &bindir]);
    assert_eq!(code, 1, "{report:#}");
    let bins = check(&report, "server binaries");
    assert_eq!(bins["status"], "limited");
    let fix = bins["fix"].as_str().unwrap();
    assert!(
        fix.contains("the target runs PostgreSQL 15")
            && fix.contains(&format!("11 ({bindir})"))
            && fix.contains("apt-get install postgresql-15"),
        "{fix}"
    );
    assert_eq!(
        bins["affects"],
        serde_json::json!(["plan", "ci", "advise --throwaway"])
    );

    // plan replays the migrations on a throwaway server of the target's version: refused,
    // naming the versions, exit 2, before anything starts.
    let dir = migrations_dir(&[("V1__a.sql", "CREATE TABLE a (id int);")]);
    let out = db
        .pgwarden(dir.path())
        .args(["plan"])
        .env("PGWARDEN_PG_BINDIR", &bindir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("the target runs PostgreSQL 15 but the local server binaries are 11"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}

#[test]
fn a_history_table_this_role_cannot_use_is_a_limit_not_a_crash() {
    let db = TestDb::new("doctor_history");
    let role = format!("doctor_{}", db.name);
    let dir = migrations_dir(&[("V1__a.sql", "CREATE TABLE a (id int);")]);
    db.run(dir.path(), &["migrate", "apply"], 0);
    db.client()
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'pw'; GRANT CREATE ON SCHEMA public TO {role}; \
             GRANT SELECT ON refinery_schema_history TO {role};"
        ))
        .unwrap();
    let url = format!(
        "postgres://{role}:pw@127.0.0.1:{}/{}?sslmode=disable",
        server().port(),
        db.name
    );
    // SELECT without INSERT: `migrate apply` could not record anything.
    let (code, report, _) = doctor(&url, &[]);
    assert_eq!(code, 1, "{report:#}");
    let history = check(&report, "history table");
    assert_eq!(history["status"], "limited");
    assert!(
        history["detail"].as_str().unwrap().contains("lacks INSERT"),
        "{history:#}"
    );
    // Moved out of the role's search_path: found elsewhere, never "not created yet".
    db.client()
        .batch_execute(&format!(
            "CREATE SCHEMA hist; ALTER TABLE refinery_schema_history SET SCHEMA hist; \
             GRANT USAGE ON SCHEMA hist TO {role};"
        ))
        .unwrap();
    let (code, report, _) = doctor(&url, &[]);
    assert_eq!(code, 1, "{report:#}");
    let history = check(&report, "history table");
    assert!(
        history["detail"]
            .as_str()
            .unwrap()
            .contains("exists as hist.refinery_schema_history"),
        "{history:#}"
    );
    // No migrations folder: lint and migrate cannot run.
    let out = pgwarden()
        .args([
            "--database-url",
            &db.url,
            "--migrations",
            "/nonexistent/migrations",
        ])
        .args(["--format", "json", "doctor"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(check(&report, "migrations folder")["status"], "limited");
}
