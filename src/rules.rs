//! Rule ids: the one definition of every id `plan` and `lint` report, and the one parser of ids
//! a user writes (`apply --only`, the policy's `[lint] disable`, `-- pgwarden:ignore` comments).
//! Ids are stable kebab-case strings; squawk's come from its library, so an upgrade that adds a
//! rule adds its id here too.

use serde::{Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

/// The rules of `plan` (index health and drift).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PlanRule {
    /// An index the migrations define is not in the database.
    MissingIndex,
    /// A valid index no migration defines and that backs no constraint.
    UnexpectedIndex,
    /// An index has the migrations' name but another definition.
    IndexDefinitionDiffers,
    /// An index left INVALID, mostly by a failed concurrent build.
    InvalidIndex,
    /// An index with the same definition as another on the same table.
    DuplicateIndex,
    /// A btree index whose key columns are a strict leading prefix of another's.
    RedundantIndex,
    /// An index never scanned since the statistics were reset.
    UnusedIndex,
    /// A foreign key on a written table with no index leading with its columns.
    FkWithoutIndex,
    /// An index far larger than its rows need.
    BloatedIndex,
    /// An index the advisor proposes for the workload.
    AdvisorProposal,
}

impl PlanRule {
    /// Every plan rule, in documentation order.
    pub const ALL: [PlanRule; 10] = [
        PlanRule::MissingIndex,
        PlanRule::UnexpectedIndex,
        PlanRule::IndexDefinitionDiffers,
        PlanRule::InvalidIndex,
        PlanRule::DuplicateIndex,
        PlanRule::RedundantIndex,
        PlanRule::UnusedIndex,
        PlanRule::FkWithoutIndex,
        PlanRule::BloatedIndex,
        PlanRule::AdvisorProposal,
    ];

    /// The id on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            PlanRule::MissingIndex => "missing-index",
            PlanRule::UnexpectedIndex => "unexpected-index",
            PlanRule::IndexDefinitionDiffers => "index-definition-differs",
            PlanRule::InvalidIndex => "invalid-index",
            PlanRule::DuplicateIndex => "duplicate-index",
            PlanRule::RedundantIndex => "redundant-index",
            PlanRule::UnusedIndex => "unused-index",
            PlanRule::FkWithoutIndex => "fk-without-index",
            PlanRule::BloatedIndex => "bloated-index",
            PlanRule::AdvisorProposal => "advisor-proposal",
        }
    }
}

/// pgwarden's own lint rules (squawk's are [`RuleId::Squawk`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LintRule {
    /// squawk's parser could not parse the file.
    SyntaxError,
    /// A statement that cannot run in a transaction block mixed with ones that need one.
    MixedTransaction,
    /// `CREATE INDEX` without a name.
    IndexWithoutName,
    /// An index name that does not match the policy's pattern.
    IndexNamePattern,
    /// `CREATE INDEX CONCURRENTLY IF NOT EXISTS`.
    ConcurrentIfNotExists,
    /// A short `statement_timeout` before a concurrent index build.
    ShortTimeoutBeforeBuild,
    /// An applied migration whose file changed.
    EditedAppliedMigration,
    /// A `pgwarden:ignore` comment without a reason.
    IgnoreWithoutReason,
    /// A `pgwarden:ignore` comment naming a rule id that does not exist.
    UnknownRuleInIgnore,
    /// A `pgwarden:ignore-file` comment after the file's first statement.
    MisplacedIgnoreFile,
}

impl LintRule {
    /// Every own lint rule.
    pub const ALL: [LintRule; 10] = [
        LintRule::SyntaxError,
        LintRule::MixedTransaction,
        LintRule::IndexWithoutName,
        LintRule::IndexNamePattern,
        LintRule::ConcurrentIfNotExists,
        LintRule::ShortTimeoutBeforeBuild,
        LintRule::EditedAppliedMigration,
        LintRule::IgnoreWithoutReason,
        LintRule::UnknownRuleInIgnore,
        LintRule::MisplacedIgnoreFile,
    ];

    /// The id on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            LintRule::SyntaxError => "syntax-error",
            LintRule::MixedTransaction => "mixed-transaction-statements",
            LintRule::IndexWithoutName => "index-without-name",
            LintRule::IndexNamePattern => "index-name-pattern",
            LintRule::ConcurrentIfNotExists => "concurrent-index-if-not-exists",
            LintRule::ShortTimeoutBeforeBuild => "short-statement-timeout-before-concurrent-build",
            LintRule::EditedAppliedMigration => "edited-applied-migration",
            LintRule::IgnoreWithoutReason => "ignore-without-reason",
            LintRule::UnknownRuleInIgnore => "unknown-rule-in-ignore",
            LintRule::MisplacedIgnoreFile => "misplaced-ignore-file",
        }
    }
}

