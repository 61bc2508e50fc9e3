//! `apply` never leaves a half-written fix: a swap whose drop cannot get its lock fails with the
//! database and the migrations folder in a state `migrate apply` completes and `plan` accepts;
//! `q` at the prompt applies nothing, not even what was accepted before it.

use crate::common::*;
use pgwarden::commands::apply::{Answer, ApplyChangesOptions, apply};

const BASE: &str = "CREATE TABLE items (id int PRIMARY KEY, owner_id int, qty int);\n\
INSERT INTO items SELECT g, g % 40, g % 7 FROM generate_series(1, 5000) g;\n";
const WANTED: &str = "CREATE INDEX CONCURRENTLY items_owner ON items (owner_id);\n\
CREATE INDEX CONCURRENTLY items_qty ON items (qty);\n";

fn migrated(label: &str) -> (TestDb, tempfile::TempDir) {
    let db = TestDb::new(label);
    let dir = migrations_dir(&[("V1__base.sql", BASE), ("V2__wanted.sql", WANTED)]);
    db.run(dir.path(), &["migrate", "apply"], 0);
    (db, dir)
}

#[test]
fn a_swap_whose_drop_times_out_is_finished_by_migrate_apply() {
    let (db, dir) = migrated("swap_fail");
    db.client()
        .batch_execute("DROP INDEX items_owner; CREATE INDEX items_owner ON items (owner_id, qty)")
        .unwrap();
    // A reader in an open transaction: DROP INDEX CONCURRENTLY waits for it (the new index's
    // concurrent build does not), so the swap's drop runs out of lock timeout and retries.
    let mut reader = db.client();
    reader
        .batch_execute("BEGIN; SELECT count(*) FROM items")
        .unwrap();
    let out = db.run(
        dir.path(),
        &[
            "apply",
            "--yes",
            "--allow-drop",
            "--lock-timeout",
            "200ms",
            "--retries",
            "1",
            "--retry-delay",
            "50ms",
        ],
        2,
    );
    assert!(stderr(&out).contains("lock"), "{}", stderr(&out));
    reader.batch_execute("ROLLBACK").unwrap();
    drop(reader);
    // Both indexes exist for now (the old one and the new one under its temporary name): the
    // table was never without the index.
    let both: i64 = db.scalar(
        "SELECT count(*) FROM pg_class WHERE relname IN ('items_owner', 'items_owner_pgw_new')",
    );
    assert_eq!(both, 2);
    // The recorded migration is pending; rerunning the deploy finishes the swap.
    db.run(dir.path(), &["migrate", "status"], 1);
    db.run(dir.path(), &["migrate", "apply"], 0);
    db.run(dir.path(), &["migrate", "status"], 0);
    let def: String = db.scalar("SELECT pg_get_indexdef('items_owner'::regclass)");
    assert!(def.ends_with("USING btree (owner_id)"), "{def}");
    let leftover: bool = db.scalar("SELECT to_regclass('items_owner_pgw_new') IS NOT NULL");
    assert!(!leftover);
    db.run(dir.path(), &["plan"], 0);
}

#[test]
fn quitting_at_the_prompt_applies_nothing() {
    let (db, dir) = migrated("apply_quit");
    db.client()
        .batch_execute("DROP INDEX items_owner; DROP INDEX items_qty")
        .unwrap();
    let before = db.catalog_snapshot();
    let (settings, opts) = interactive(&db, dir.path());
    // Yes to the first change, then quit.
    let mut answers = vec![Answer::Yes, Answer::Quit].into_iter();
    let report = apply(&settings, None, &opts, &mut |_| {
        answers.next().unwrap_or(Answer::Quit)
    })
    .unwrap();
    assert!(report.accepted.is_empty() && report.migration.is_none());
    assert_eq!(report.skipped.len(), 2, "{:?}", report.skipped);
    assert_eq!(pgwarden::report::Report::Apply(report).exit_code(), 1);
    assert_eq!(db.catalog_snapshot(), before, "nothing was built");
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 2, "no migration was written");
}

#[test]
fn declining_a_change_is_a_choice_not_an_error() {
    let (db, dir) = migrated("apply_decline");
    db.client()
        .batch_execute("DROP INDEX items_owner; DROP INDEX items_qty")
        .unwrap();
    let (settings, opts) = interactive(&db, dir.path());
    // No to the first change, yes to the second: one index is built, one skipped.
    let mut answers = vec![Answer::No, Answer::Yes].into_iter();
    let report = apply(&settings, None, &opts, &mut |_| {
        answers.next().unwrap_or(Answer::No)
    })
    .unwrap();
    assert_eq!(report.accepted.len(), 1);
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    let report = pgwarden::report::Report::Apply(report);
    assert_eq!(report.exit_code(), 1, "something was left undone");
    assert_eq!(report.error_message(), None, "a choice, not an error");
    let notice = report.notice().expect("the skip is said");
    assert_eq!(
        notice,
        "skipped 1 of 2 change(s) (1 declined at the prompt); applied 1"
    );
    let built: i64 = db
        .scalar("SELECT count(*) FROM pg_indexes WHERE indexname IN ('items_owner', 'items_qty')");
    assert_eq!(built, 1);
}

/// Settings of an interactive `apply` on `db` with the migrations in `dir`: every change is
/// asked about (no --yes, no --allow-drop).
fn interactive(
    db: &TestDb,
    dir: &std::path::Path,
) -> (pgwarden::settings::Settings, ApplyChangesOptions<'static>) {
    let settings = pgwarden::settings::Settings {
        database_url: Some(db.url.clone()),
        url_origin: None,
        format: pgwarden::cli::Format::Json,
        migrations_dir: dir.to_path_buf(),
        progress_bar: false,
        interactive: true,
        policy_path: "none.toml".into(),
        policy_explicit: false,
        pg_bindir: None,
        cache_dir: None,
    };
    let opts = ApplyChangesOptions {
        shadow_url: None,
        yes: false,
        dry_run: false,
        allow_drop: false,
        only: &[],
        exec: Default::default(),
        replicas: &[],
    };
    (settings, opts)
}
