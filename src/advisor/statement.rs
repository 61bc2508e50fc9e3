//! The statements of pg_stat_statements as `advise --from-stats` reports them: each top
//! statement once, by its shortened text and its query identifier, advised or skipped with the
//! reason, so none vanishes; and the names the workload queries get (the shortened text a DBA
//! recognizes, not a number). Pure.

use serde::Serialize;

/// Longest name, in characters (an ellipsis marks a cut).
const NAME_CHARS: usize = 60;

/// Whether a statement went to the advisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementStatus {
    /// Measured (or planned) and given candidates like any workload query.
    Advised,
    /// Left out; `reason` says why.
    Skipped,
}

/// Where an advised statement's parameter values came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueSource {
    /// The statement has no parameters.
    None,
    /// pg_qualstats' example of the statement with the constants it ran with.
    PgQualstats,
    /// Typical values from the column statistics (`pg_stats`).
    PgStats,
    /// No values: planned as a generic plan; its time before is pg_stat_statements' mean, its
    /// time with an index that scaled by the generic plan's planner cost with / without.
    GenericPlan,
}

/// One top statement of pg_stat_statements.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsStatement {
    /// pg_stat_statements' `queryid`, as text (a JSON number loses digits past 2^53).
    pub queryid: String,
    /// Its name in the workload (and in the queries, proposals and migration comments): the
    /// shortened text, made unique with the queryid when two shorten alike.
    pub name: String,
    /// The normalized text as pg_stat_statements holds it, white space collapsed.
    pub text: String,
    /// Calls per minute since pg_stat_statements' last reset (its weight in the workload).
    pub calls_per_minute: f64,
    /// pg_stat_statements' mean execution time, ms.
    pub mean_exec_ms: f64,
    /// Advised or skipped.
    pub status: StatementStatus,
    /// Where the parameter values came from (advised statements only).
    pub values: Option<ValueSource>,
    /// Why it was skipped; for an advised statement, a remark (values tried and dropped, or how
    /// its times are predicted).
    pub reason: Option<String>,
}

/// How many statements were left out before the top ones were taken, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Excluded {
    /// pgwarden's own statements (marked, or recorded by query identifier).
    pub pgwarden: usize,
    /// Not a plain SELECT (writes, utility statements, EXPLAIN).
    pub not_select: usize,
    /// Reads no table of the searched schemas: catalog reads, function calls.
    pub no_table: usize,
}

/// `text` with white space (newlines included) collapsed to single spaces and leading
/// comments (a driver's or an ORM's tags) dropped.
pub fn collapsed(text: &str) -> String {
    let mut rest = text.trim_start();
    loop {
        if let Some(body) = rest.strip_prefix("/*") {
            match body.find("*/") {
                Some(end) => rest = body[end + 2..].trim_start(),
                None => break,
            }
        } else if let Some(body) = rest.strip_prefix("--") {
            match body.find('\n') {
                Some(end) => rest = body[end + 1..].trim_start(),
                None => break,
            }
        } else {
            break;
        }
    }
    rest.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A statement's name: its collapsed text, cut to [`NAME_CHARS`] characters (at a character,
/// never inside one) with an ellipsis when longer.
pub fn short_name(text: &str) -> String {
    let collapsed = collapsed(text);
    if collapsed.chars().count() <= NAME_CHARS {
        return collapsed;
    }
    let cut: String = collapsed.chars().take(NAME_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

/// Names for statements given as `(queryid, text)`: the short name, with ` [queryid N]` added
/// to every statement whose short name another one shares.
pub fn unique_names(statements: &[(String, String)]) -> Vec<String> {
    let short: Vec<String> = statements.iter().map(|(_, t)| short_name(t)).collect();
    short
        .iter()
        .zip(statements)
        .map(|(name, (id, _))| {
            if short.iter().filter(|n| *n == name).count() > 1 {
                format!("{name} [queryid {id}]")
            } else {
                name.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_the_collapsed_text_without_leading_comments() {
        assert_eq!(
            short_name("/* app:web */ -- tag\n  SELECT id\n\tFROM orders   WHERE id = $1"),
            "SELECT id FROM orders WHERE id = $1"
        );
        // A comment that never ends stays: it is the text.
        assert_eq!(short_name("/* SELECT 1"), "/* SELECT 1");
    }

    #[test]
    fn a_long_text_is_cut_at_a_character_with_an_ellipsis() {
        let text = format!("SELECT {} FROM t", "é, ".repeat(40));
        let name = short_name(&text);
        assert_eq!(name.chars().count(), NAME_CHARS);
        assert!(name.ends_with('…') && name.starts_with("SELECT é, é,"));
        assert_eq!(short_name("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn hostile_text_is_kept_for_the_renderers_to_escape() {
        // Names are data: the human table, JSON and migration comments escape them.
        let name = short_name("SELECT '*/ DROP TABLE x; --' \u{1b}[31m FROM t");
        assert!(name.contains("*/") && name.contains('\u{1b}'));
    }

    #[test]
    fn statements_that_shorten_alike_get_their_queryid() {
        let long = |tail: &str| format!("SELECT {} {tail}", "x, ".repeat(30));
        let names = unique_names(&[
            ("1".into(), long("FROM a")),
            ("2".into(), long("FROM b")),
            ("3".into(), "SELECT 1".into()),
        ]);
        assert!(names[0].ends_with(" [queryid 1]"), "{names:?}");
        assert!(names[1].ends_with(" [queryid 2]"));
        assert_eq!(names[2], "SELECT 1");
    }
}