/// Any rule id pgwarden reports: plan's, lint's own, or squawk's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleId {
    /// A rule of `plan`.
    Plan(PlanRule),
    /// One of pgwarden's own lint rules.
    Lint(LintRule),
    /// One of squawk's rules, run by `lint`.
    Squawk(squawk_linter::Rule),
}

/// squawk's ids, rendered once (its `Display` is the definition).
static SQUAWK_IDS: LazyLock<Vec<(squawk_linter::Rule, String)>> = LazyLock::new(|| {
    enum_iterator::all::<squawk_linter::Rule>()
        .map(|r| (r, r.to_string()))
        .collect()
});

impl RuleId {
    /// The kebab-case id on the wire; the one definition of each string.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::Plan(r) => r.as_str(),
            RuleId::Lint(r) => r.as_str(),
            RuleId::Squawk(r) => SQUAWK_IDS
                .iter()
                .find(|(s, _)| *s == r)
                .map_or("squawk-rule", |(_, id)| id.as_str()),
        }
    }

    /// Every rule id: plan's, lint's own, then squawk's.
    pub fn all() -> impl Iterator<Item = RuleId> {
        PlanRule::ALL
            .into_iter()
            .map(RuleId::Plan)
            .chain(LintRule::ALL.into_iter().map(RuleId::Lint))
            .chain(SQUAWK_IDS.iter().map(|(r, _)| RuleId::Squawk(*r)))
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RuleId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl PartialEq<&str> for RuleId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A rule id that names no rule, with the nearest known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rule id `{}`{}", crate::escape::inline(.id), near_text(.near))]
pub struct UnknownRule {
    /// The id as written.
    pub id: String,
    /// Known ids close to it, nearest first (at most three).
    pub near: Vec<&'static str>,
}

fn near_text(near: &[&str]) -> String {
    if near.is_empty() {
        "; the ids are listed in the README (pgwarden's) and at https://squawkhq.com/docs/rules (squawk's)".into()
    } else {
        format!("; did you mean `{}`?", near.join("`, `"))
    }
}

impl FromStr for RuleId {
    type Err = UnknownRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let id = s.trim();
        if let Some(r) = RuleId::all().find(|r| r.as_str() == id) {
            return Ok(r);
        }
        // squawk's own aliases (`prefer-timestamptz`).
        if let Ok(r) = squawk_linter::Rule::from_str(id) {
            return Ok(RuleId::Squawk(r));
        }
        Err(UnknownRule {
            id: s.to_string(),
            near: near_ids(id),
        })
    }
}

/// Known ids within a few edits of `id`, or containing it, nearest first.
fn near_ids(id: &str) -> Vec<&'static str> {
    let lower = id.to_lowercase();
    let mut scored: Vec<(usize, &'static str)> = RuleId::all()
        .map(|r| r.as_str())
        .filter_map(|known| {
            let d = edit_distance(&lower, known);
            let close = d <= (known.len() / 4).max(2);
            let contains = lower.len() >= 4 && known.contains(lower.as_str());
            (close || contains).then_some((d, known))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, k)| k).collect()
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_round_trips_and_is_unique() {
        let ids: Vec<&str> = RuleId::all().map(RuleId::as_str).collect();
        let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(ids.len(), unique.len(), "duplicate ids");
        for r in RuleId::all() {
            assert_eq!(r.as_str().parse::<RuleId>(), Ok(r));
            assert!(
                r.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{r}"
            );
        }
        assert_eq!(
            serde_json::to_string(&RuleId::Plan(PlanRule::MissingIndex)).unwrap(),
            "\"missing-index\""
        );
        assert_eq!(
            "require-concurrent-index-creation".parse::<RuleId>(),
            Ok(RuleId::Squawk(
                squawk_linter::Rule::RequireConcurrentIndexCreation
            ))
        );
    }

    #[test]
    fn an_unknown_id_names_the_nearest_known_ones() {
        let e = "require-concurent-index-creation"
            .parse::<RuleId>()
            .unwrap_err();
        assert_eq!(e.near.first(), Some(&"require-concurrent-index-creation"));
        assert!(e.to_string().contains("did you mean"), "{e}");
        let e = "no\nsuch\u{1b}rule".parse::<RuleId>().unwrap_err();
        assert!(!e.to_string().contains('\n'), "{e}");
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
    }
}
