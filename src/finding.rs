//! Findings: what `plan` (and later `lint`) report. Rule ids are stable kebab-case strings,
//! defined here and nowhere else.

use serde::Serialize;

pub const MISSING_INDEX: &str = "missing-index";
pub const UNEXPECTED_INDEX: &str = "unexpected-index";
pub const INDEX_DEFINITION_DIFFERS: &str = "index-definition-differs";
pub const INVALID_INDEX: &str = "invalid-index";
pub const DUPLICATE_INDEX: &str = "duplicate-index";
pub const REDUNDANT_INDEX: &str = "redundant-index";
pub const UNUSED_INDEX: &str = "unused-index";
pub const FK_WITHOUT_INDEX: &str = "fk-without-index";
pub const BLOATED_INDEX: &str = "bloated-index";
pub const ADVISOR_PROPOSAL: &str = "advisor-proposal";

/// Every rule id, for `--only` validation and documentation.
pub const ALL_RULES: &[&str] = &[
    MISSING_INDEX,
    UNEXPECTED_INDEX,
    INDEX_DEFINITION_DIFFERS,
    INVALID_INDEX,
    DUPLICATE_INDEX,
    REDUNDANT_INDEX,
    UNUSED_INDEX,
    FK_WITHOUT_INDEX,
    BLOATED_INDEX,
    ADVISOR_PROPOSAL,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Note,
    Warning,
    Error,
}

/// One finding: a rule, how bad, the object, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    /// The object, qualified: `schema.index` or `schema.table`.
    pub object: String,
    pub message: String,
    pub help: String,
}
