//! pgwarden's own lint rules, on the statements its runner will run.

use super::*;
use crate::rules::RuleId;
use crate::sql::{self, TxRequirement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// A concurrent build needs far longer than this; a shorter timeout aborts it half-built.
const BUILD_TIMEOUT_FLOOR_MS: f64 = 3_600_000.0;

/// Words (upper case) and identifiers (as stored) of a statement, comments dropped.
pub(super) fn words(text: &str) -> Vec<(String, Option<String>)> {
    Tokenizer::new(&PostgreSqlDialect {}, text)
        .tokenize()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| match t {
            Token::Word(w) => {
                let stored = sql::stored_identifier(&w.value, w.quote_style.is_some());
                let keyword = if w.quote_style.is_none() {
                    w.value.to_ascii_uppercase()
                } else {
                    String::new()
                };
                Some((keyword, Some(stored)))
            }
            Token::SingleQuotedString(s) | Token::Number(s, _) => Some((String::new(), Some(s))),
            Token::Whitespace(_) => None,
            Token::Period => Some((".".to_string(), None)),
            _ => Some((String::new(), None)),
        })
        .collect()
}

/// `CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] [name] ON`: (concurrent, if not exists, name).
fn index_build(w: &[(String, Option<String>)]) -> Option<(bool, bool, Option<String>)> {
    let kw = |i: usize| w.get(i).map_or("", |x| x.0.as_str());
    if kw(0) != "CREATE" {
        return None;
    }
    let mut i = if kw(1) == "UNIQUE" { 2 } else { 1 };
    if kw(i) != "INDEX" {
        return None;
    }
    i += 1;
    let concurrent = kw(i) == "CONCURRENTLY";
    i += usize::from(concurrent);
    let if_not_exists = kw(i) == "IF" && kw(i + 1) == "NOT" && kw(i + 2) == "EXISTS";
    i += if if_not_exists { 3 } else { 0 };
    let name = (kw(i) != "ON")
        .then(|| w.get(i).and_then(|x| x.1.clone()))
        .flatten();
    Some((concurrent, if_not_exists, name))
}

/// The table a statement changes (`CREATE INDEX ... ON t`, `ALTER TABLE t`, `REINDEX TABLE t`),
/// as stored, unqualified.
pub fn touched_table(statement: &str) -> Option<String> {
    touched_name(statement).map(|(_, name)| name)
}

/// The table a statement changes with its schema when written: (schema, table), as stored.
pub(super) fn touched_name(statement: &str) -> Option<(Option<String>, String)> {
    let w = words(statement);
    let kw = |i: usize| w.get(i).map_or("", |x| x.0.as_str());
    match (kw(0), kw(1)) {
        ("ALTER", "TABLE") | ("REINDEX", "TABLE") => name_at(&w, 2),
        ("CREATE", _) => {
            let on = w.iter().position(|x| x.0 == "ON")?;
            name_at(&w, on + 1)
        }
        _ => None,
    }
}

/// The possibly qualified name starting at word `start` (after `IF EXISTS`, `ONLY`, `IF NOT
/// EXISTS`): (schema, name) for `schema.name`, (None, name) for `name`.
pub(super) fn name_at(
    w: &[(String, Option<String>)],
    start: usize,
) -> Option<(Option<String>, String)> {
    let kw = |i: usize| w.get(i).map_or("", |x| x.0.as_str());
    let mut i = start;
    while matches!(kw(i), "IF" | "NOT" | "EXISTS" | "ONLY") {
        i += 1;
    }
    // schema.table: the tokenizer gives the parts; the name is the last word before a
    // non-name token.
    let mut parts = vec![w.get(i)?.1.clone()?];
    while w.get(i + 1).is_some_and(|x| x.0 == ".") && w.get(i + 2).is_some_and(|x| x.1.is_some()) {
        i += 2;
        parts.push(w.get(i)?.1.clone()?);
    }
    let name = parts.pop()?;
    Some((parts.pop(), name))
}

