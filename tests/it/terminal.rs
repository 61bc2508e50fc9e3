//! What a person sees at a terminal: tables that fit the width, lint's formats through
//! `--format`, shell completions and manual pages generated from the parser.

use crate::common::*;

fn lines_wider_than(text: &str, width: usize) -> Vec<String> {
    text.lines()
        .filter(|l| l.chars().count() > width)
        .map(String::from)
        .collect()
}

#[test]
fn check_tables_fit_columns_and_wrap_the_long_text() {
    let db = TestDb::new("terminal_width");
    db.client()
        .batch_execute(
            "CREATE TABLE wide_events (id bigint, kind text, payload text);
             INSERT INTO wide_events SELECT g, 'k' || (g % 50), repeat('x', 20)
               FROM generate_series(1, 30000) g;
             ANALYZE wide_events;",
        )
        .unwrap();
    let policy = policy_file(
        r#"
version = 1
[budget]
mean_ms = 100
[check]
warmup = 1
runs = 2

[[query]]
name = "events_of_a_kind_with_a_rather_long_descriptive_name"
sql = "SELECT count(*) FROM wide_events WHERE kind = $1"
params = [["k7"]]
"#,
    );
    let dir = migrations_dir(&[]);
    let run = |columns: &str| {
        let out = db
            .pgwarden(dir.path())
            .arg("--policy")
            .arg(policy.path())
            .arg("check")
            .env("COLUMNS", columns)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    let unlimited = {
        let out = db
            .pgwarden(dir.path())
            .arg("--policy")
            .arg(policy.path())
            .arg("check")
            .output()
            .unwrap();
        stdout(&out)
    };
    let table_width = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with('┌'))
            .map(|l| l.chars().count())
            .max()
            .unwrap()
    };
    // Without COLUMNS (and no terminal) nothing is wrapped: the table is wider than 80.
    assert!(table_width(&unlimited) > 80, "{unlimited}");
    for width in [80, 120] {
        let text = run(&width.to_string());
        let table: String = text
            .lines()
            .filter(|l| ['┌', '│', '├', '└'].iter().any(|c| l.starts_with(*c)))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(
            lines_wider_than(&table, width).is_empty(),
            "COLUMNS={width}:\n{text}"
        );
        // Wrapped, not cut: the whole explanation is still there.
        let cells: String = table
            .lines()
            .filter_map(|l| l.rsplit('│').nth(1))
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(cells.contains("seq scan of wide_events"), "{text}");
    }
}

#[test]
fn lint_takes_its_ci_formats_through_format_and_others_point_to_them() {
    let dir = migrations_dir(&[(
        "V1__idx.sql",
        "CREATE TABLE t (id int);\nCREATE INDEX t_id ON t (id);\n",
    )]);
    let lint = |args: &[&str]| {
        pgwarden()
            .arg("--migrations")
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let via_format = lint(&["--format", "sarif", "lint"]);
    let via_output_format = lint(&["lint", "--output-format", "sarif"]);
    assert_eq!(via_format.status.code(), via_output_format.status.code());
    assert_eq!(stdout(&via_format), stdout(&via_output_format));
    let sarif: serde_json::Value = serde_json::from_str(&stdout(&via_format)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");

    let check = pgwarden()
        .args(["--format", "sarif", "check"])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(2));
    let err = stderr(&check);
    assert!(
        err.contains("--format sarif is a lint report format") && err.contains("human or json"),
        "{err}"
    );
}

#[test]
fn completions_for_every_shell_come_from_the_parser() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = pgwarden().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr(&out));
        let text = stdout(&out);
        // Every subcommand and a nested one are offered.
        for word in ["migrate", "advise", "completions", "--output-format"] {
            assert!(text.contains(word), "{shell} completions lack {word}");
        }
    }
    // The bash script is valid bash.
    let script = pgwarden().args(["completions", "bash"]).output().unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &script.stdout).unwrap();
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(file.path())
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{}", stderr(&syntax));
    let bad = pgwarden().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn man_pages_cover_every_command() {
    let page = pgwarden().arg("man").output().unwrap();
    assert_eq!(page.status.code(), Some(0));
    let text = stdout(&page);
    assert!(text.contains(".TH pgwarden 1"), "{text}");
    assert!(text.contains("migrate"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    // A page already in the directory is neither touched nor listed as written.
    std::fs::create_dir_all(dir.path().join("man1")).unwrap();
    std::fs::write(dir.path().join("man1/other.1"), "x").unwrap();
    let out = pgwarden()
        .args(["man", "--dir"])
        .arg(dir.path().join("man1"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for name in [
        "pgwarden.1",
        "pgwarden-check.1",
        "pgwarden-migrate-apply.1",
        "pgwarden-completions.1",
    ] {
        let path = dir.path().join("man1").join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{name}");
        assert!(stdout(&out).contains(name), "listed: {}", stdout(&out));
    }
    assert!(!stdout(&out).contains("other.1"), "{}", stdout(&out));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("man1/other.1")).unwrap(),
        "x"
    );
    // Every page listed exists.
    for line in stdout(&out).lines() {
        assert!(std::path::Path::new(line).is_file(), "{line}");
    }
}

#[test]
fn an_html_path_that_cannot_be_written_is_refused_before_anything_runs() {
    // The database is unreachable: the refusal must come first, naming the path.
    for (path, says) in [
        ("/nonexistent/dir/report.html", "does not exist"),
        ("/tmp", "is a directory"),
    ] {
        let out = pgwarden()
            .args([
                "--database-url",
                "postgres://nobody@127.0.0.1:1/none",
                "check",
                "--html",
                path,
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(err.contains(path) && err.contains(says), "{err}");
        assert!(!err.contains("cannot connect"), "{err}");
    }
}

#[test]
fn a_full_disk_on_stdout_is_an_error_not_a_success() {
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("pgwarden"))
        .args(["completions", "bash"])
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot write to stdout"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = pgwarden().arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let expected = format!(
        "pgwarden {} (commit {})\n",
        env!("CARGO_PKG_VERSION"),
        commit.as_deref().unwrap_or("unknown")
    );
    assert_eq!(text, expected);
}
