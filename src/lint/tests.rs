use super::*;

fn rules(sql: &str) -> Vec<(String, Severity)> {
    lint_file("V9__x.sql", sql, &LintContext::default())
        .findings
        .into_iter()
        .map(|f| (f.rule.to_string(), f.severity))
        .collect()
}

fn has(sql: &str, rule: impl std::fmt::Display) -> bool {
    let rule = rule.to_string();
    rules(sql).iter().any(|(r, _)| *r == rule)
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
        let size = TableSize {
            rows: Some(rows),
            table_bytes: rows * 100.0,
            total_bytes: rows * 150.0,
        };
        let ctx = LintContext {
            tables: Some([("a".to_string(), size)].into_iter().collect()),
            ..Default::default()
        };
        lint_file("f.sql", sql, &ctx)
            .findings
            .into_iter()
            .find(|f| f.rule == "require-concurrent-index-creation")
            .unwrap()
            .severity
    };
    assert_eq!(severity(10.0), Severity::Note);
    assert_eq!(severity(50_000.0), Severity::Warning);
    assert_eq!(severity(10_000_000.0), Severity::Error);
    // Never analyzed: the size is unknown, so a warning.
    let ctx = LintContext {
        tables: Some(
            [("a".to_string(), TableSize::default())]
                .into_iter()
                .collect(),
        ),
        ..Default::default()
    };
    assert!(
        lint_file("f.sql", sql, &ctx)
            .findings
            .iter()
            .any(|f| f.rule == "require-concurrent-index-creation"
                && f.severity == Severity::Warning)
    );
}

#[test]
fn locations_point_at_the_statement_in_a_multi_statement_file() {
    let sql = "CREATE TABLE b (id int);\n\n-- the index\n  CREATE INDEX a_id ON a (id);\n";
    let f = lint_file("f.sql", sql, &LintContext::default()).findings;
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
    )
    .findings;
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
        disabled: vec![INDEX_WITHOUT_NAME],
        ..Default::default()
    };
    assert!(
        lint_file("f.sql", "CREATE INDEX CONCURRENTLY ON a (id);", &ctx)
            .findings
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
    let f = lint_file("f.sql", "CREATE INDEX CONCURRENTLY a_id ON a (id);", &ctx).findings;
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
        let f = lint_file(&path.display().to_string(), &sql, &LintContext::default()).findings;
        assert!(f.iter().all(|f| f.severity < Severity::Warning), "{f:#?}");
    }
}

const BLOCKING_BUILD: &str = "require-concurrent-index-creation";

fn lint_with(sql: &str, ctx: &LintContext) -> FileLint {
    lint_file("V2__x.sql", sql, ctx)
}

#[test]
fn locking_rules_are_moot_on_a_table_created_earlier_in_the_same_file() {
    let sql = "CREATE TABLE a (id int, p int);\n\
               CREATE INDEX a_id ON a (id);\n\
               ALTER TABLE a ADD CONSTRAINT a_p FOREIGN KEY (p) REFERENCES old (id);\n\
               ALTER TABLE a ALTER COLUMN id TYPE bigint;\n\
               CREATE INDEX old_id ON old (id);\n";
    let r = lint_with(sql, &LintContext::default());
    let locking: Vec<_> = r
        .findings
        .iter()
        .filter(|f| matches!(f.rule, RuleId::Squawk(rule) if LOCKING.contains(&rule)))
        .collect();
    // Only the index on the old table stands.
    assert_eq!(locking.len(), 1, "{locking:#?}");
    assert_eq!(
        (locking[0].rule.as_str(), locking[0].line),
        (BLOCKING_BUILD, 5)
    );
    assert!(r.on_new_tables >= 3, "{}", r.on_new_tables);
    // Before the CREATE TABLE the table is not new.
    assert!(has(
        "CREATE INDEX a_id ON a (id);\nCREATE TABLE a (id int);",
        BLOCKING_BUILD
    ));
}

#[test]
fn a_table_created_by_an_earlier_file_of_the_run_is_new() {
    let first = lint_with("CREATE TABLE a (id int);\n", &LintContext::default());
    let ctx = LintContext {
        new_tables: first.new_tables,
        ..Default::default()
    };
    let second = lint_with("CREATE INDEX a_id ON a (id);\nDROP INDEX a_id;\n", &ctx);
    assert!(
        second.findings.iter().all(|f| f.rule != BLOCKING_BUILD),
        "{second:#?}"
    );
    assert!(
        second
            .findings
            .iter()
            .all(|f| f.rule != "require-concurrent-index-deletion"),
        "an index built on a new table: {second:#?}"
    );
    assert_eq!(second.on_new_tables, 2);
    // Without the first file the index build is a finding.
    assert!(has("CREATE INDEX a_id ON a (id);", BLOCKING_BUILD));
}

