//! Reviewed plans: `plan --output plan.json` then `apply --plan plan.json` runs exactly that
//! plan where the database still matches its fingerprint, refuses (exit 2, naming what changed)
//! where it does not, writes the migration once for a fleet of identical databases, refuses a
//! tampered file, and says so when the plan was already applied.

use crate::common::*;
use std::path::{Path, PathBuf};

const BASE: &str = "CREATE TABLE items (id int PRIMARY KEY, owner_id int, qty int);\n\
CREATE TABLE other (id int PRIMARY KEY, x int);\n\
INSERT INTO items SELECT g, g % 40, g % 7 FROM generate_series(1, 2000) g;\n";
const WANTED: &str = "CREATE INDEX CONCURRENTLY items_owner ON items (owner_id);\n\
CREATE INDEX CONCURRENTLY items_qty ON items (qty);\n";

/// A database migrated with BASE and WANTED, whose two wanted indexes were then dropped.
fn drifted(label: &str, dir: &Path) -> TestDb {
    let db = TestDb::new(label);
    db.run(dir, &["migrate", "apply"], 0);
    db.client()
        .batch_execute("DROP INDEX items_owner; DROP INDEX items_qty")
        .unwrap();
    db
}

fn dir() -> tempfile::TempDir {
    migrations_dir(&[("V1__base.sql", BASE), ("V2__wanted.sql", WANTED)])
}

/// `plan --output DIR/plan.json` on `db`: the plan file's path.
fn save_plan(db: &TestDb, dir: &Path, out: &Path) -> PathBuf {
    let path = out.join("plan.json");
    db.run(dir, &["plan", "--output", path.to_str().unwrap()], 1);
    path
}

fn apply_plan(
    db: &TestDb,
    dir: &Path,
    plan: &Path,
    extra: &[&str],
    code: i32,
) -> serde_json::Value {
    let mut args = vec![
        "--format",
        "json",
        "apply",
        "--plan",
        plan.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    json(&db.run(dir, &args, code))
}

fn sql_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    names.sort();
    names
}

fn index_exists(db: &TestDb, name: &str) -> bool {
    db.scalar(&format!("SELECT to_regclass('public.{name}') IS NOT NULL"))
}

#[test]
fn a_saved_plan_applies_exactly_its_changes_and_is_then_already_applied() {
    let dir = dir();
    let db = drifted("rplan_apply", dir.path());
    let out = tempfile::tempdir().unwrap();
    let plan = save_plan(&db, dir.path(), out.path());
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(file["kind"], "pgwarden-plan");
    assert_eq!(file["schema_version"], 1);
    assert_eq!(file["changes"].as_array().unwrap().len(), 2, "{file:#}");
    assert_eq!(
        file["fingerprint"]["tables"][0]["name"], "items",
        "{file:#}"
    );
    assert_eq!(
        file["fingerprint"]["migrations"].as_array().unwrap().len(),
        2
    );
    // A dry run verifies and writes nothing.
    let dry = apply_plan(&db, dir.path(), &plan, &["--dry-run"], 0);
    assert_eq!(dry["verdict"], "matches", "{dry:#}");
    assert_eq!(sql_files(dir.path()).len(), 2);
    assert!(!index_exists(&db, "items_owner"));

    let report = apply_plan(&db, dir.path(), &plan, &[], 0);
    assert_eq!(report["command"], "apply_plan");
    assert_eq!(report["verdict"], "matches", "{report:#}");
    assert_eq!(report["migration_reused"], false);
    assert!(index_exists(&db, "items_owner") && index_exists(&db, "items_qty"));
    assert_eq!(
        sql_files(dir.path()),
        vec!["V1__base.sql", "V2__wanted.sql", "V3__pgwarden_plan.sql"]
    );
    let written = std::fs::read_to_string(dir.path().join("V3__pgwarden_plan.sql")).unwrap();
    assert!(
        written.starts_with(&format!(
            "-- pgwarden:plan {}\n",
            file["plan_id"].as_str().unwrap()
        )),
        "{written}"
    );
    let recorded: i64 = db.scalar(
        "SELECT count(*) FROM refinery_schema_history WHERE version = 3 AND name = 'pgwarden_plan'",
    );
    assert_eq!(recorded, 1);
    db.run(dir.path(), &["plan"], 0);

    // The same plan again: its migration is recorded here, so it says so and changes nothing.
    let again = apply_plan(&db, dir.path(), &plan, &[], 0);
    assert_eq!(again["verdict"], "already_applied", "{again:#}");
    let human = db.run(dir.path(), &["apply", "--plan", plan.to_str().unwrap()], 0);
    assert!(
        stdout(&human).contains("already applied"),
        "{}",
        stdout(&human)
    );
    assert_eq!(sql_files(dir.path()).len(), 3);
}

