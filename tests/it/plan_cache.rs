//! `plan`'s desired-state cache against real PostgreSQL: a second plan answers from the cache
//! (proven by the report's `desired_from` and the file left untouched, never by timing), and
//! editing a migration or the policy's required indexes, a corrupt file or an unwritable
//! directory never gives a wrong or failed plan.

use crate::common::*;
use std::path::{Path, PathBuf};

const BASE: &str = "CREATE TABLE cached_t (id int PRIMARY KEY, a int, b int);\n\
CREATE INDEX cached_t_a ON cached_t (a);\n";

/// A database migrated with BASE, its migrations directory and an empty cache directory.
fn setup(label: &str) -> (TestDb, tempfile::TempDir, tempfile::TempDir) {
    let db = TestDb::new(label);
    let dir = migrations_dir(&[("V1__base.sql", BASE)]);
    db.run(dir.path(), &["migrate", "apply"], 0);
    (db, dir, tempfile::tempdir().unwrap())
}

/// `plan --format json ARGS` with the cache in `cache`: (report, stderr).
fn plan_in(db: &TestDb, dir: &Path, cache: &Path, args: &[&str]) -> (serde_json::Value, String) {
    let out = db
        .pgwarden(dir)
        .env("PGWARDEN_CACHE_DIR", cache)
        .args(["--format", "json", "plan"])
        .args(args)
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    (json(&out), stderr(&out))
}

fn desired_from(report: &serde_json::Value) -> &str {
    report["desired_from"].as_str().unwrap()
}

fn cached(report: &serde_json::Value) -> bool {
    desired_from(report).contains("(cached: ")
}

fn objects(report: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["rule"].as_str().unwrap(),
                f["object"].as_str().unwrap()
            )
        })
        .collect();
    out.sort();
    out
}

/// The cache's entry files.
fn entries(cache: &Path) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(cache) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = dir
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    out.sort();
    out
}

#[test]
fn a_second_plan_answers_from_the_cache_and_an_edited_migration_is_replayed_again() {
    let (db, dir, cache) = setup("plan_cache_hit");
    let (first, _) = plan_in(&db, dir.path(), cache.path(), &[]);
    assert!(!cached(&first), "{}", desired_from(&first));
    assert_eq!(objects(&first), Vec::<String>::new());
    let files = entries(cache.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let written = std::fs::metadata(&files[0]).unwrap().modified().unwrap();
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        !text.contains(&db.url) && !text.contains(&db.name),
        "no target in the file"
    );

    let (second, _) = plan_in(&db, dir.path(), cache.path(), &[]);
    assert!(cached(&second), "{}", desired_from(&second));
    assert_eq!(objects(&second), objects(&first));
    let after = std::fs::metadata(&files[0]).unwrap().modified().unwrap();
    assert_eq!(after, written, "a hit does not write");

    // One byte more in the file: the cache must not answer with the old state.
    write(
        dir.path(),
        "V1__base.sql",
        &format!("{BASE}CREATE INDEX cached_t_b ON cached_t (b);\n"),
    );
    let (edited, _) = plan_in(&db, dir.path(), cache.path(), &[]);
    assert!(!cached(&edited), "{}", desired_from(&edited));
    assert_eq!(objects(&edited), ["missing-index public.cached_t_b"]);
    let (again, _) = plan_in(&db, dir.path(), cache.path(), &[]);
    assert!(cached(&again), "{}", desired_from(&again));
    assert_eq!(objects(&again), objects(&edited));

    // The throwaway path only: a given shadow is replayed every time and nothing is written.
    let shadow = TestDb::new("plan_cache_shadow");
    let other_cache = tempfile::tempdir().unwrap();
    let (given, _) = plan_in(
        &db,
        dir.path(),
        other_cache.path(),
        &["--shadow-url", &shadow.url],
    );
    assert!(!cached(&given), "{}", desired_from(&given));
    assert_eq!(entries(other_cache.path()), Vec::<PathBuf>::new());
}

#[test]
fn changing_the_required_indexes_replays_again() {
    let (db, dir, cache) = setup("plan_cache_required");
    let policy = |index: &str| {
        policy_file(&format!(
            "version = 1\n[plan]\nrequired_indexes = [{}]\n",
            toml_string(&format!("CREATE INDEX {index} ON cached_t (b)"))
        ))
    };
    let one = policy("required_one");
    let args = ["--policy", one.path().to_str().unwrap()];
    let (first, _) = plan_in(&db, dir.path(), cache.path(), &args);
    assert!(!cached(&first));
    assert_eq!(objects(&first), ["missing-index public.required_one"]);
    let (second, _) = plan_in(&db, dir.path(), cache.path(), &args);
    assert!(cached(&second), "{}", desired_from(&second));
    assert_eq!(objects(&second), objects(&first));

    let two = policy("required_two");
    let args = ["--policy", two.path().to_str().unwrap()];
    let (changed, _) = plan_in(&db, dir.path(), cache.path(), &args);
    assert!(!cached(&changed), "{}", desired_from(&changed));
    assert_eq!(objects(&changed), ["missing-index public.required_two"]);
}

#[test]
fn a_corrupt_cache_file_is_ignored_and_written_again() {
    let (db, dir, cache) = setup("plan_cache_corrupt");
    let (first, _) = plan_in(&db, dir.path(), cache.path(), &[]);
    let file = entries(cache.path()).pop().expect("a cache file");
    let text = std::fs::read_to_string(&file).unwrap();
    for bad in [&text[..text.len() / 2], "\u{0}not json at all"] {
        std::fs::write(&file, bad).unwrap();
        db.client()
            .batch_execute("CREATE INDEX stray_since ON cached_t (b)")
            .unwrap();
        let (report, stderr) = plan_in(&db, dir.path(), cache.path(), &[]);
        assert!(!cached(&report), "{}", desired_from(&report));
        assert!(
            stderr.contains("ignoring the cached desired state"),
            "{stderr}"
        );
        assert_eq!(objects(&report), ["unexpected-index public.stray_since"]);
        db.client().batch_execute("DROP INDEX stray_since").unwrap();
    }
    let (repaired, _) = plan_in(&db, dir.path(), cache.path(), &[]);
    assert!(cached(&repaired), "rewritten: {}", desired_from(&repaired));
    assert_eq!(objects(&repaired), objects(&first));
}

#[test]
fn an_unusable_cache_directory_still_plans_with_one_warning() {
    let (db, dir, cache) = setup("plan_cache_unwritable");
    // Running as root, permissions do not stop a write: a regular file where the directory
    // should be does.
    let blocker = cache.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let unusable = blocker.join("pgwarden");
    for _ in 0..2 {
        let (report, stderr) = plan_in(&db, dir.path(), &unusable, &[]);
        assert!(!cached(&report), "{}", desired_from(&report));
        assert_eq!(objects(&report), Vec::<String>::new());
        assert_eq!(
            stderr
                .matches("cannot write the desired-state cache")
                .count(),
            1,
            "{stderr}"
        );
    }
    // --no-cache neither reads nor writes.
    let fresh = cache.path().join("fresh");
    for _ in 0..2 {
        let (report, _) = plan_in(&db, dir.path(), &fresh, &["--no-cache"]);
        assert!(!cached(&report), "{}", desired_from(&report));
    }
    assert!(!fresh.exists());
}