/// `SET statement_timeout = v` in milliseconds (0 = none), if the statement is one.
fn statement_timeout_ms(w: &[(String, Option<String>)]) -> Option<f64> {
    let kw = |i: usize| w.get(i).map_or("", |x| x.0.as_str());
    let i = if kw(1) == "LOCAL" || kw(1) == "SESSION" {
        2
    } else {
        1
    };
    if kw(0) != "SET" || w.get(i)?.1.as_deref() != Some("statement_timeout") {
        return None;
    }
    let value = w.get(i + 2)?.1.clone()?;
    let digits: String = value
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let n: f64 = digits.parse().ok()?;
    let unit = value[digits.len()..].trim().to_ascii_lowercase();
    let factor = match unit.as_str() {
        "" | "ms" => 1.0,
        "s" => 1_000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    Some(n * factor)
}

/// pgwarden's own rules on one file.
pub fn lint(file: &str, sql: &str, ctx: &LintContext) -> Vec<LintFinding> {
    let Ok(split) = sql::split(sql) else {
        return Vec::new(); // reported as a syntax error by the parse
    };
    let lines: Vec<&str> = sql.lines().collect();
    let finding =
        |rule: RuleId, severity, line: u64, column: u64, message: String, help: &str| LintFinding {
            rule,
            severity,
            file: file.into(),
            line,
            column,
            message,
            help: Some(help.into()),
            source: lines
                .get(line.saturating_sub(1) as usize)
                .unwrap_or(&"")
                .to_string(),
        };
    let mut out = Vec::new();
    let any_tx = split.statements.iter().any(|s| s.tx.in_transaction());
    if !split.no_transaction_directive
        && any_tx
        && let Some(s) = split
            .statements
            .iter()
            .find(|s| matches!(s.tx, TxRequirement::NoTransaction(_)))
    {
        out.push(finding(MIXED_TRANSACTION, Severity::Error, s.line, s.column,
            "this statement cannot run in a transaction block, but the file also has statements that need one".into(),
            "move it to a migration of its own, or add `-- pgwarden:no-transaction` (then every statement runs on its own)"));
    }
    let mut short_timeout: Option<(u64, u64, f64)> = None;
    for s in &split.statements {
        let w = words(&s.text);
        if let Some(ms) = statement_timeout_ms(&w) {
            short_timeout =
                (ms > 0.0 && ms < BUILD_TIMEOUT_FLOOR_MS).then_some((s.line, s.column, ms));
        }
        let Some((concurrent, if_not_exists, name)) = index_build(&w) else {
            continue;
        };
        match &name {
            None => out.push(finding(INDEX_WITHOUT_NAME, Severity::Warning, s.line, s.column,
                "the index has no explicit name: PostgreSQL picks one, which later migrations and drift checks cannot rely on".into(),
                "name it: CREATE INDEX CONCURRENTLY IF NOT EXISTS <table>_<columns>_idx ON ...")),
            Some(n) => {
                if let Some(re) = ctx.index_name_pattern.as_ref().filter(|re| !re.is_match(n)) {
                    out.push(finding(INDEX_NAME_PATTERN, Severity::Warning, s.line, s.column,
                        format!("index name `{n}` does not match the policy's pattern `{}`", re.as_str()),
                        "rename it to follow the pattern"));
                }
            }
        }
        if concurrent && if_not_exists {
            out.push(finding(CONCURRENT_IF_NOT_EXISTS, Severity::Note, s.line, s.column,
                "IF NOT EXISTS accepts an INVALID index left by a failed build; pgwarden's migrate apply drops and rebuilds it first, other runners do not".into(),
                "run it through `pgwarden migrate apply`"));
        }
        if concurrent && let Some((line, column, ms)) = short_timeout {
            out.push(finding(SHORT_TIMEOUT_BEFORE_BUILD, Severity::Error, line, column,
                format!("statement_timeout {ms:.0} ms is set before a concurrent index build (line {}): a large build is aborted and leaves an INVALID index", s.line),
                "remove the SET (pgwarden runs builds without a statement timeout) or raise it well above the build time"));
        }
    }
    out
}
