//! `pgwarden lint --output-format sarif` against the official OASIS SARIF 2.1.0 JSON schema
//! (vendored from oasis-tcs/sarif-spec, `sarif-2.1/schema/sarif-schema-2.1.0.json`), for the
//! lint fixture and for a migrations file whose name and SQL hold hostile text.

use crate::common::*;

const SCHEMA: &str = include_str!("../fixtures/sarif-schema-2.1.0.json");
const FIXTURE: &str = "tests/fixtures/lint/V1__bad.sql";
const MINIMAL_POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/minimal_policy.toml"
);

/// Parses stdout as JSON, validates it against the SARIF schema (printing every error) and
/// returns it.
fn assert_valid_sarif(out: &std::process::Output) -> serde_json::Value {
    let log = json(out);
    let schema: serde_json::Value =
        serde_json::from_str(SCHEMA).expect("the vendored SARIF schema is JSON");
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("the vendored SARIF schema does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("at {} (schema {}): {e}", e.instance_path(), e.schema_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "SARIF output fails the SARIF 2.1.0 schema with {} error(s):\n{}\n\nstdout:\n{}\nstderr:\n{}",
        errors.len(),
        errors.join("\n"),
        stdout(out),
        stderr(out)
    );
    log
}

fn rule_ids(log: &serde_json::Value) -> Vec<String> {
    log["runs"][0]["results"]
        .as_array()
        .expect("runs[0].results is an array")
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn sarif_for_the_fixture_matches_the_official_schema() {
    let out = pgwarden()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--policy", MINIMAL_POLICY, "lint", FIXTURE])
        .args(["--output-format", "sarif"])
        .output()
        .expect("run pgwarden lint");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let log = assert_valid_sarif(&out);
    assert!(
        rule_ids(&log).contains(&"require-concurrent-index-creation".to_string()),
        "{log:#}"
    );
}

#[test]
fn sarif_for_hostile_names_and_sql_matches_the_official_schema() {
    // refinery's names are `V<n>__<\w+>.sql`; `\w` is Unicode, so the name can leave ASCII.
    const NAME: &str = "V1__hostile_ß_名前.sql";
    let dir = migrations_dir(&[
        (
            NAME,
            "-- \u{1b}[31m <&> \u{202e} \"\\ */\n\
             CREATE INDEX \"i\nx\" ON \"t\"\"*/\" (a);\n",
        ),
        // Unparseable: syntax-error results, at level error.
        (
            "V2__broken.sql",
            "CREATE TABLE \"q\"\"\n\u{1b}]0;x\u{7}\" (;\n",
        ),
    ]);
    let out = pgwarden()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--migrations")
        .arg(dir.path())
        .args([
            "--policy",
            MINIMAL_POLICY,
            "lint",
            "--output-format",
            "sarif",
        ])
        .output()
        .expect("run pgwarden lint");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let log = assert_valid_sarif(&out);
    let ids = rule_ids(&log);
    assert!(ids.contains(&"syntax-error".to_string()), "{log:#}");
    let index = log["runs"][0]["results"]
        .as_array()
        .expect("runs[0].results is an array")
        .iter()
        .find(|r| r["ruleId"] == "require-concurrent-index-creation")
        .unwrap_or_else(|| panic!("no require-concurrent-index-creation result: {log:#}"));
    let uri = index["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .unwrap_or_default();
    // A URI reference: an absolute path becomes file://, non-ASCII is percent-encoded.
    assert!(
        uri.starts_with("file:///") && uri.ends_with(&pgwarden::escape::uri_reference(NAME)),
        "{uri:?}"
    );
    assert!(uri.is_ascii() && !uri.contains(' '), "{uri:?}");
}

/// Inline ignores become results with `suppressions` (kind `inSource`, the reason as
/// justification, escaped by JSON whatever it holds), and the log still matches the schema.
#[test]
fn sarif_suppressions_for_inline_ignores_match_the_official_schema() {
    let dir = migrations_dir(&[(
        "V1__ignored.sql",
        "-- pgwarden:ignore require-concurrent-index-creation: \"quoted\" \u{1b}[31m <&> \\ reason\n\
         CREATE INDEX t_a ON t (a);\n\
         -- pgwarden:ignore require-concurrent-index-creation\n\
         CREATE INDEX t_b ON t (b);\n",
    )]);
    let out = pgwarden()
        .arg("--migrations")
        .arg(dir.path())
        .args([
            "--policy",
            MINIMAL_POLICY,
            "lint",
            "--output-format",
            "sarif",
        ])
        .output()
        .expect("run pgwarden lint");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let log = assert_valid_sarif(&out);
    let results = log["runs"][0]["results"].as_array().expect("results");
    let suppressed: Vec<&serde_json::Value> = results
        .iter()
        .filter(|r| r["suppressions"].is_array())
        .collect();
    assert_eq!(suppressed.len(), 2, "{log:#}");
    assert_eq!(
        suppressed[0]["suppressions"],
        serde_json::json!([{
            "kind": "inSource",
            "justification": "\"quoted\" \u{1b}[31m <&> \\ reason"
        }])
    );
    assert_eq!(
        suppressed[1]["suppressions"],
        serde_json::json!([{ "kind": "inSource" }])
    );
    // The ignore without a reason is a note of its own, not suppressed.
    assert!(
        results
            .iter()
            .any(|r| r["ruleId"] == "ignore-without-reason" && r["level"] == "note"),
        "{log:#}"
    );
}