#[test]
fn a_changed_index_on_a_touched_table_is_refused_and_named() {
    let dir = dir();
    let db = drifted("rplan_refuse", dir.path());
    let out = tempfile::tempdir().unwrap();
    let plan = save_plan(&db, dir.path(), out.path());
    db.client()
        .batch_execute("CREATE INDEX items_qty ON items (owner_id, qty); CREATE INDEX items_extra ON items (qty)")
        .unwrap();
    let run = db.run(dir.path(), &["apply", "--plan", plan.to_str().unwrap()], 2);
    let err = stderr(&run);
    assert!(err.contains("index public.items_qty: now exists"), "{err}");
    assert!(
        err.contains("index public.items_extra: now exists"),
        "{err}"
    );
    assert!(stdout(&run).contains("REFUSED"), "{}", stdout(&run));
    // Nothing applied, nothing written.
    assert!(!index_exists(&db, "items_owner"));
    assert_eq!(sql_files(dir.path()).len(), 2);
    let recorded: i64 = db.scalar("SELECT count(*) FROM refinery_schema_history");
    assert_eq!(recorded, 2);
    // A migration applied since is named too.
    write(dir.path(), "V3__more.sql", "CREATE TABLE more (id int);");
    db.run(dir.path(), &["migrate", "apply"], 0);
    let report = apply_plan(&db, dir.path(), &plan, &[], 2);
    let differences = report["differences"].to_string();
    assert!(differences.contains("\"V3\""), "{report:#}");
}

#[test]
fn changes_to_unrelated_tables_do_not_break_the_match() {
    let dir = dir();
    let db = drifted("rplan_unrelated", dir.path());
    let out = tempfile::tempdir().unwrap();
    let plan = save_plan(&db, dir.path(), out.path());
    db.client()
        .batch_execute("CREATE INDEX other_x ON other (x); CREATE TABLE elsewhere (id int); CREATE INDEX ON elsewhere (id)")
        .unwrap();
    let report = apply_plan(&db, dir.path(), &plan, &[], 0);
    assert_eq!(report["verdict"], "matches", "{report:#}");
    assert!(index_exists(&db, "items_qty"));
}

#[test]
fn one_plan_applies_to_a_fleet_of_identical_databases_with_one_migration_file() {
    let dir = dir();
    let first = drifted("rplan_fleet_a", dir.path());
    let second = drifted("rplan_fleet_b", dir.path());
    let out = tempfile::tempdir().unwrap();
    let plan = save_plan(&first, dir.path(), out.path());
    apply_plan(&first, dir.path(), &plan, &[], 0);
    let report = apply_plan(&second, dir.path(), &plan, &[], 0);
    assert_eq!(report["verdict"], "matches", "{report:#}");
    assert_eq!(report["migration_reused"], true, "{report:#}");
    assert_eq!(
        sql_files(dir.path()),
        vec!["V1__base.sql", "V2__wanted.sql", "V3__pgwarden_plan.sql"]
    );
    assert!(index_exists(&second, "items_owner") && index_exists(&second, "items_qty"));
    second.run(dir.path(), &["migrate", "status"], 0);
}

#[test]
fn a_tampered_plan_file_is_refused_before_anything_runs() {
    let dir = dir();
    let db = drifted("rplan_tamper", dir.path());
    let out = tempfile::tempdir().unwrap();
    let plan = save_plan(&db, dir.path(), out.path());
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    file["changes"][0]["statements"][0] = "DROP TABLE items".into();
    std::fs::write(&plan, file.to_string()).unwrap();
    let run = db.run(dir.path(), &["apply", "--plan", plan.to_str().unwrap()], 2);
    assert!(
        stderr(&run).contains("DROP TABLE items"),
        "{}",
        stderr(&run)
    );
    let exists: bool = db.scalar("SELECT to_regclass('public.items') IS NOT NULL");
    assert!(exists);
    assert_eq!(sql_files(dir.path()).len(), 2);
    // Not a plan at all.
    std::fs::write(&plan, "{\"kind\": \"something\"}").unwrap();
    let run = db.run(dir.path(), &["apply", "--plan", plan.to_str().unwrap()], 2);
    assert!(stderr(&run).contains("pgwarden-plan"), "{}", stderr(&run));
}

#[test]
fn a_plan_with_a_drop_needs_allow_drop() {
    let dir = dir();
    let db = drifted("rplan_drop", dir.path());
    db.client()
        .batch_execute("CREATE INDEX stray ON items (id, qty)")
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let plan = save_plan(&db, dir.path(), out.path());
    let run = db.run(dir.path(), &["apply", "--plan", plan.to_str().unwrap()], 2);
    assert!(stderr(&run).contains("--allow-drop"), "{}", stderr(&run));
    assert!(index_exists(&db, "stray"));
    apply_plan(&db, dir.path(), &plan, &["--allow-drop"], 0);
    assert!(!index_exists(&db, "stray"));
    // --plan with --only is a usage error.
    db.run(
        dir.path(),
        &[
            "apply",
            "--plan",
            plan.to_str().unwrap(),
            "--only",
            "missing-index",
        ],
        2,
    );
}