#[test]
fn new_table_names_are_matched_as_postgresql_stores_them() {
    let cases = [
        (
            "CREATE TABLE a (id int)",
            "CREATE INDEX i ON public.a (id)",
            false,
        ),
        (
            "CREATE TABLE public.a (id int)",
            "CREATE INDEX i ON a (id)",
            false,
        ),
        (
            "CREATE TABLE A (id int)",
            "CREATE INDEX i ON \"a\" (id)",
            false,
        ),
        (
            "CREATE TABLE \"Orders\" (id int)",
            "CREATE INDEX i ON \"Orders\" (id)",
            false,
        ),
        (
            "CREATE TABLE \"Orders\" (id int)",
            "CREATE INDEX i ON orders (id)",
            true,
        ),
        (
            "CREATE TABLE app.a (id int)",
            "CREATE INDEX i ON a (id)",
            true,
        ),
        (
            "CREATE TABLE a (id int)",
            "CREATE INDEX i ON app.a (id)",
            true,
        ),
        (
            "CREATE TABLE IF NOT EXISTS a (id int)",
            "CREATE INDEX i ON a (id)",
            false,
        ),
        (
            "CREATE UNLOGGED TABLE a (id int)",
            "CREATE INDEX i ON a (id)",
            false,
        ),
        (
            "CREATE TABLE a AS SELECT 1 AS id",
            "CREATE INDEX i ON a (id)",
            false,
        ),
        (
            "CREATE TABLE a_2026 PARTITION OF a FOR VALUES FROM (1) TO (9)",
            "CREATE INDEX i ON a_2026 (id)",
            false,
        ),
        // Renamed away, dropped, or an old table renamed into the name: not new.
        (
            "CREATE TABLE a (id int); ALTER TABLE a RENAME TO b",
            "CREATE INDEX i ON b (id)",
            false,
        ),
        (
            "CREATE TABLE a (id int); ALTER TABLE a RENAME TO b",
            "CREATE INDEX i ON a (id)",
            true,
        ),
        (
            "CREATE TABLE a (id int); DROP TABLE a; ALTER TABLE old RENAME TO a",
            "CREATE INDEX i ON a (id)",
            true,
        ),
    ];
    for (create, build, fires) in cases {
        let sql = format!("{create};\n{build};\n");
        assert_eq!(has(&sql, BLOCKING_BUILD), fires, "{sql}");
    }
}

#[test]
fn a_create_table_if_not_exists_of_a_live_table_is_not_new() {
    let ctx = LintContext {
        tables: Some(
            [("a".to_string(), TableSize::default())]
                .into_iter()
                .collect(),
        ),
        ..Default::default()
    };
    let r = lint_with(
        "CREATE TABLE IF NOT EXISTS a (id int);\nCREATE INDEX i ON a (id);\n",
        &ctx,
    );
    assert!(
        r.findings.iter().any(|f| f.rule == BLOCKING_BUILD),
        "{r:#?}"
    );
}

#[test]
fn an_ignore_with_a_reason_suppresses_and_is_listed() {
    let sql = "CREATE TABLE b (id bigint);\n\
               -- pgwarden:ignore require-concurrent-index-creation, index-without-name: empty in production\n\
               CREATE INDEX\n  ON a (id);\n";
    let r = lint_with(sql, &LintContext::default());
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    let rules: Vec<&str> = r.ignored.iter().map(|i| i.rule.as_str()).collect();
    assert_eq!(rules, [BLOCKING_BUILD, "index-without-name"]);
    assert!(
        r.ignored
            .iter()
            .all(|i| i.reason.as_deref() == Some("empty in production")
                && i.ignore_line == 2
                && i.line == 3)
    );
}

#[test]
fn an_ignore_without_a_reason_still_suppresses_but_is_a_note() {
    let sql = "-- pgwarden:ignore require-concurrent-index-creation\nCREATE INDEX a_id ON a (id);";
    let r = lint_with(sql, &LintContext::default());
    assert_eq!(r.ignored.len(), 1);
    assert_eq!(r.ignored[0].reason, None);
    let notes: Vec<_> = r
        .findings
        .iter()
        .map(|f| (f.rule, f.severity, f.line))
        .collect();
    assert_eq!(notes, [(IGNORE_WITHOUT_REASON, Severity::Note, 1)]);
    // An empty reason is no reason.
    let r = lint_with(
        "-- pgwarden:ignore require-concurrent-index-creation:  \nCREATE INDEX a_id ON a (id);",
        &LintContext::default(),
    );
    assert!(r.findings.iter().any(|f| f.rule == IGNORE_WITHOUT_REASON));
}

