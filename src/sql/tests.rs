use super::*;
use crate::sql::BuildSpans;

fn texts(sql: &str) -> Vec<String> {
    split(sql)
        .unwrap()
        .statements
        .into_iter()
        .map(|s| s.text)
        .collect()
}

#[test]
fn splits_on_top_level_semicolons_and_keeps_exact_text() {
    let sql =
        "CREATE TABLE a (id int);\n\n-- comment; not a statement\nINSERT INTO a VALUES (1)  ;\n";
    assert_eq!(
        texts(sql),
        vec!["CREATE TABLE a (id int)", "INSERT INTO a VALUES (1)"]
    );
}

#[test]
fn semicolons_inside_strings_dollar_quotes_and_comments_do_not_split() {
    let sql = "INSERT INTO t VALUES ('a;b', E'it\\'s;ok');\n\
               DO $body$ BEGIN PERFORM 1; RAISE NOTICE 'x;y'; END $body$;\n\
               /* block; comment */ SELECT 1";
    let got = texts(sql);
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got[1].starts_with("DO $body$") && got[1].ends_with("END $body$"));
    assert_eq!(got[2], "SELECT 1");
}

#[test]
fn statements_sqlparser_cannot_parse_still_split_and_classify() {
    let sql = "DROP INDEX CONCURRENTLY IF EXISTS idx_a;\n\
               REINDEX INDEX CONCURRENTLY idx_b;\n\
               ALTER INDEX IF EXISTS idx_c RENAME TO idx_d;\n\
               CREATE STATISTICS s1 (dependencies) ON a, b FROM t;\n\
               COMMENT ON CONSTRAINT c1 ON t IS 'x';\n\
               DO $$ BEGIN NULL; END $$;";
    let file = split(sql).unwrap();
    let kinds: Vec<TxRequirement> = file.statements.iter().map(|s| s.tx).collect();
    assert_eq!(
        kinds,
        vec![
            TxRequirement::NoTransaction("DROP INDEX CONCURRENTLY"),
            TxRequirement::NoTransaction("REINDEX ... CONCURRENTLY"),
            TxRequirement::Transactional,
            TxRequirement::Transactional,
            TxRequirement::Transactional,
            TxRequirement::Transactional,
        ]
    );
}

#[test]
fn begin_atomic_function_bodies_are_one_statement() {
    let sql = "CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql\n\
               BEGIN ATOMIC\n  SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END;\n  SELECT 2;\nEND;\nSELECT 3;";
    let got = texts(sql);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].ends_with("END"));
    assert_eq!(got[1], "SELECT 3");
}

#[test]
fn locations_point_at_the_first_token() {
    let sql = "-- header\n  CREATE TABLE a (x int);\n\tSELECT 'é';  SELECT 2;";
    let file = split(sql).unwrap();
    let at: Vec<(u64, u64)> = file.statements.iter().map(|s| (s.line, s.column)).collect();
    assert_eq!(at, vec![(2, 3), (3, 2), (3, 15)]);
    assert_eq!(file.statements[2].text, "SELECT 2");
}

#[test]
fn concurrent_index_builds_name_their_index_and_table() {
    let sql = "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS \"Idx_Mixed\" ON ONLY app.\"Order Items\" (id);\n\
               CREATE INDEX CONCURRENTLY idx_Plain ON tasks (developer_id);\n\
               CREATE INDEX CONCURRENTLY ON tasks (x);";
    let file = split(sql).unwrap();
    let builds: Vec<Option<IndexBuild>> = file
        .statements
        .iter()
        .map(|s| s.index_build.clone())
        .collect();
    assert_eq!(
        builds[0],
        Some(IndexBuild {
            index_name: "Idx_Mixed".into(),
            table: "app.\"Order Items\"".into(),
            if_not_exists: true,
            concurrently: true,
            spans: BuildSpans {
                name: (47, 58),
                table: (67, 84),
                concurrently: Some((20, 32)),
            },
        })
    );
    assert_eq!(
        builds[1],
        Some(IndexBuild {
            index_name: "idx_plain".into(),
            table: "tasks".into(),
            if_not_exists: false,
            concurrently: true,
            spans: BuildSpans {
                name: (26, 35),
                table: (39, 44),
                concurrently: Some((13, 25)),
            },
        })
    );
    assert_eq!(builds[2], None);
    let first = &file.statements[0];
    let s = &builds[0].as_ref().unwrap().spans;
    assert_eq!(&first.text[s.name.0..s.name.1], "\"Idx_Mixed\"");
    assert_eq!(&first.text[s.table.0..s.table.1], "app.\"Order Items\"");
}

