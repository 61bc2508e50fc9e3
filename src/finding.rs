//! Findings: what `plan` reports. Rule ids are stable kebab-case strings, defined once in
//! [`crate::rules`]; the constants here are their plan aliases.

use crate::rules::PlanRule;
use serde::Serialize;

/// An index the migrations define is not in the database (error; plan builds it concurrently unless
/// it backs a constraint).
pub const MISSING_INDEX: &str = PlanRule::MissingIndex.as_str();
/// A valid index in the database that no migration defines and that backs no constraint (warning;
/// plan drops it).
pub const UNEXPECTED_INDEX: &str = PlanRule::UnexpectedIndex.as_str();
/// An index has the migrations' name but another definition (error; plan builds the migrations' one
/// under a temporary name and swaps it in).
pub const INDEX_DEFINITION_DIFFERS: &str = PlanRule::IndexDefinitionDiffers.as_str();
/// An index left INVALID, mostly by a failed concurrent build (error; plan rebuilds it if the
/// migrations want it, else drops it).
pub const INVALID_INDEX: &str = PlanRule::InvalidIndex.as_str();
/// An index with the same definition as another on the same table (warning, or a note when the
/// migrations define it).
pub const DUPLICATE_INDEX: &str = PlanRule::DuplicateIndex.as_str();
/// A plain btree index whose key columns are a strict leading prefix of another's with the same
/// predicate (warning, or a note when the migrations define it).
pub const REDUNDANT_INDEX: &str = PlanRule::RedundantIndex.as_str();
/// An index never scanned since the statistics were reset, at least `unused_after_seconds` ago
/// (note; unique and constraint indexes are never reported).
pub const UNUSED_INDEX: &str = PlanRule::UnusedIndex.as_str();
/// A foreign key on a table that is written to, with no index leading with its columns (warning;
/// plan builds one).
pub const FK_WITHOUT_INDEX: &str = PlanRule::FkWithoutIndex.as_str();
/// An index of at least `bloat_min_bytes` and `bloat_ratio` times the size its rows need
/// (warning; plan reindexes it concurrently).
pub const BLOATED_INDEX: &str = PlanRule::BloatedIndex.as_str();
/// An index the advisor proposes for the workload (only with `plan --advise`).
pub const ADVISOR_PROPOSAL: &str = PlanRule::AdvisorProposal.as_str();

/// Every plan rule id, in [`PlanRule::ALL`]'s order.
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

/// How bad a finding is; ordered, so `Note < Warning < Error` (`--fail-on` compares against it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; nothing is wrong yet.
    Note,
    /// Likely to hurt: costs writes or space, or may block.
    Warning,
    /// Wrong or dangerous: fix before deploying.
    Error,
}

/// One finding: a rule, how bad, the object, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// One of the rule ids defined in this module.
    pub rule: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// The object, qualified: `schema.index` or `schema.table`.
    pub object: String,
    /// What is wrong, in one sentence naming the object.
    pub message: String,
    /// How to fix it: a command or the SQL to write.
    pub help: String,
}
