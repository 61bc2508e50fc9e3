use super::*;

fn rules(sql: &str) -> Vec<(String, Severity)> {
    lint_file("V9__x.sql", sql, &LintContext::default())
        .into_iter()
        .map(|f| (f.rule, f.severity))
        .collect()
}

fn has(sql: &str, rule: &str) -> bool {
    rules(sql).iter().any(|(r, _)| r == rule)
}

#[test]
fn own_rules_fire_on_the_bad_example_and_stay_silent_on_the_fixed_one() {
    let cases = [
        (
            MIXED_TRANSACTION,
            "CREATE TABLE a (id int);\nCREATE INDEX CONCURRENTLY a_id ON a (id);",
            "-- pgwarden:no-transaction\nCREATE TABLE a (id int);\nCREATE INDEX CONCURRENTLY a_id ON a (id);",
        ),
        (
            INDEX_WITHOUT_NAME,
            "CREATE INDEX CONCURRENTLY ON a (id);",
            "CREATE INDEX CONCURRENTLY a_id ON a (id);",
        ),
        (
            CONCURRENT_IF_NOT_EXISTS,
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS a_id ON a (id);",
            "CREATE INDEX CONCURRENTLY a_id ON a (id);",
        ),
        (
            SHORT_TIMEOUT_BEFORE_BUILD,
            "SET statement_timeout = '5s';\nCREATE INDEX CONCURRENTLY a_id ON a (id);",
            "SET statement_timeout = 0;\nCREATE INDEX CONCURRENTLY a_id ON a (id);",
        ),
    ];
    for (rule, bad, good) in cases {
        assert!(
            has(bad, rule),
            "{rule} should fire on: {bad}\n{:?}",
            rules(bad)
        );
        assert!(
            !has(good, rule),
            "{rule} should be silent on: {good}\n{:?}",
            rules(good)
        );
    }
}

#[test]
fn squawk_rules_run_and_runner_compensated_ones_do_not() {
    let r = rules("CREATE INDEX a_id ON a (id);");
    assert!(
        r.iter()
            .any(|(rule, _)| rule == "require-concurrent-index-creation"),
        "{r:?}"
    );
    assert!(
        !r.iter().any(
            |(rule, _)| rule.starts_with("require-") && rule.ends_with("timeout")
                || rule == "require-timeout-settings"
        ),
        "{r:?}"
    );
}

#[test]
fn severity_follows_the_live_table_size() {
    let sql = "CREATE INDEX a_id ON a (id);";
    let severity = |rows: f64| {
        let ctx = LintContext {
            table_rows: Some([("a".to_string(), rows)].into_iter().collect()),
            ..Default::default()
        };
        lint_file("f.sql", sql, &ctx)
            .into_iter()
            .find(|f| f.rule == "require-concurrent-index-creation")
            .unwrap()
            .severity
    };
    assert_eq!(severity(10.0), Severity::Note);
    assert_eq!(severity(50_000.0), Severity::Warning);
    assert_eq!(severity(10_000_000.0), Severity::Error);
}

#[test]
fn locations_point_at_the_statement_in_a_multi_statement_file() {
    let sql = "CREATE TABLE a (id int);\n\n-- the index\n  CREATE INDEX a_id ON a (id);\n";
    let f = lint_file("f.sql", sql, &LintContext::default());
    let hit = f
        .iter()
        .find(|f| f.rule == "require-concurrent-index-creation")
        .unwrap();
    assert_eq!((hit.line, hit.column), (4, 3));
    assert_eq!(hit.source, "  CREATE INDEX a_id ON a (id);");
}

#[test]
fn unparseable_sql_is_an_error_with_its_location() {
    let f = lint_file(
        "f.sql",
        "CREATE TABLE a (id int);\nCREATE TABLE (;\n",
        &LintContext::default(),
    );
    let e = f
        .iter()
        .find(|f| f.rule == SYNTAX_ERROR)
        .expect("a syntax error");
    assert_eq!(e.line, 2);
    assert_eq!(e.severity, Severity::Error);
}

#[test]
fn rules_can_be_disabled_by_policy_or_comment() {
    let sql = "-- pgwarden:ignore require-concurrent-index-creation\nCREATE INDEX a_id ON a (id);";
    assert!(!has(sql, "require-concurrent-index-creation"));
    let ctx = LintContext {
        disabled: vec![INDEX_WITHOUT_NAME.into()],
        ..Default::default()
    };
    assert!(
        lint_file("f.sql", "CREATE INDEX CONCURRENTLY ON a (id);", &ctx)
            .iter()
            .all(|f| f.rule != INDEX_WITHOUT_NAME)
    );
}

#[test]
fn index_name_pattern_from_the_policy() {
    let ctx = LintContext {
        index_name_pattern: Some(regex::Regex::new("^idx_").unwrap()),
        ..Default::default()
    };
    let f = lint_file("f.sql", "CREATE INDEX CONCURRENTLY a_id ON a (id);", &ctx);
    assert!(f.iter().any(|f| f.rule == INDEX_NAME_PATTERN));
}

#[test]
fn the_touched_table_is_read_from_the_statement() {
    assert_eq!(
        own::touched_table("CREATE INDEX i ON app.\"Orders\" (id)").as_deref(),
        Some("Orders")
    );
    assert_eq!(
        own::touched_table("ALTER TABLE IF EXISTS ONLY t ADD COLUMN x int").as_deref(),
        Some("t")
    );
    assert_eq!(
        own::touched_table("CREATE INDEX i ON a (id)").as_deref(),
        Some("a")
    );
}

#[test]
fn robust_statement_advice_is_dropped_for_atomic_files_only() {
    assert!(
        !has("CREATE TABLE a (id bigint);", "prefer-robust-stmts"),
        "one transaction: atomic"
    );
    assert!(has(
        "-- pgwarden:no-transaction\nCREATE TABLE a (id bigint);",
        "prefer-robust-stmts"
    ));
}

#[test]
fn the_shipped_migrations_lint_clean_at_warning() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let sql = std::fs::read_to_string(&path).unwrap();
        let f = lint_file(&path.display().to_string(), &sql, &LintContext::default());
        assert!(f.iter().all(|f| f.severity < Severity::Warning), "{f:#?}");
    }
}