#[test]
fn the_recovery_probe_rewrites_only_the_name_table_and_keyword() {
    let sql = "CREATE INDEX CONCURRENTLY \"on ON x\" ON ONLY \"s\".\"t ON\" USING gin (body gin_trgm_ops)";
    let file = split(sql).unwrap();
    let build = file.statements[0].index_build.clone().unwrap();
    assert_eq!(
        rewrite_index_build(
            &build,
            &file.statements[0].text,
            "pgwarden_probe_index",
            "pg_temp.pgwarden_probe"
        ),
        "CREATE INDEX  pgwarden_probe_index ON ONLY pg_temp.pgwarden_probe USING gin (body gin_trgm_ops)"
    );
    let plain = split("create index i on only p (k)").unwrap();
    let b = plain.statements[0].index_build.clone().unwrap();
    assert!(!b.concurrently && b.index_name == "i" && b.table == "p");
}

#[test]
fn classification_table() {
    let cases = [
        ("CREATE INDEX i ON t (a)", TxRequirement::Transactional),
        (
            "create index concurrently i on t (a)",
            TxRequirement::NoTransaction("CREATE INDEX CONCURRENTLY"),
        ),
        ("VACUUM ANALYZE t", TxRequirement::NoTransaction("VACUUM")),
        (
            "ALTER TABLE p DETACH PARTITION c CONCURRENTLY",
            TxRequirement::NoTransaction("ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY"),
        ),
        ("REINDEX TABLE t", TxRequirement::Transactional),
        (
            "REINDEX DATABASE d",
            TxRequirement::NoTransaction("REINDEX SCHEMA/DATABASE/SYSTEM"),
        ),
        ("BEGIN", TxRequirement::TransactionControl),
        ("COMMIT", TxRequirement::TransactionControl),
        ("PREPARE q AS SELECT 1", TxRequirement::Transactional),
        (
            "ALTER TYPE mood ADD VALUE 'meh'",
            TxRequirement::Transactional,
        ),
        (
            "CREATE DATABASE x",
            TxRequirement::NoTransaction("CREATE DATABASE"),
        ),
    ];
    for (sql, want) in cases {
        let file = split(sql).unwrap();
        assert_eq!(file.statements[0].tx, want, "{sql}");
    }
}

#[test]
fn no_transaction_directive_is_found_in_comments_only() {
    assert!(
        split("-- pgwarden:no-transaction\nCREATE TABLE a (x int);")
            .unwrap()
            .no_transaction_directive
    );
    assert!(
        !split("SELECT '-- pgwarden:no-transaction';")
            .unwrap()
            .no_transaction_directive
    );
}

#[test]
fn unterminated_string_is_a_located_error() {
    let err = split("SELECT 1;\nSELECT 'oops;").unwrap_err();
    assert_eq!(err.line, 2);
}

#[test]
fn empty_and_comment_only_files_have_no_statements() {
    assert!(split("").unwrap().statements.is_empty());
    assert!(
        split("-- nothing\n/* here */\n;;")
            .unwrap()
            .statements
            .is_empty()
    );
}

#[test]
fn trailing_comment_before_the_semicolon_is_not_part_of_the_text() {
    let got = texts("SELECT 1 -- one\n;\nSELECT 2 /* two */;");
    assert_eq!(got, vec!["SELECT 1", "SELECT 2"]);
}

