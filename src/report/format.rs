//! The output formats a person or a CI system chooses (`--format`, lint's `--output-format`).

use clap::ValueEnum;

/// Results on stdout: tables and a summary line, or JSON with a `schema_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Tables and a one-line summary, for people.
    Human,
    /// JSON with a `schema_version`, for programs.
    Json,
}

/// Lint's own formats, for CI systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LintFormat {
    /// Tables and a one-line summary, for people.
    Human,
    /// JSON with a `schema_version`, for programs.
    Json,
    /// GitHub Actions workflow commands: an annotation at each finding's line.
    Github,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
    /// JUnit XML, one test case per file.
    Junit,
}

impl LintFormat {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            LintFormat::Human => "human",
            LintFormat::Json => "json",
            LintFormat::Github => "github",
            LintFormat::Sarif => "sarif",
            LintFormat::Junit => "junit",
        }
    }
}