#[test]
fn a_file_ignore_works_only_in_the_leading_comments() {
    let lead = "-- A migration.\n-- pgwarden:ignore-file require-concurrent-index-creation: built off-peak\n\n\
                CREATE INDEX a_id ON a (id);\nCREATE INDEX b_id ON b (id);\n";
    let r = lint_with(lead, &LintContext::default());
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert_eq!(r.ignored.len(), 2);
    assert!(
        r.ignored
            .iter()
            .all(|i| i.reason.as_deref() == Some("built off-peak"))
    );

    let late = "CREATE INDEX a_id ON a (id);\n\
                -- pgwarden:ignore-file require-concurrent-index-creation: too late\n\
                CREATE INDEX b_id ON b (id);\n";
    let r = lint_with(late, &LintContext::default());
    assert!(r.ignored.is_empty(), "{:#?}", r.ignored);
    assert_eq!(
        r.findings
            .iter()
            .filter(|f| f.rule == BLOCKING_BUILD)
            .count(),
        2
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.rule == MISPLACED_IGNORE_FILE && f.line == 2)
    );
}

#[test]
fn an_ignore_naming_an_unknown_rule_is_a_warning_naming_it() {
    let sql = "-- pgwarden:ignore require-concurent-index-creation, \"x\u{1b}]0;y: why\nCREATE INDEX a_id ON a (id);";
    let r = lint_with(sql, &LintContext::default());
    let unknown: Vec<&LintFinding> = r
        .findings
        .iter()
        .filter(|f| f.rule == UNKNOWN_RULE_IN_IGNORE)
        .collect();
    assert_eq!(unknown.len(), 2, "{:#?}", r.findings);
    assert!(
        unknown[0]
            .message
            .contains("`require-concurent-index-creation`")
    );
    assert!(
        unknown[0]
            .message
            .contains("did you mean `require-concurrent-index-creation`")
    );
    assert!(unknown.iter().all(|f| f.severity == Severity::Warning));
    // The id is escaped in the message; the finding it meant to hide stands.
    assert!(
        !unknown[1].message.contains('\u{1b}'),
        "{}",
        unknown[1].message
    );
    assert!(r.findings.iter().any(|f| f.rule == BLOCKING_BUILD));
    assert!(has("-- pgwarden:ignore\nSELECT 1;", UNKNOWN_RULE_IN_IGNORE));
}

#[test]
fn blocking_findings_on_a_large_table_are_errors_with_a_lock_estimate() {
    let size = TableSize {
        rows: Some(3_000_000.0),
        table_bytes: 2.5e9,
        total_bytes: 4e9,
    };
    let ctx = |small| LintContext {
        tables: Some([("a".to_string(), size)].into_iter().collect()),
        small_table_rows: small,
        ..Default::default()
    };
    let find = |sql: &str, small, rule: &str| {
        lint_with(sql, &ctx(small))
            .findings
            .into_iter()
            .find(|f| f.rule == rule)
            .unwrap()
    };
    let build = find("CREATE INDEX a_id ON a (id);", 10_000, BLOCKING_BUILD);
    assert_eq!(build.severity, Severity::Error);
    // 2.5 GB at 25 MB/s.
    assert!(
        build.message.contains("about 1.67 min"),
        "{}",
        build.message
    );
    let retype = find(
        "ALTER TABLE a ALTER COLUMN id TYPE bigint;",
        10_000,
        "changing-column-type",
    );
    assert!(
        retype.message.contains("4 GB") && retype.message.contains("2.67 min"),
        "{}",
        retype.message
    );
    // A DROP INDEX waits for a lock but does not scan: a warning whatever the size.
    let drop = find(
        "ALTER TABLE a ALTER COLUMN id TYPE bigint;\nDROP INDEX a_id;",
        10_000,
        "require-concurrent-index-deletion",
    );
    assert_eq!(drop.severity, Severity::Warning);
    // The threshold is the policy's: 3 million rows are small next to 50 million.
    assert_eq!(
        find("CREATE INDEX a_id ON a (id);", 50_000_000, BLOCKING_BUILD).severity,
        Severity::Note
    );
    assert_eq!(
        find("CREATE INDEX a_id ON a (id);", 100_000, BLOCKING_BUILD).severity,
        Severity::Warning
    );
}

#[test]
fn an_ignore_inside_a_statement_covers_the_rest_of_it() {
    let sql = "CREATE INDEX CONCURRENTLY a_id ON a (id);\n\
               ALTER TABLE a\n  -- pgwarden:ignore changing-column-type: tiny table\n  ALTER COLUMN id TYPE bigint;\n\
               ALTER TABLE a ALTER COLUMN b TYPE bigint;\n";
    let r = lint_with(sql, &LintContext::default());
    assert_eq!(r.ignored.len(), 1, "{:#?}", r.ignored);
    assert_eq!(r.ignored[0].line, 4);
    let left: Vec<u64> = r
        .findings
        .iter()
        .filter(|f| f.rule == "changing-column-type")
        .map(|f| f.line)
        .collect();
    assert_eq!(left, [5]);
}
