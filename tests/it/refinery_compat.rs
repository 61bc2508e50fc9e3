//! pgwarden and refinery share the history table, file naming and checksums: a database
//! migrated by one shows nothing pending or divergent to the other.

use crate::common::*;
use refinery::Runner;
use refinery_core::load_sql_migrations;

fn refinery_runner(dir: &std::path::Path) -> Runner {
    Runner::new(&load_sql_migrations(dir).expect("refinery reads the directory"))
}

#[test]
fn refinery_sees_nothing_to_do_after_pgwarden() {
    let db = TestDb::new("pgw_then_ref");
    db.run(&shipped_migrations(), &["migrate", "apply"], 0);

    let mut client = db.client();
    let runner = refinery_runner(&shipped_migrations());
    let applied = runner
        .get_applied_migrations(&mut client)
        .expect("refinery reads pgwarden's rows");
    assert_eq!(applied.len(), 5);
    for (row, file) in applied.iter().zip(runner.get_migrations()) {
        assert_eq!(row.checksum(), file.checksum(), "{row}");
        assert_eq!(row.name(), file.name());
    }
    // refinery's own verification (abort on divergent or missing) passes and applies nothing.
    let report = runner
        .run(&mut client)
        .expect("refinery finds no divergence");
    assert!(report.applied_migrations().is_empty());
}

#[test]
fn pgwarden_sees_nothing_to_do_after_refinery() {
    let db = TestDb::new("ref_then_pgw");
    let dir = migrations_dir(&[
        (
            "V1__base.sql",
            "CREATE TABLE items (id int PRIMARY KEY, status text);\n",
        ),
        (
            "V2__index.sql",
            "CREATE INDEX items_status ON items (status);\n",
        ),
    ]);
    let mut client = db.client();
    let report = refinery_runner(dir.path())
        .run(&mut client)
        .expect("refinery applies");
    assert_eq!(report.applied_migrations().len(), 2);

    let status = db
        .pgwarden(dir.path())
        .args(["--format", "json", "migrate", "status"])
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(0), "{}", stdout(&status));
    let verify = db
        .pgwarden(dir.path())
        .args(["migrate", "verify"])
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));

    // pgwarden continues where refinery stopped, with a migration refinery could not run.
    write(
        dir.path(),
        "V3__concurrent.sql",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_id_status ON items (id, status);\n",
    );
    let out = db.run(dir.path(), &["--format", "json", "migrate", "apply"], 0);
    assert_eq!(json(&out)["migrations"].as_array().unwrap().len(), 1);
    let again = refinery_runner(dir.path())
        .run(&mut client)
        .expect("refinery accepts pgwarden's row");
    assert!(again.applied_migrations().is_empty());
}
