//! Fleet runs against real servers: 20 databases on two PostgreSQL servers, one failing
//! target, `--on-error continue`, the ledger and `--resume`, `--per-host 1` (no two runs on
//! one server at once, from the ledger's recorded times), groups, SIGINT, and bad input.

use crate::common::*;
use std::path::Path;

const SCHEMA: &str = "CREATE TABLE fleet_items (id int PRIMARY KEY, owner int);\n";
const INDEX: &str = "-- pgwarden:no-transaction\nSELECT pg_sleep(0.2);\nCREATE INDEX CONCURRENTLY fleet_items_owner ON fleet_items (owner);\n";

/// The migrations with a V2 that sleeps 1.5 s first: long enough to act while a target runs.
fn slow_migrations() -> tempfile::TempDir {
    migrations_dir(&[
        ("V1__items.sql", SCHEMA),
        (
            "V2__owner.sql",
            "-- pgwarden:no-transaction\nSELECT pg_sleep(1.5);\nCREATE INDEX CONCURRENTLY fleet_items_owner ON fleet_items (owner);\n",
        ),
    ])
}

fn migrations() -> tempfile::TempDir {
    migrations_dir(&[("V1__items.sql", SCHEMA), ("V2__owner.sql", INDEX)])
}

/// `n` databases, alternately on the shared and the second server.
fn databases(label: &str, n: usize) -> Vec<TestDb> {
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                TestDb::new(label)
            } else {
                second_db(label)
            }
        })
        .collect()
}

fn targets_file(dbs: &[TestDb]) -> tempfile::NamedTempFile {
    let text: String = dbs
        .iter()
        .map(|d| format!("{} = {}\n", d.name, d.url))
        .collect();
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), format!("# the fleet\n{text}")).unwrap();
    f
}

/// `pgwarden --migrations dir --targets targets --ledger ledger --format json`, the command's
/// arguments still to add.
fn fleet_command(dir: &Path, targets: &Path, ledger: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("pgwarden"));
    cmd.arg("--migrations")
        .arg(dir)
        .arg("--targets")
        .arg(targets)
        .arg("--ledger")
        .arg(ledger)
        .args(["--format", "json"])
        .env_remove("DATABASE_URL");
    cmd
}

/// A fleet run of `args` with JSON output.
pub fn fleet(dir: &Path, targets: &Path, ledger: &Path, args: &[&str]) -> std::process::Output {
    fleet_command(dir, targets, ledger)
        .args(args)
        .output()
        .unwrap()
}