#[test]
fn data_changing_queries_are_named() {
    assert_eq!(data_changing_keyword("SELECT * FROM t"), None);
    assert_eq!(
        data_changing_keyword("  with x AS (SELECT 1) SELECT * FROM x"),
        None
    );
    assert_eq!(
        data_changing_keyword("DELETE FROM t WHERE id = $1").as_deref(),
        Some("DELETE")
    );
    assert_eq!(
        data_changing_keyword("WITH d AS (DELETE FROM t RETURNING *) SELECT count(*) FROM d")
            .as_deref(),
        Some("DELETE")
    );
    assert_eq!(data_changing_keyword("SELECT 'delete'"), None);
    assert_eq!(
        data_changing_keyword("create table x (a int)").as_deref(),
        Some("CREATE")
    );
}

#[test]
fn created_extensions_are_named() {
    assert_eq!(
        created_extension("CREATE EXTENSION IF NOT EXISTS pg_trgm"),
        Some("pg_trgm".into())
    );
    assert_eq!(
        created_extension("create extension \"Citext\" schema x"),
        Some("Citext".into())
    );
    assert_eq!(created_extension("CREATE TABLE extension (x int)"), None);
    assert_eq!(
        created_schema("CREATE SCHEMA IF NOT EXISTS App"),
        Some("app".into())
    );
    assert_eq!(
        created_schema("create schema authorization \"Bob\""),
        Some("Bob".into())
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any input: splitting and the statement classifiers never panic, and every statement
        /// is a piece of the input.
        #[test]
        fn splitting_never_panics_and_keeps_the_text(sql in "\\PC{0,200}|[;'\"$a-z \\n()\\-*/\\\\]{0,200}") {
            if let Ok(file) = split(&sql) {
                for s in &file.statements {
                    prop_assert!(sql.contains(&s.text));
                    let _ = created_extension(&s.text);
                    let _ = created_schema(&s.text);
                    if let Some(b) = &s.index_build {
                        let _ = rewrite_index_build(b, &s.text, "i", "t");
                    }
                }
            }
            let _ = placeholders(&sql);
            let _ = data_changing_keyword(&sql);
        }

        /// Statements joined by semicolons split back into the same statements, whatever
        /// strings, quoted names and comments they hold.
        #[test]
        fn joined_statements_split_back(parts in prop::collection::vec(
            "SELECT( /\\* ;x \\*/)? ('[a-z;]{0,5}'|\"[a-z; ]{1,5}\"|\\$\\$[a-z;]{0,5}\\$\\$|[0-9]{1,3})", 1..6)) {
            let sql = parts.join(";\n");
            let file = split(&sql).unwrap();
            let texts: Vec<String> = file.statements.iter().map(|s| s.text.clone()).collect();
            prop_assert_eq!(texts, parts);
        }
    }
}

#[test]
fn a_dollar_quote_the_tokenizer_cannot_read_as_postgresql_does_is_refused() {
    // PostgreSQL reads `$→$'$→$` as the string `'`, so the COMMIT and the CREATE run; the
    // tokenizer would have read one statement ending in a single-quoted string.
    for sql in [
        "SELECT count(*) FROM t WHERE a <> $→$'$→$; COMMIT; CREATE TABLE pwned(); BEGIN /*'*/",
        "SELECT $★$ x $★$",
        "SELECT $ 1",
        "SELECT $name",
    ] {
        let err = split(sql).expect_err(sql);
        assert!(err.message.contains("dollar quote"), "{sql}: {err}");
        assert!(words(sql).is_err() && placeholders(sql).is_err(), "{sql}");
    }
    // Tags of letters (any script), digits and underscores, and numbered parameters, read alike.
    for sql in [
        "SELECT $é$ ; $é$",
        "SELECT $_x1$ a; b $_x1$",
        "SELECT $1 + $12",
    ] {
        assert_eq!(texts(sql).len(), 1, "{sql}");
    }
}
