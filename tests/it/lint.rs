//! `pgwarden lint`: output formats, severities weighed by the live table, the database's view of
//! applied files, and unparseable SQL.

use crate::common::*;

const FIXTURE: &str = "tests/fixtures/lint/V1__bad.sql";
/// A policy with no lint settings and no workload (an explicit `--policy` must exist).
const MINIMAL_POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/minimal_policy.toml"
);

fn lint(args: &[&str]) -> std::process::Output {
    pgwarden()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--policy", MINIMAL_POLICY, "lint"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn output_formats() {
    let human = lint(&[FIXTURE]);
    assert_eq!(human.status.code(), Some(1));
    insta::assert_snapshot!("lint_human", stdout(&human));
    let github = lint(&[FIXTURE, "--output-format", "github"]);
    insta::assert_snapshot!("lint_github", stdout(&github));

    let sarif_text = stdout(&lint(&[FIXTURE, "--output-format", "sarif"]));
    insta::assert_snapshot!("lint_sarif", sarif_text);
    let sarif: serde_json::Value = serde_json::from_str(&sarif_text).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "pgwarden");
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        assert!(
            r["ruleId"].is_string() && r["message"]["text"].is_string(),
            "{r}"
        );
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], FIXTURE);
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
    }
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(
        results
            .iter()
            .all(|r| rules.contains(&r["ruleId"].as_str().unwrap()))
    );

    let junit = stdout(&lint(&[FIXTURE, "--output-format", "junit"]));
    insta::assert_snapshot!("lint_junit", junit);
    assert!(
        junit.contains(
            "<testcase classname=\"pgwarden.lint\" name=\"tests/fixtures/lint/V1__bad.sql\">"
        ),
        "{junit}"
    );
    assert!(
        junit.contains("<failure type=\"require-concurrent-index-creation\""),
        "{junit}"
    );

    let json = json(&lint(&[FIXTURE, "--format", "json"]));
    assert_eq!(json["command"], "lint");
    // Regression: --output-format json printed the human form unless --format json was given too.
    let json_text = stdout(&lint(&[FIXTURE, "--output-format", "json"]));
    insta::assert_snapshot!("lint_json", json_text);
    let chosen: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(chosen["command"], "lint");
    let index = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "require-concurrent-index-creation")
        .unwrap();
    assert_eq!(
        (index["line"].as_u64(), index["column"].as_u64()),
        (Some(4), Some(1))
    );
    assert_eq!(
        lint(&[FIXTURE, "--fail-on", "error"]).status.code(),
        Some(0),
        "warnings only"
    );
}

