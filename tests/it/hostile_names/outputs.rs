//! lint in every output format and check (JSON, human, JUnit) over hostile names: each output
//! keeps its format and the canary survives.

use super::*;

#[test]
fn hostile_names_keep_every_lint_and_check_output_format() {
    let (db, dir, policy) = migrated("hostile_outputs");
    let d = dir.path();
    let p = policy.path().to_str().unwrap();
    let files = tempfile::tempdir().unwrap();

    // lint, every output format (the pattern makes the hostile index name part of a message).
    let lint = |format: &str| {
        let out = db.run(
            d,
            &[
                "--policy",
                p,
                "lint",
                d.to_str().unwrap(),
                "--output-format",
                format,
            ],
            1,
        );
        assert_canary(&db, &format!("lint --output-format {format}"));
        out
    };
    let human = lint("human");
    assert_terminal_safe("lint", &human);
    assert!(
        stdout(&human).contains("index-name-pattern"),
        "{}",
        stdout(&human)
    );
    let report = json(&lint("json"));
    let findings = report["findings"].as_array().unwrap().len();
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "index-name-pattern"),
        "{report:#}"
    );
    let github = stdout(&lint("github"));
    assert!(!github.contains('\r'), "{github:?}");
    let lines: Vec<&str> = github.lines().collect();
    assert_eq!(
        lines.len(),
        findings,
        "one line per annotation:\n{github:?}"
    );
    for line in &lines {
        assert!(
            line.starts_with("::"),
            "not an annotation: {line:?}\n{github:?}"
        );
    }
    let sarif_text = stdout(&lint("sarif"));
    let sarif: serde_json::Value = serde_json::from_str(&sarif_text)
        .unwrap_or_else(|e| panic!("SARIF is not JSON ({e}):\n{sarif_text:?}"));
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        sarif["runs"][0]["results"].as_array().unwrap().len(),
        findings
    );
    let junit = stdout(&lint("junit"));
    let doc = roxmltree::Document::parse(&junit)
        .unwrap_or_else(|e| panic!("lint JUnit is not XML ({e}):\n{junit:?}"));
    assert_eq!(doc.root_element().tag_name().name(), "testsuites");

    // check: the workload query reads the hostile table; its name is hostile too.
    let junit_path = files.path().join("check.xml");
    let out = db
        .pgwarden(d)
        .args(["--policy", p, "--format", "json", "check", "--junit"])
        .arg(&junit_path)
        .output()
        .unwrap();
    assert_canary(&db, "check");
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["errors"], 0, "{report:#}");
    assert_eq!(report["queries"][0]["name"], QUERY, "{report:#}");
    assert!(report["queries"][0]["error"].is_null(), "{report:#}");
    let xml = std::fs::read_to_string(&junit_path).unwrap();
    roxmltree::Document::parse(&xml)
        .unwrap_or_else(|e| panic!("check JUnit is not XML ({e}):\n{xml:?}"));
    let out = db
        .pgwarden(d)
        .args(["--policy", p, "check"])
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    assert_terminal_safe("check", &out);
    assert_canary(&db, "check (human)");
}
