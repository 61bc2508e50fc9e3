//! The output formats a person or a CI system chooses (`--format`, lint's `--output-format`).

use clap::ValueEnum;

/// Results on stdout: tables and a summary line, or JSON with a `schema_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// Lint's own formats, for CI systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LintFormat {
    Human,
    Json,
    Github,
    Sarif,
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
