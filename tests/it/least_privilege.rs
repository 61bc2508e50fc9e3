//! Least privilege: a role that owns its schema, is not a superuser and lacks
//! `pg_read_all_stats` runs every command: migrate apply and status, plan, apply, check, lint.

use crate::common::*;

const V1: &str = "CREATE TABLE items (id bigint PRIMARY KEY, owner_id bigint, note text);\n\
INSERT INTO items SELECT g, g % 50, 'n' FROM generate_series(1, 2000) g;\n";
const V2: &str = "CREATE INDEX CONCURRENTLY items_owner ON items (owner_id);\n";

#[test]
fn a_schema_owner_without_superuser_runs_every_command() {
    let db = TestDb::new("least_priv");
    let role = format!("pgw_owner_{}", db.name);
    let password = "owner-pw";
    // The schema is named after the role, so the default search_path ("$user", public) puts
    // the role's objects (and pgwarden's history table) there; PostgreSQL 15's public schema
    // does not let it create anything.
    db.client()
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{password}'; \
             CREATE SCHEMA {role} AUTHORIZATION {role};"
        ))
        .unwrap();
    let url = format!(
        "postgres://{role}:{password}@127.0.0.1:{}/{}?sslmode=disable",
        server().port(),
        db.name
    );
    let facts: (bool, bool) = {
        let mut c = pgwarden::db::ConnectionTarget::from_url(&url)
            .unwrap()
            .connect()
            .unwrap();
        let r = c
            .query_one(
                "SELECT rolsuper, pg_has_role('pg_read_all_stats', 'USAGE') FROM pg_roles \
                 WHERE rolname = current_user",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(
        facts,
        (false, false),
        "the role is neither superuser nor a stats reader"
    );
    let dir = migrations_dir(&[("V1__items.sql", V1), ("V2__owner_index.sql", V2)]);
    let policy = policy_file(
        "version = 1\n[budget]\nmean_ms = 10000\n[[query]]\nname = \"by_owner\"\n\
         sql = \"SELECT count(*) FROM items WHERE owner_id = $1\"\nparams = [[7]]\n",
    );
    let run = |args: &[&str], code: i32| {
        let out = pgwarden()
            .args(["--database-url", &url, "--migrations"])
            .arg(dir.path())
            .arg("--policy")
            .arg(policy.path())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        out
    };
    run(&["migrate", "apply"], 0);
    run(&["migrate", "status"], 0);
    run(&["migrate", "verify"], 0);
    run(&["plan"], 0);
    // Drift made by hand, found and fixed by the same role.
    {
        let mut c = pgwarden::db::ConnectionTarget::from_url(&url)
            .unwrap()
            .connect()
            .unwrap();
        c.batch_execute("DROP INDEX items_owner").unwrap();
    }
    run(&["plan"], 1);
    run(&["apply", "--yes"], 0);
    run(&["plan"], 0);
    run(&["check"], 0);
    run(&["check", "--mode", "explain"], 0);
    run(&["lint"], 0);
    let valid: bool = db.scalar(&format!(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = '{role}.items_owner'::regclass"
    ));
    assert!(valid);
}