/// Starts a fleet `migrate apply`, one target at a time, and returns once its ledger records
/// a target running. The caller waits for the child it gets (clippy does not follow it there).
#[allow(clippy::zombie_processes)]
fn start_apply(dir: &Path, targets: &Path, ledger: &Path) -> std::process::Child {
    let mut child = fleet_command(dir, targets, ledger)
        .args(["--parallel", "1", "migrate", "apply"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(ledger).unwrap_or_default();
        if text.contains("\"running\"") {
            return child;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("never started: {text}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn outcomes(report: &serde_json::Value) -> Vec<(String, String)> {
    report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn applied(db: &TestDb) -> i64 {
    db.scalar("SELECT count(*) FROM refinery_schema_history")
}

#[test]
fn twenty_databases_one_broken_continue_then_resume() {
    let dbs = databases("fleet", 20);
    // One target cannot take V1: its table exists with another shape.
    let broken = &dbs[7];
    broken
        .client()
        .batch_execute("CREATE TABLE fleet_items (x text)")
        .unwrap();
    let dir = migrations();
    let targets = targets_file(&dbs);
    let state = tempfile::tempdir().unwrap();
    let ledger = state.path().join("ledger.json");
    let out = fleet(
        dir.path(),
        targets.path(),
        &ledger,
        &[
            "--on-error",
            "continue",
            "--parallel",
            "4",
            "migrate",
            "apply",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let report = json(&out);
    let failed: Vec<String> = outcomes(&report)
        .into_iter()
        .filter(|(_, o)| o != "ok")
        .map(|(n, o)| format!("{n} {o}"))
        .collect();
    assert_eq!(failed, [format!("{} failed", broken.name)], "{report:#}");
    for (i, db) in dbs.iter().enumerate() {
        if i != 7 {
            assert_eq!(applied(db), 2, "{}", db.name);
            let t = &report["targets"][i];
            assert_eq!(
                (t["version_before"].clone(), t["version_after"].clone()),
                (serde_json::Value::Null, 2.into())
            );
        }
    }
    let error = report["targets"][7]["error"].as_str().unwrap();
    assert!(error.contains("V1__items.sql"), "{error}");
    // The ledger is true.
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ledger).unwrap()).unwrap();
    assert_eq!(written["targets"][&broken.name]["outcome"], "failed");
    assert_eq!(written["targets"][&dbs[0].name]["outcome"], "ok");

    // Fixed; --resume runs that one target only.
    broken
        .client()
        .batch_execute("DROP TABLE fleet_items")
        .unwrap();
    let last_applied = || -> Vec<Option<String>> {
        dbs.iter()
            .enumerate()
            .filter(|(i, _)| *i != 7)
            .map(|(_, d)| d.scalar("SELECT max(applied_on)::text FROM refinery_schema_history"))
            .collect()
    };
    let before = last_applied();
    let out = fleet(
        dir.path(),
        targets.path(),
        &ledger,
        &["--resume", "migrate", "apply"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    let ran: Vec<String> = outcomes(&report)
        .into_iter()
        .filter(|(_, o)| o == "ok")
        .map(|(n, _)| n)
        .collect();
    assert_eq!(ran, std::slice::from_ref(&broken.name));
    assert_eq!(applied(broken), 2);
    assert_eq!(before, last_applied(), "the others were not run again");

    // A target that now points at another database is not done: --resume runs it.
    let moved = TestDb::new("fleet_moved");
    let text = std::fs::read_to_string(targets.path())
        .unwrap()
        .replace(&dbs[3].url, &moved.url);
    std::fs::write(targets.path(), text).unwrap();
    let out = fleet(
        dir.path(),
        targets.path(),
        &ledger,
        &["--resume", "migrate", "apply"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(applied(&moved), 2);
    // A ledger of other targets is refused.
    let other = targets_file(&dbs[..2]);
    let out = fleet(
        dir.path(),
        other.path(),
        &ledger,
        &["--resume", "migrate", "apply"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("it records the targets of"),
        "{}",
        stderr(&out)
    );

    // Changed migration files: --resume refuses.
    write(
        dir.path(),
        "V3__more.sql",
        "ALTER TABLE fleet_items ADD COLUMN note text;\n",
    );
    let out = fleet(
        dir.path(),
        targets.path(),
        &ledger,
        &["--resume", "migrate", "apply"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("migration files changed"),
        "{}",
        stderr(&out)
    );
}

/// `(host, start, end)` of each target, from the ledger's recorded times.
fn runs(ledger: &Path, dbs: &[TestDb]) -> Vec<(String, String, String)> {
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ledger).unwrap()).unwrap();
    dbs.iter()
        .map(|d| {
            let e = &written["targets"][&d.name];
            let host = d.url.split('@').nth(1).unwrap().split('/').next().unwrap();
            (
                host.to_string(),
                e["started_at"].as_str().unwrap().to_string(),
                e["finished_at"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn per_host_one_never_runs_two_targets_on_one_server_at_once() {
    let dbs = databases("perhost", 6);
    let dir = migrations();
    let targets = targets_file(&dbs);
    let state = tempfile::tempdir().unwrap();
    let ledger = state.path().join("ledger.json");
    let out = fleet(
        dir.path(),
        targets.path(),
        &ledger,
        &["--parallel", "4", "--per-host", "1", "migrate", "apply"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let runs = runs(&ledger, &dbs);
    let parse = |s: &str| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
    };
    for (i, a) in runs.iter().enumerate() {
        for b in &runs[i + 1..] {
            if a.0 == b.0 {
                let overlap = parse(&a.1) < parse(&b.2) && parse(&b.1) < parse(&a.2);
                assert!(!overlap, "two runs at once on {}: {a:?} {b:?}", a.0);
            }
        }
    }
    // The two servers did run at the same time: --parallel is not serialised.
    let overlaps_across = runs.iter().any(|a| {
        runs.iter()
            .any(|b| a.0 != b.0 && parse(&a.1) < parse(&b.2) && parse(&b.1) < parse(&a.2))
    });
    assert!(overlaps_across, "{runs:?}");
}

#[test]
fn a_failed_canary_group_holds_back_the_next_group() {
    let dbs = databases("groups", 3);
    dbs[0]
        .client()
        .batch_execute("CREATE TABLE fleet_items (x text)")
        .unwrap();
    let text = format!(
        "[[target]]\nname = \"canary\"\nurl = {}\n[[target]]\nname = \"p1\"\nurl = {}\n[[target]]\nname = \"p2\"\nurl = {}\n\
         [[group]]\nname = \"canary\"\ntargets = [\"canary\"]\n[[group]]\nname = \"production\"\ntargets = [\"p1\", \"p2\"]\n",
        toml_string(&dbs[0].url),
        toml_string(&dbs[1].url),
        toml_string(&dbs[2].url)
    );
    let targets = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::fs::write(targets.path(), text).unwrap();
    let state = tempfile::tempdir().unwrap();
    let out = fleet(
        migrations().path(),
        targets.path(),
        &state.path().join("l.json"),
        &["--on-error", "continue", "migrate", "apply"],
    );
    assert_eq!(out.status.code(), Some(2));
    let report = json(&out);
    assert_eq!(
        outcomes(&report),
        [
            ("canary".to_string(), "failed".to_string()),
            ("p1".into(), "not_started".into()),
            ("p2".into(), "not_started".into())
        ]
    );
    assert!(report["stopped"].as_str().unwrap().contains("group canary"));
    assert!(
        dbs[1]
            .scalar::<Option<String>>("SELECT to_regclass('refinery_schema_history')::text")
            .is_none()
    );
}

#[test]
fn status_reports_every_target_even_past_a_broken_one() {
    let dbs = databases("status", 2);
    let dir = migrations();
    dbs[0].run(dir.path(), &["migrate", "apply", "--target", "1"], 0);
    let text = format!(
        "a = {}\ngone = postgres://postgres:pw@127.0.0.1:1/nowhere?connect_timeout=2\nb = {}\n",
        dbs[0].url, dbs[1].url
    );
    let targets = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(targets.path(), text).unwrap();
    let state = tempfile::tempdir().unwrap();
    let out = fleet(
        dir.path(),
        targets.path(),
        &state.path().join("s.json"),
        &["migrate", "status"],
    );
    assert_eq!(out.status.code(), Some(2));
    let report = json(&out);
    assert_eq!(
        outcomes(&report),
        [
            ("a".to_string(), "findings".to_string()),
            ("gone".into(), "failed".into()),
            ("b".into(), "findings".into())
        ]
    );
    assert_eq!(report["targets"][0]["report"]["command"], "migrate_status");
    assert_eq!(report["command"], "fleet");
    assert_eq!(report["target_command"], "migrate status");
    let raw = stdout(&out);
    assert_eq!(
        raw.matches("\"command\": \"fleet\"").count(),
        1,
        "one command key"
    );
    assert!(!stdout(&out).contains(":pw@"), "no password in the report");
    // Human: one table, a summary line.
    let out = pgwarden()
        .arg("--migrations")
        .arg(dir.path())
        .arg("--targets")
        .arg(targets.path())
        .arg("--ledger")
        .arg(state.path().join("h.json"))
        .args(["migrate", "status"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(text.contains("migrate status on 3 target(s)"), "{text}");
    assert!(text.contains("2 findings, 1 FAILED"), "{text}");
}

#[test]
fn bad_targets_are_refused_before_anything_runs() {
    let db = TestDb::new("badtargets");
    let targets = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        targets.path(),
        format!("a = {}\nnot a target line\n", db.url),
    )
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let out = fleet(
        migrations().path(),
        targets.path(),
        &state.path().join("l.json"),
        &["migrate", "apply"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));
    assert!(
        db.scalar::<Option<String>>("SELECT to_regclass('refinery_schema_history')::text")
            .is_none()
    );
    // Commands that do not run on fleets say so.
    let out = fleet(
        migrations().path(),
        targets.path(),
        &state.path().join("l.json"),
        &["doctor"],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn targets_from_a_query_on_a_control_database() {
    let dbs = databases("sql", 2);
    let control = TestDb::new("control");
    let mut c = control.client();
    c.batch_execute("CREATE TABLE tenants (name text, url text, wave text)")
        .unwrap();
    for (i, d) in dbs.iter().enumerate() {
        c.execute(
            "INSERT INTO tenants VALUES ($1, $2, $3)",
            &[&d.name, &d.url, &(if i == 0 { "canary" } else { "rest" })],
        )
        .unwrap();
    }
    let state = tempfile::tempdir().unwrap();
    let out = pgwarden()
        .arg("--migrations")
        .arg(migrations().path())
        .args(["--database-url", &control.url])
        .args([
            "--targets-sql",
            "SELECT name, url, wave FROM tenants ORDER BY name",
        ])
        .arg("--ledger")
        .arg(state.path().join("q.json"))
        .args(["--format", "json", "migrate", "apply"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for d in &dbs {
        assert_eq!(applied(d), 2);
    }
    // The control database itself is not a target, and the query cannot write.
    assert!(
        control
            .scalar::<Option<String>>("SELECT to_regclass('refinery_schema_history')::text")
            .is_none()
    );
    let out = pgwarden()
        .args(["--database-url", &control.url])
        .args(["--targets-sql", "DELETE FROM tenants RETURNING name, url"])
        .args(["migrate", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(control.scalar::<i64>("SELECT count(*) FROM tenants"), 2);
}

#[test]
fn sigint_starts_nothing_new_and_leaves_the_ledger_true() {
    let dbs = databases("sigint", 4);
    let dir = slow_migrations();
    let targets = targets_file(&dbs);
    let state = tempfile::tempdir().unwrap();
    let ledger = state.path().join("ledger.json");
    // Once the first target runs, the sleep statement of its V2 is under way or next.
    let child = start_apply(dir.path(), targets.path(), &ledger);
    std::thread::sleep(std::time::Duration::from_millis(300));
    crate::watch::unsafe_kill(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let report = json(&out);
    let got = outcomes(&report);
    assert_eq!(got[0].1, "interrupted", "{report:#}");
    assert!(
        got[1..].iter().all(|(_, o)| o == "not_started"),
        "{report:#}"
    );
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ledger).unwrap()).unwrap();
    for (name, outcome) in &got {
        assert_eq!(written["targets"][name]["outcome"], outcome.as_str());
    }
    // The statement that was running finished; no INVALID index was left behind.
    assert_eq!(
        dbs[0].scalar::<i64>("SELECT count(*) FROM pg_index WHERE NOT indisvalid"),
        0
    );
    // Rerunning completes it all.
    let out = fleet(
        dir.path(),
        targets.path(),
        &ledger,
        &["--resume", "migrate", "apply"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for d in &dbs {
        assert_eq!(applied(d), 2, "{}", d.name);
    }
}

/// Two fleet runs on one ledger: the second is refused (exit 2, naming the first's pid) while
/// the first runs, so neither overwrites the other's record; once the first ended, the ledger
/// is free again.
#[test]
fn a_second_run_on_the_same_ledger_is_refused_while_the_first_runs() {
    let dbs = databases("ledgerlock", 2);
    let dir = slow_migrations();
    let targets = targets_file(&dbs);
    let state = tempfile::tempdir().unwrap();
    let ledger = state.path().join("ledger.json");
    let first = start_apply(dir.path(), targets.path(), &ledger);
    let second = fleet(dir.path(), targets.path(), &ledger, &["migrate", "apply"]);
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    assert!(
        stderr(&second).contains(&format!(
            "is in use by another fleet run (pid {})",
            first.id()
        )),
        "{}",
        stderr(&second)
    );
    let out = first.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(dbs.iter().all(|d| applied(d) == 2));
    let again = fleet(dir.path(), targets.path(), &ledger, &["migrate", "apply"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
}
