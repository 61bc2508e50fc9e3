//! Inline ignores: `-- pgwarden:ignore rule-id[, rule-id]: reason` switches rules off for the
//! next statement, `-- pgwarden:ignore-file rule-id[, ...]: reason` in the file's leading
//! comments for the whole file. Every suppressed finding is kept, with the reason, for the
//! report. An ignore without a reason still works but is a note; an unknown rule id a warning.

use super::{IgnoredFinding, LintFinding};
use crate::finding::Severity;
use crate::rules::{LintRule, RuleId};

const STATEMENT_MARK: &str = "pgwarden:ignore";
const FILE_MARK: &str = "pgwarden:ignore-file";

/// One ignore comment.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Ignore {
    /// 1-based line of the comment.
    line: u64,
    /// The rule ids as written, parsed.
    rules: Vec<Result<RuleId, crate::rules::UnknownRule>>,
    /// The text after the colon, when not empty.
    reason: Option<String>,
    /// Whether it is `ignore-file`.
    file_level: bool,
    /// Lines (first, last) of the findings it covers; `None` for a misplaced `ignore-file`.
    covers: Option<(u64, u64)>,
}

/// The ignore comments of `sql`. `statements` are (first line, last line) of each statement in
/// order. A statement ignore covers the next statement, or the rest of the statement it is in;
/// when the file cannot be split, the next line only.
pub(super) fn parse(sql: &str, statements: Option<&[(u64, u64)]>) -> Vec<Ignore> {
    let first_statement = statements.map_or_else(
        || {
            sql.lines()
                .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"))
                .map_or(u64::MAX, |i| i as u64 + 1)
        },
        |s| s.first().map_or(u64::MAX, |(first, _)| *first),
    );
    let mut out = Vec::new();
    for (i, text) in sql.lines().enumerate() {
        let line = i as u64 + 1;
        let Some(comment) = text.trim_start().strip_prefix("--").map(str::trim_start) else {
            continue;
        };
        let (file_level, rest) = if let Some(rest) = comment.strip_prefix(FILE_MARK) {
            (true, rest)
        } else if let Some(rest) = comment.strip_prefix(STATEMENT_MARK) {
            (false, rest)
        } else {
            continue;
        };
        // `pgwarden:ignored-by-hand` and the like are not ignores.
        if rest.chars().next().is_some_and(|c| !c.is_whitespace()) {
            continue;
        }
        let (ids, reason) = match rest.split_once(':') {
            Some((ids, reason)) => (ids, Some(reason.trim()).filter(|r| !r.is_empty())),
            None => (rest, None),
        };
        let rules = ids
            .split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::parse)
            .collect();
        let covers = if file_level {
            (line < first_statement).then_some((1, u64::MAX))
        } else {
            // Inside a statement: the rest of it; else the next statement.
            let within = statements.and_then(|s| {
                s.iter()
                    .find(|(first, last)| *first < line && line < *last)
                    .map(|(_, last)| (line + 1, *last))
            });
            let next = statements
                .and_then(|s| s.iter().find(|(first, _)| *first > line))
                .copied();
            Some(within.or(next).unwrap_or((line + 1, line + 1)))
        };
        out.push(Ignore {
            line,
            rules,
            reason: reason.map(str::to_string),
            file_level,
            covers,
        });
    }
    out
}

/// Findings about the ignore comments themselves: no reason (note), an unknown or missing rule
/// id (warning), an `ignore-file` after the first statement (warning).
pub(super) fn findings_about(ignores: &[Ignore], file: &str, sql: &str) -> Vec<LintFinding> {
    let lines: Vec<&str> = sql.lines().collect();
    let finding = |ig: &Ignore, rule: LintRule, severity, message: String, help: &str| {
        let source = lines.get(ig.line.saturating_sub(1) as usize).unwrap_or(&"");
        LintFinding {
            rule: RuleId::Lint(rule),
            severity,
            file: file.into(),
            line: ig.line,
            column: (source.chars().count() - source.trim_start().chars().count()) as u64 + 1,
            message,
            help: Some(help.into()),
            source: source.to_string(),
        }
    };
    let mark = |ig: &Ignore| {
        if ig.file_level {
            FILE_MARK
        } else {
            STATEMENT_MARK
        }
    };
    let mut out = Vec::new();
    for ig in ignores {
        if ig.covers.is_none() {
            out.push(finding(
                ig,
                LintRule::MisplacedIgnoreFile,
                Severity::Warning,
                format!("`{FILE_MARK}` after the file's first statement is not applied"),
                "move it to the comments at the top of the file, before the first statement",
            ));
        }
        if ig.rules.is_empty() {
            out.push(finding(
                ig,
                LintRule::UnknownRuleInIgnore,
                Severity::Warning,
                format!("`{}` names no rule id, so it ignores nothing", mark(ig)),
                "write the rule ids to ignore: -- pgwarden:ignore rule-id: reason",
            ));
        }
        for e in ig.rules.iter().filter_map(|r| r.as_ref().err()) {
            out.push(finding(
                ig,
                LintRule::UnknownRuleInIgnore,
                Severity::Warning,
                format!("`{}` names {e}", mark(ig)),
                "use a rule id from the findings, or remove the comment",
            ));
        }
        if ig.reason.is_none() {
            out.push(finding(ig, LintRule::IgnoreWithoutReason, Severity::Note,
                format!("`{}` gives no reason", mark(ig)),
                "say why after a colon: -- pgwarden:ignore rule-id: the table is empty in production"));
        }
    }
    out
}

/// Splits `findings` into those that stand and those an ignore suppresses (with its reason).
pub(super) fn apply(
    ignores: &[Ignore],
    findings: Vec<LintFinding>,
) -> (Vec<LintFinding>, Vec<IgnoredFinding>) {
    let mut kept = Vec::new();
    let mut ignored = Vec::new();
    for f in findings {
        // A statement's own ignore wins over the file's (its reason is the closer one).
        let by = ignores
            .iter()
            .filter(|ig| {
                ig.covers
                    .is_some_and(|(first, last)| (first..=last).contains(&f.line))
                    && ig
                        .rules
                        .iter()
                        .any(|r| r.as_ref().is_ok_and(|r| *r == f.rule))
            })
            .min_by_key(|ig| ig.file_level);
        match by {
            Some(ig) => ignored.push(IgnoredFinding {
                rule: f.rule,
                severity: f.severity,
                file: f.file,
                line: f.line,
                column: f.column,
                message: f.message,
                reason: ig.reason.clone(),
                ignore_line: ig.line,
            }),
            None => kept.push(f),
        }
    }
    (kept, ignored)
}
