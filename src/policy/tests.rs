use super::*;

fn parse_str(text: &str) -> Result<Policy, PolicyError> {
    parse(text, Path::new("policies/test.toml"))
}

#[test]
fn shipped_default_policy_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/default.toml");
    let p = load(&path).unwrap();
    assert_eq!(p.budget.mean_ms, 100.0);
    assert!(p.queries.len() >= 6);
}

#[test]
fn overrides_apply_per_query() {
    let p = parse_str(
        "version = 1\n[budget]\nmean_ms = 100\np95_ms = 300\n\n[[query]]\nname = \"a\"\nsql = \"SELECT 1\"\nmean_ms = 20\n",
    )
    .unwrap();
    let b = p.budget_for(&p.queries[0]);
    assert_eq!((b.mean_ms, b.p95_ms), (20.0, Some(300.0)));
}

#[test]
fn unknown_field_is_located() {
    let err = parse_str("version = 1\n\n[budget]\nmean_ms = 100\nmaen_ms = 5\n").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("policy file policies/test.toml:5:1:"),
        "{msg}"
    );
    assert!(msg.contains("maen_ms"), "{msg}");
}

#[test]
fn syntax_error_is_located() {
    let err = parse_str("version = 1\n[[query]]\nname = \"a\nsql = \"x\"\n").unwrap_err();
    assert!(err.to_string().contains("test.toml:3:"), "{err}");
}

#[test]
fn wrong_type_is_located() {
    let err = parse_str("version = 1\n[budget]\nmean_ms = \"fast\"\n").unwrap_err();
    assert!(err.to_string().contains("test.toml:3:11"), "{err}");
}

#[test]
fn parameter_sets_must_match_the_placeholders() {
    let err = parse_str(
        "version = 1\n[[query]]\nname = \"a\"\nsql = \"SELECT $1, $2\"\nparams = [[1]]\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("takes 2 parameter(s)"), "{err}");
    let err = parse_str("version = 1\n[[query]]\nname = \"a\"\nsql = \"SELECT $1\"\n").unwrap_err();
    assert!(err.to_string().contains("no `params`"), "{err}");
}

#[test]
fn unsupported_version_and_duplicates_are_refused() {
    assert!(
        parse_str("version = 2\n")
            .unwrap_err()
            .to_string()
            .contains("version 2")
    );
    let dup = "version = 1\n[[query]]\nname = \"a\"\nsql = \"SELECT 1\"\n[[query]]\nname = \"a\"\nsql = \"SELECT 2\"\n";
    assert!(
        parse_str(dup)
            .unwrap_err()
            .to_string()
            .contains("defined twice")
    );
}

#[test]
fn a_workload_query_is_exactly_one_statement() {
    let policy = |sql: &str| {
        parse_str(&format!(
            "version = 1\n[budget]\nmean_ms = 100\n[[query]]\nname = \"q\\n1\"\nsql = \"\"\"{sql}\"\"\"\n"
        ))
    };
    let err = policy("SELECT 1; COMMIT; DELETE FROM docs")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("query `q\\n1` holds 3 statements") && err.contains("COMMIT"),
        "{err}"
    );
    let err = policy("COMMIT").unwrap_err().to_string();
    assert!(err.contains("cannot run inside"), "{err}");
    assert!(policy("-- only a comment").is_err());
    policy("SELECT count(*) FROM docs -- trailing").unwrap();
    policy("SELECT 1; -- a comment after the semicolon").unwrap();
    policy("/* leading */ SELECT ';' AS x, $$;$$ AS y").unwrap();
}

#[test]
fn numbers_must_be_finite_and_positive() {
    for bad in [
        "mean_ms = nan",
        "mean_ms = inf",
        "mean_ms = -1.0",
        "p95_ms = nan",
    ] {
        let err = parse_str(&format!("version = 1\n[budget]\n{bad}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("finite number above zero"), "{bad}: {err}");
    }
}

#[test]
fn lint_section_is_validated_at_load() {
    let err = parse_str("version = 1\n[lint]\ndisable = [\"require-concurent-index-creation\"]\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown rule id `require-concurent-index-creation`")
            && err.contains("did you mean `require-concurrent-index-creation`"),
        "{err}"
    );
    for bad in ["0", "-5"] {
        let err = parse_str(&format!("version = 1\n[lint]\nsmall_table_rows = {bad}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("small_table_rows is"), "{err}");
    }
    let p = parse_str(
        "version = 1\n[lint]\nsmall_table_rows = 50\ndisable = [\"prefer-text-field\", \"index-without-name\"]\n",
    )
    .unwrap();
    assert_eq!(p.lint.small_table_rows, Some(50));
    assert_eq!(p.lint.disabled_rules().len(), 2);
}

#[test]
fn advise_write_cost_settings_parse_and_are_validated() {
    let p = parse_str(
        "version = 1\n[advise]\nwrite_cost_veto = true\nwrite_sample_seconds = 1\n[advise.writes_per_min]\norders = 1200\n\"Order Items\" = 0.5\n",
    )
    .unwrap();
    assert!(p.advise.write_cost_veto);
    assert_eq!(p.advise.write_sample_seconds, 1);
    assert_eq!(p.advise.writes_per_min["Order Items"], 0.5);
    let defaults = parse_str("version = 1\n").unwrap();
    assert!(!defaults.advise.write_cost_veto);
    assert_eq!(defaults.advise.write_sample_seconds, 10);

    for (text, expected) in [
        ("[advise.writes_per_min]\norders = -1", "`orders` is -1"),
        ("[advise.writes_per_min]\norders = nan", "`orders` is NaN"),
        ("[advise]\nwrite_sample_seconds = 7200", "at most 3600"),
        ("[advise]\nwrite_sample_seconds = -1", "test.toml:3:"),
        ("[advise]\nwrite_cost_vetoo = true", "write_cost_vetoo"),
    ] {
        let err = parse_str(&format!("version = 1\n{text}\n")).unwrap_err();
        assert!(err.to_string().contains(expected), "{text}: {err}");
    }
}
