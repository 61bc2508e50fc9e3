//! The CI recipes in `ci/` work as written: both parse as YAML, install pgwarden itself (not the
//! user's repository), and every `pgwarden` command line in them parses with the real CLI.

use clap::Parser;
use pgwarden::cli::Cli;
use yaml_rust2::{Yaml, YamlLoader};

fn recipe(name: &str) -> Yaml {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("ci")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(docs.len(), 1, "{name}: one YAML document");
    docs.remove(0)
}

/// Every shell line in the recipe's `run`, `script` and `before_script` entries.
fn shell_lines(y: &Yaml, out: &mut Vec<String>) {
    match y {
        Yaml::Hash(h) => {
            for (k, v) in h {
                let shell = matches!(k.as_str(), Some("run" | "script" | "before_script"));
                match (shell, v) {
                    (true, Yaml::String(s)) => out.extend(s.lines().map(String::from)),
                    (true, Yaml::Array(a)) => {
                        out.extend(a.iter().filter_map(Yaml::as_str).map(String::from))
                    }
                    _ => shell_lines(v, out),
                }
            }
        }
        Yaml::Array(a) => a.iter().for_each(|v| shell_lines(v, out)),
        _ => {}
    }
}

/// The `pgwarden ...` commands in a shell line (after `then`, `&&`, `;`), with redirections
/// and `|| true` cut off.
fn pgwarden_commands(line: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for part in line.split([';', '&', '|']) {
        let part = part.trim().trim_start_matches("then ").trim();
        if !part.starts_with("pgwarden ") && part != "pgwarden" {
            continue;
        }
        let words = shlex::split(part).unwrap_or_else(|| panic!("shell quoting in {line}"));
        let words: Vec<String> = words
            .into_iter()
            .take_while(|w| !w.starts_with('>') && !w.starts_with('<'))
            .collect();
        out.push(words);
    }
    out
}

fn check_recipe(name: &str) -> Vec<String> {
    let mut lines = Vec::new();
    shell_lines(&recipe(name), &mut lines);
    let commands: Vec<Vec<String>> = lines.iter().flat_map(|l| pgwarden_commands(l)).collect();
    let mut names = Vec::new();
    for words in &commands {
        if let Err(e) = Cli::try_parse_from(words) {
            panic!("{name}: `{}` does not parse: {e}", words.join(" "));
        }
        names.push(words[1..].join(" "));
    }
    let installs: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("cargo install"))
        .collect();
    assert!(!installs.is_empty(), "{name} installs pgwarden");
    for l in installs {
        assert!(
            !l.contains("--path .") && l.contains("pgwarden"),
            "{name}: installs the user's repository instead of pgwarden: {l}"
        );
    }
    // Server binaries from the PostgreSQL project's repository, of a pinned major version.
    assert!(
        lines.iter().any(|l| l.contains("apt.postgresql.org.sh")),
        "{name} adds the PGDG repository"
    );
    names
}

#[test]
fn the_github_actions_recipe_runs_doctor_then_ci_with_real_arguments() {
    let names = check_recipe("github-actions.yml");
    assert!(names.iter().any(|n| n == "doctor"), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("ci")), "{names:?}");
    assert!(names.len() >= 4, "{names:?}");
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ci/github-actions.yml"),
    )
    .unwrap();
    assert!(
        text.contains("runs-on: ubuntu-24.04"),
        "a runner that exists"
    );
}

#[test]
fn the_gitlab_recipe_runs_doctor_then_ci_with_real_arguments() {
    let names = check_recipe("gitlab-ci.yml");
    assert!(names.iter().any(|n| n == "doctor"), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("ci")), "{names:?}");
}

#[test]
fn a_command_line_that_does_not_parse_is_caught() {
    // The checker itself: a misspelt flag must fail to parse.
    let words = &pgwarden_commands("pgwarden ci --fail-on warnings || true")[0];
    assert!(Cli::try_parse_from(words).is_err());
    let words = &pgwarden_commands("if [ -n \"$X\" ]; then pgwarden doctor || true; fi")[0];
    assert_eq!(words, &["pgwarden", "doctor"]);
}