#[test]
fn severities_follow_the_live_table_size() {
    let db = TestDb::new("lint_sizes");
    db.client()
        .batch_execute(
            "CREATE TABLE tiny (id int); INSERT INTO tiny SELECT generate_series(1, 10); \
             CREATE TABLE huge (id int); INSERT INTO huge SELECT generate_series(1, 1000000); ANALYZE tiny; ANALYZE huge;",
        )
        .unwrap();
    let dir = migrations_dir(&[
        ("V1__tiny.sql", "CREATE INDEX tiny_id ON tiny (id);\n"),
        ("V2__huge.sql", "CREATE INDEX huge_id ON huge (id);\n"),
    ]);
    let out = db.run(
        dir.path(),
        &["--policy", MINIMAL_POLICY, "--format", "json", "lint"],
        1,
    );
    let report = json(&out);
    let severity = |file: &str| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| {
                f["rule"] == "require-concurrent-index-creation"
                    && f["file"].as_str().unwrap().ends_with(file)
            })
            .map(|f| f["severity"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(severity("V1__tiny.sql"), "note");
    assert_eq!(severity("V2__huge.sql"), "error");
    let huge = report["statements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["file"].as_str().unwrap().ends_with("V2__huge.sql"))
        .unwrap();
    assert_eq!(huge["lock"], "SHARE (blocks writes)");
    assert_eq!(huge["tables"][0], "huge");
    assert!(huge["rows"][0].as_f64().unwrap() > 900_000.0, "{huge}");
}

#[test]
fn with_a_database_only_pending_files_are_linted_and_edits_of_applied_ones_are_errors() {
    let db = TestDb::new("lint_applied");
    let dir = migrations_dir(&[("V1__a.sql", "CREATE TABLE a (id bigint);\n")]);
    db.run(dir.path(), &["migrate", "apply"], 0);
    write(
        dir.path(),
        "V2__b.sql",
        "CREATE INDEX CONCURRENTLY ON a (id);\n",
    );
    let out = db
        .pgwarden(dir.path())
        .args(["--policy", MINIMAL_POLICY, "--format", "json", "lint"])
        .output()
        .unwrap();
    let report = json(&out);
    assert_eq!(
        report["files"].as_array().unwrap().len(),
        1,
        "only the pending file: {report:#}"
    );
    write(
        dir.path(),
        "V1__a.sql",
        "CREATE TABLE a (id bigint, b text);\n",
    );
    let out = db.run(
        dir.path(),
        &["--policy", MINIMAL_POLICY, "--format", "json", "lint"],
        1,
    );
    assert!(
        json(&out)["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "edited-applied-migration")
    );
}

#[test]
fn unparseable_sql_is_an_error_with_its_location() {
    let dir = migrations_dir(&[(
        "V1__broken.sql",
        "CREATE TABLE a (id bigint);\nCREATE TABLE (;\n",
    )]);
    let out = pgwarden()
        .arg("--migrations")
        .arg(dir.path())
        .args(["--policy", MINIMAL_POLICY, "lint"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).contains("V1__broken.sql:2:"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("syntax-error"));
}

#[test]
fn ci_combines_lint_apply_check_and_plan_into_one_exit_code() {
    let clean = migrations_dir(&[
        (
            "V1__t.sql",
            "CREATE TABLE t (id bigint PRIMARY KEY, kind text NOT NULL);\n",
        ),
        (
            "V2__idx.sql",
            "CREATE INDEX CONCURRENTLY t_kind ON t (kind);\n",
        ),
    ]);
    let policy = policy_file(
        "version = 1\n[[query]]\nname = \"by_kind\"\nsql = \"SELECT id FROM t WHERE kind = $1\"\nparams = [[\"a\"]]\n",
    );
    let ci = |dir: &std::path::Path| {
        pgwarden()
            .arg("--migrations")
            .arg(dir)
            .arg("--policy")
            .arg(policy.path())
            .args(["--format", "json", "ci"])
            .output()
            .unwrap()
    };
    let out = ci(clean.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stderr(&out),
        stdout(&out)
    );
    let titles: Vec<String> = json(&out)["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(titles.len(), 4, "lint, apply, check, plan: {titles:?}");

    // A lint warning fails the gate: exit 1. (Not a blocking build on `t`: without a database
    // every file is linted as one run, and `t` is created by V1 of that run.)
    write(
        clean.path(),
        "V3__blocking.sql",
        "CREATE INDEX CONCURRENTLY ON t (id, kind);\n",
    );
    assert_eq!(ci(clean.path()).status.code(), Some(1));
    // A migration that breaks a workload query: the check cannot plan it, exit 2.
    write(
        clean.path(),
        "V3__blocking.sql",
        "ALTER TABLE t RENAME COLUMN kind TO category;\n",
    );
    let out = ci(clean.path());
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
}

/// `[lint] small_table_rows` from the policy: 10 rows make 5 small (a note), 200 neither (a
/// warning) and 2,000 large (blocking rules are errors with an estimated lock duration).
#[test]
fn the_small_table_threshold_comes_from_the_policy() {
    let db = TestDb::new("lint_threshold");
    db.client()
        .batch_execute(
            "CREATE TABLE small (id int); INSERT INTO small SELECT generate_series(1, 5); \
             CREATE TABLE mid (id int); INSERT INTO mid SELECT generate_series(1, 200); \
             CREATE TABLE big (id int); INSERT INTO big SELECT generate_series(1, 2000); \
             ANALYZE small; ANALYZE mid; ANALYZE big;",
        )
        .unwrap();
    let policy = policy_file("version = 1\n[lint]\nsmall_table_rows = 10\n");
    let dir = migrations_dir(&[
        ("V1__small.sql", "CREATE INDEX small_id ON small (id);\n"),
        ("V2__mid.sql", "CREATE INDEX mid_id ON mid (id);\n"),
        (
            "V3__big.sql",
            "CREATE INDEX big_id ON big (id);\nALTER TABLE big ALTER COLUMN id TYPE bigint;\n",
        ),
    ]);
    let policy_path = policy.path().to_str().unwrap();
    let out = db.run(
        dir.path(),
        &["--policy", policy_path, "--format", "json", "lint"],
        1,
    );
    let report = json(&out);
    let finding = |file: &str, rule: &str| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule"] == rule && f["file"].as_str().unwrap().ends_with(file))
            .unwrap_or_else(|| panic!("no {rule} in {file}: {report:#}"))
            .clone()
    };
    let build = "require-concurrent-index-creation";
    assert_eq!(finding("V1__small.sql", build)["severity"], "note");
    assert_eq!(finding("V2__mid.sql", build)["severity"], "warning");
    for rule in [build, "changing-column-type"] {
        let f = finding("V3__big.sql", rule);
        assert_eq!(f["severity"], "error", "{f}");
        let message = f["message"].as_str().unwrap();
        assert!(
            message.contains("On `big` (~2000 rows")
                && message.contains("the lock is held for about"),
            "{message}"
        );
    }
}

/// Inline ignores: each suppressed finding is listed with its reason; an ignore without a reason
/// is a note (so `--fail-on warning` still passes), an unknown rule id a warning.
#[test]
fn inline_ignores_are_listed_with_their_reasons() {
    let dir = migrations_dir(&[
        (
            "V1__file.sql",
            "-- pgwarden:ignore-file require-concurrent-index-creation: orders is empty in production\n\
             CREATE INDEX orders_a ON orders (a);\nCREATE INDEX orders_b ON orders (b);\n",
        ),
        (
            "V2__statement.sql",
            "-- pgwarden:ignore require-concurrent-index-creation\nCREATE INDEX items_a ON items (a);\n",
        ),
    ]);
    let lint = |extra: &[&str]| {
        pgwarden()
            .arg("--migrations")
            .arg(dir.path())
            .args([
                "--policy",
                MINIMAL_POLICY,
                "lint",
                "--output-format",
                "json",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = lint(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let report = json(&out);
    let ignored: Vec<(String, u64, serde_json::Value)> = report["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            assert_eq!(i["rule"], "require-concurrent-index-creation");
            let file = i["file"].as_str().unwrap();
            (
                file.rsplit('/').next().unwrap().to_string(),
                i["line"].as_u64().unwrap(),
                i["reason"].clone(),
            )
        })
        .collect();
    let reason = serde_json::json!("orders is empty in production");
    assert_eq!(
        ignored,
        [
            ("V1__file.sql".to_string(), 2, reason.clone()),
            ("V1__file.sql".to_string(), 3, reason),
            ("V2__statement.sql".to_string(), 2, serde_json::Value::Null),
        ]
    );
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["ignore-without-reason"]);
    assert_eq!(lint(&["--fail-on", "note"]).status.code(), Some(1));

    write(
        dir.path(),
        "V3__typo.sql",
        "-- pgwarden:ignore require-concurent-index-creation: typo\nCREATE INDEX t_a ON t (a);\n",
    );
    let out = lint(&[]);
    assert_eq!(out.status.code(), Some(1));
    let human = pgwarden()
        .arg("--migrations")
        .arg(dir.path())
        .args(["--policy", MINIMAL_POLICY, "lint"])
        .output()
        .unwrap();
    let text = stdout(&human);
    assert!(
        text.contains("warning[unknown-rule-in-ignore]")
            && text.contains("did you mean `require-concurrent-index-creation`"),
        "{text}"
    );
    assert!(
        text.contains("ignored: require-concurrent-index-creation at ")
            && text.contains("V1__file.sql:3 — orders is empty in production"),
        "{text}"
    );
}
