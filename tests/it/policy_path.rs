//! An explicit `--policy` path that does not exist is an error naming it (exit 2), for every
//! command that can also run without a policy; only the default path may be absent.

use crate::common::*;

const MISSING: &str = "/nonexistent/pgwarden/policy.toml";

fn assert_refused(out: &std::process::Output, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(2),
        "{what}: a missing --policy file is an error, never \"no policy\": {}\n{}",
        stderr(out),
        stdout(out)
    );
    assert!(stderr(out).contains(MISSING), "{what}: {}", stderr(out));
    assert!(!stderr(out).contains("panicked"), "{what}");
}

#[test]
fn an_explicit_policy_path_that_does_not_exist_is_an_error_naming_it() {
    let dir = migrations_dir(&[("V1__a.sql", "CREATE TABLE a (id bigint PRIMARY KEY);\n")]);
    for args in [&["lint"][..], &["ci"][..]] {
        let out = pgwarden()
            .arg("--migrations")
            .arg(dir.path())
            .args(["--policy", MISSING])
            .args(args)
            .output()
            .unwrap();
        assert_refused(&out, &args.join(" "));
    }
    let db = TestDb::new("policy_missing");
    db.run(dir.path(), &["migrate", "apply"], 0);
    for args in [
        &["plan"][..],
        &["apply", "--dry-run"][..],
        &["apply", "--yes"][..],
        &["check"][..],
        &["lint"][..],
    ] {
        let out = db
            .pgwarden(dir.path())
            .args(["--policy", MISSING])
            .args(args)
            .output()
            .unwrap();
        assert_refused(&out, &args.join(" "));
    }
}

#[test]
fn without_policy_flag_an_absent_default_policy_is_no_policy() {
    let dir = migrations_dir(&[("V1__a.sql", "CREATE TABLE a (id bigint PRIMARY KEY);\n")]);
    let elsewhere = tempfile::tempdir().unwrap();
    let out = pgwarden()
        .current_dir(elsewhere.path())
        .arg("--migrations")
        .arg(dir.path())
        .arg("lint")
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}\n{}",
        stderr(&out),
        stdout(&out)
    );
}
