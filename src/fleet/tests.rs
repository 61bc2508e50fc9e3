use super::*;

#[test]
fn the_line_format_takes_names_bare_urls_and_comments() {
    let text = "# the fleet\n\ntenant_a = postgres://u:pw@db1:5432/a\npostgres://u@db2/b?sslmode=disable\n";
    let groups = parse_lines("t.txt", text).unwrap();
    assert_eq!(groups.len(), 1);
    let names: Vec<&str> = groups[0].targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["tenant_a", "db2/b"]);
    assert_eq!(
        groups[0].targets[1].url,
        "postgres://u@db2/b?sslmode=disable"
    );
}

#[test]
fn bad_lines_name_the_line_and_the_fix() {
    for (text, line, says) in [
        ("a = postgres://h/a\nnonsense\n", 2, "expected"),
        ("a = host=h dbname=x\n", 1, "TOML form"),
        (
            "a = postgres://h/a\na = postgres://h/b\n",
            0,
            "two targets are named `a`",
        ),
        ("bad\u{1b}name = postgres://h/a\n", 1, "printable"),
        ("# only comments\n", 0, "no targets"),
    ] {
        let e = parse_lines("t.txt", text).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
        if line > 0 {
            assert!(e.contains(&format!("line {line}")), "{e}");
        }
    }
}

#[test]
fn toml_groups_run_in_order_and_each_target_once() {
    let text = r#"
[[target]]
name = "c1"
url = "postgres://h/c1"
[[target]]
name = "p1"
url = "host=h dbname=p1"
[[target]]
name = "p2"
url = "postgres://h/p2"
[[group]]
name = "canary"
targets = ["c1"]
[[group]]
name = "production"
targets = ["p1"]
"#;
    let groups = parse_toml("t.toml", text).unwrap();
    let shape: Vec<(String, Vec<String>)> = groups
        .iter()
        .map(|g| {
            (
                g.name.clone(),
                g.targets.iter().map(|t| t.name.clone()).collect(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("canary".to_string(), vec!["c1".to_string()]),
            ("production".into(), vec!["p1".into()]),
            ("ungrouped".into(), vec!["p2".into()]),
        ]
    );
    let twice = format!("{text}[[group]]\nname = \"again\"\ntargets = [\"c1\"]\n");
    assert!(
        parse_toml("t.toml", &twice)
            .unwrap_err()
            .to_string()
            .contains("two groups")
    );
    let unknown = format!("{text}[[group]]\nname = \"x\"\ntargets = [\"nope\"]\n");
    assert!(
        parse_toml("t.toml", &unknown)
            .unwrap_err()
            .to_string()
            .contains("no [[target]]")
    );
}

#[test]
fn sql_rows_group_by_first_appearance() {
    let groups = from_rows(vec![
        ("a".into(), "postgres://h/a".into(), Some("canary".into())),
        ("b".into(), "postgres://h/b".into(), Some("rest".into())),
        ("c".into(), "postgres://h/c".into(), Some("canary".into())),
    ])
    .unwrap();
    assert_eq!(groups[0].name, "canary");
    assert_eq!(groups[0].targets.len(), 2);
    assert_eq!(groups[1].targets[0].name, "b");
}

#[test]
fn a_toml_syntax_error_never_shows_the_line_that_may_hold_a_password() {
    for text in [
        "[[target]]\nname = \"a\"\nurl=\"postgres://u:TomlSecret@h/x\" junk\n",
        "[[target]]\nname = \"a\"\nurl=[\"postgres://u:TomlSecret@h/x\"]\n",
    ] {
        let e = parse_toml("t.toml", text).unwrap_err().to_string();
        assert!(!e.contains("TomlSecret"), "{e}");
        assert!(e.contains("line 3"), "{e}");
    }
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_first_name() {
    let groups = parse_lines("t.txt", "\u{feff}a = postgres://h/a\n").unwrap();
    assert_eq!(groups[0].targets[0].name, "a");
}
