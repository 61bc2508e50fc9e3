//! Error messages from a real server: a failed migration names its file and keeps PostgreSQL's
//! message, detail, hint and SQLSTATE, each once; the library's `DbError` keeps them typed.

use crate::common::*;
use pgwarden::db::DbContext;
use postgres::error::SqlState;

const DUPLICATE: &str = "duplicate key value violates unique constraint \"t_pkey\"";

#[test]
fn a_failed_migration_names_its_file_and_keeps_the_detail_and_sqlstate_once() {
    let db = TestDb::new("errors_detail");
    let dir = migrations_dir(&[
        (
            "V1__t.sql",
            "CREATE TABLE t (id int PRIMARY KEY);\nINSERT INTO t VALUES (1);\n",
        ),
        (
            "V2__duplicate.sql",
            "INSERT INTO t VALUES (2);\nINSERT INTO t VALUES (1);\n",
        ),
    ]);
    let out = db.run(dir.path(), &["migrate", "apply"], 2);
    let err = stderr(&out);
    assert!(
        err.contains("migration V2__duplicate.sql was rolled back: statement at line 2 failed"),
        "{err}"
    );
    assert!(err.contains(DUPLICATE), "{err}");
    assert!(err.contains("(SQLSTATE 23505)"), "{err}");
    assert!(
        err.contains("detail: Key (id)=(1) already exists."),
        "{err}"
    );
    assert!(
        err.contains("INSERT INTO t VALUES (1)"),
        "the statement: {err}"
    );
    // Regression: the error chain must not print PostgreSQL's message a second time.
    assert_eq!(err.matches(DUPLICATE).count(), 1, "{err}");
    assert_eq!(err.matches("already exists").count(), 1, "{err}");
}

#[test]
fn a_failed_migration_keeps_the_servers_hint() {
    let db = TestDb::new("errors_hint");
    let dir = migrations_dir(&[("V1__call.sql", "SELECT no_such_function(1);\n")]);
    let out = db.run(dir.path(), &["--format", "json", "migrate", "apply"], 2);
    let err = stderr(&out);
    let message = "function no_such_function(integer) does not exist";
    assert!(
        err.contains("migration V1__call.sql was rolled back"),
        "{err}"
    );
    assert!(
        err.contains(message) && err.contains("(SQLSTATE 42883)"),
        "{err}"
    );
    assert!(
        err.contains("hint: No function matches the given name and argument types."),
        "{err}"
    );
    assert_eq!(err.matches(message).count(), 1, "{err}");
    // The report says the same.
    let failure = &json(&out)["failure"];
    assert_eq!(failure["file"], "V1__call.sql");
    assert_eq!(
        format!("error: {}\n", failure["error"].as_str().unwrap()),
        err
    );
}

#[test]
fn a_db_error_keeps_the_servers_sqlstate_detail_and_hint() {
    let db = TestDb::new("errors_typed");
    let mut client = db.client();
    let err = client
        .batch_execute("SELECT no_such_function(1)")
        .db_context(|| "calling a function")
        .expect_err("no such function");
    assert_eq!(err.sqlstate(), Some(&SqlState::UNDEFINED_FUNCTION));
    assert_eq!(
        err.server_message(),
        Some("function no_such_function(integer) does not exist")
    );
    assert!(
        err.hint()
            .is_some_and(|h| h.starts_with("No function matches"))
    );
    assert_eq!(err.detail(), None);
    assert!(
        err.to_string().starts_with(
            "calling a function: function no_such_function(integer) does not exist (SQLSTATE 42883); hint: "
        ),
        "{err}"
    );
}

/// A failed connection's hint names where the connection string came from: a fleet target's
/// entry, `--direct-url`, `--replica`, not `--database-url`, which the user did not give.
#[test]
fn a_failed_connection_names_where_its_url_came_from() {
    let db = TestDb::new("errors_origin");
    let dir = migrations_dir(&[("V1__t.sql", "CREATE TABLE t (id int);\n")]);
    // A wrong password in a targets file's entry.
    let wrong_password = {
        let (head, tail) = db.url.rsplit_once('@').unwrap();
        let user = &head[..head.rfind(':').unwrap()];
        format!("{user}:not-the-password@{tail}")
    };
    let targets = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(targets.path(), format!("shard_a = {wrong_password}\n")).unwrap();
    let state = tempfile::tempdir().unwrap();
    let out = crate::fleet::fleet(
        dir.path(),
        targets.path(),
        &state.path().join("ledger.json"),
        &["migrate", "apply"],
    );
    let text = stdout(&out);
    assert!(
        text.contains("check the user and password in the URL of target shard_a in "),
        "{text}"
    );
    // A database that does not exist, named by --direct-url.
    let missing = db.url.replace(&db.name, "no_such_database");
    let out = db.run(
        dir.path(),
        &["migrate", "apply", "--direct-url", &missing],
        2,
    );
    assert!(
        stderr(&out).contains("check the database name in --direct-url (or PGWARDEN_DIRECT_URL)"),
        "{}",
        stderr(&out)
    );
}