#[test]
fn a_rerun_after_an_interruption_completes_the_plan() {
    let dir = dir();
    let db = drifted("rplan_resume", dir.path());
    // Another database of the fleet, migrated before the plan's migration was written.
    let other = drifted("rplan_resume_other", dir.path());
    let out = tempfile::tempdir().unwrap();
    let plan_path = save_plan(&db, dir.path(), out.path());
    // The first run wrote the migration and built one index before it was killed.
    let plan = pgwarden::commands::apply_plan::load_plan(&plan_path).unwrap();
    let changes = plan.changes().unwrap();
    pgwarden::commands::apply_plan::ensure_migration(dir.path(), &plan, &changes).unwrap();
    db.client()
        .batch_execute("CREATE INDEX items_owner ON items USING btree (owner_id)")
        .unwrap();
    let report = apply_plan(&db, dir.path(), &plan_path, &[], 0);
    assert_eq!(report["verdict"], "resumed", "{report:#}");
    assert_eq!(report["migration_reused"], true);
    assert!(index_exists(&db, "items_qty"));
    db.run(dir.path(), &["migrate", "status"], 0);
    db.run(dir.path(), &["plan"], 0);
    // Anything else changed meanwhile still refuses a resume.
    other
        .client()
        .batch_execute("CREATE INDEX items_more ON items (qty, owner_id)")
        .unwrap();
    let run = other.run(
        dir.path(),
        &["apply", "--plan", plan_path.to_str().unwrap()],
        2,
    );
    assert!(stderr(&run).contains("items_more"), "{}", stderr(&run));
}

#[test]
fn an_empty_plan_writes_no_migration() {
    let dir = dir();
    let db = TestDb::new("rplan_empty");
    db.run(dir.path(), &["migrate", "apply"], 0);
    let out = tempfile::tempdir().unwrap();
    let plan = out.path().join("Plan.JSON");
    db.run(dir.path(), &["plan", "--output", plan.to_str().unwrap()], 0);
    let report = apply_plan(&db, dir.path(), &plan, &[], 0);
    assert_eq!(report["verdict"], "matches", "{report:#}");
    assert!(report["migration"].is_null(), "{report:#}");
    assert_eq!(sql_files(dir.path()).len(), 2);
}

/// The partitioned form (`ON ONLY` the parent, a build per partition, the attach block) passes
/// the plan file's statement check and applies.
#[test]
fn a_plan_for_a_partitioned_table_applies() {
    let dir = migrations_dir(&[
        (
            "V1__base.sql",
            "CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);\n\
             CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');\n\
             CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');\n",
        ),
        ("V2__wanted.sql", "CREATE INDEX events_at ON events (at);\n"),
    ]);
    let db = TestDb::new("rplan_partitioned");
    db.run(dir.path(), &["migrate", "apply"], 0);
    db.client().batch_execute("DROP INDEX events_at").unwrap();
    let out = tempfile::tempdir().unwrap();
    let plan = save_plan(&db, dir.path(), out.path());
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(
        text.contains("ON ONLY") && text.contains("DO $pgw$"),
        "{text}"
    );
    let report = apply_plan(&db, dir.path(), &plan, &[], 0);
    assert_eq!(report["verdict"], "matches", "{report:#}");
    let valid: bool =
        db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 'events_at'::regclass");
    assert!(valid);
    db.run(dir.path(), &["plan"], 0);
}

#[test]
fn one_reviewed_plan_across_a_fleet_applies_where_the_fingerprint_matches() {
    let dir = dir();
    let dbs: Vec<TestDb> = (0..4).map(|_| drifted("fleetplan", dir.path())).collect();
    let out = tempfile::tempdir().unwrap();
    let plan = save_plan(&dbs[0], dir.path(), out.path());
    // One database differs: an index of the plan's name with another definition.
    dbs[3]
        .client()
        .batch_execute("CREATE INDEX items_qty ON items (qty, owner_id)")
        .unwrap();
    let targets = out.path().join("targets.txt");
    let text: String = dbs
        .iter()
        .map(|d| format!("{} = {}\n", d.name, d.url))
        .collect();
    std::fs::write(&targets, text).unwrap();
    let result = pgwarden()
        .arg("--migrations")
        .arg(dir.path())
        .arg("--targets")
        .arg(&targets)
        .arg("--ledger")
        .arg(out.path().join("ledger.json"))
        .args([
            "--on-error",
            "continue",
            "--format",
            "json",
            "apply",
            "--plan",
        ])
        .arg(&plan)
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
    let report = json(&result);
    let outcomes: Vec<&str> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["ok", "ok", "ok", "failed"], "{report:#}");
    assert!(
        report["targets"][3]["error"]
            .as_str()
            .unwrap()
            .contains("items_qty"),
        "{report:#}"
    );
    for d in &dbs[..3] {
        assert_eq!(
            d.scalar::<i64>(
                "SELECT count(*) FROM pg_class WHERE relname IN ('items_owner', 'items_qty')"
            ),
            2
        );
    }
    // The differing database was refused before anything ran on it.
    assert_eq!(
        dbs[3].scalar::<i64>("SELECT count(*) FROM pg_class WHERE relname = 'items_owner'"),
        0
    );
    // The migration file was written once for all of them.
    let written: Vec<String> = sql_files(dir.path())
        .into_iter()
        .filter(|n| n.contains("pgwarden_plan"))
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
}
