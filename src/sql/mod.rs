//! Splitting migration files into statements without depending on a full parse.
//!
//! sqlparser's full parser rejects valid PostgreSQL found in real migrations (`DO $$ ... $$`,
//! `REINDEX`, `DROP INDEX CONCURRENTLY IF EXISTS`, ...), so pgwarden splits on top-level
//! semicolons using only sqlparser's tokenizer, which understands strings, dollar quoting and
//! comments, and classifies each statement by its leading keywords. PostgreSQL stays the judge
//! of validity.

mod classify;

pub use classify::{BuildSpans, IndexBuild, TxRequirement, classify, reindex_concurrently_target};

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

/// An identifier as PostgreSQL stores it: a quoted one keeps its case, an unquoted one is
/// folded to lower case. The one place that rule lives.
pub fn stored_identifier(value: &str, quoted: bool) -> String {
    if quoted {
        value.to_string()
    } else {
        value.to_lowercase()
    }
}

/// The directive comment that makes a file run statement by statement outside a transaction.
pub const NO_TRANSACTION_DIRECTIVE: &str = "pgwarden:no-transaction";

/// One top-level statement of a SQL file, with where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The exact source text, from its first token to the end of its last token (comments
    /// before the semicolon and the semicolon itself are not included).
    pub text: String,
    /// 1-based line of the statement's first token.
    pub line: u64,
    /// 1-based column (in characters) of the statement's first token.
    pub column: u64,
    /// Whether the statement can run inside a transaction block.
    pub tx: TxRequirement,
    /// For `CREATE INDEX` (concurrent or not, named): the index it builds, for recovery.
    pub index_build: Option<IndexBuild>,
    /// For `REINDEX INDEX CONCURRENTLY name`: the index, as written, for recovery.
    pub reindex: Option<String>,
}

/// A SQL file split into statements, with the file-level directives it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitFile {
    /// The file's statements in source order; empty for a file of only comments and whitespace.
    pub statements: Vec<Statement>,
    /// True when a top-level comment holds [`NO_TRANSACTION_DIRECTIVE`].
    pub no_transaction_directive: bool,
}

/// The tokenizer could not read the file (an unterminated string or comment, say).
#[derive(Debug, thiserror::Error)]
#[error("cannot tokenize SQL at line {line}, column {column}: {message}")]
pub struct SplitError {
    /// 1-based line where the tokenizer stopped.
    pub line: u64,
    /// 1-based column (in characters) where the tokenizer stopped.
    pub column: u64,
    /// The tokenizer's own description of the problem.
    pub message: String,
}

/// Splits `sql` on top-level semicolons. Comments and whitespace between statements are dropped;
/// a trailing statement without a semicolon is kept.
pub fn split(sql: &str) -> Result<SplitFile, SplitError> {
    let tokens = tokenize(sql)?;
    let offsets = LineOffsets::new(sql);
    let mut statements = Vec::new();
    let mut no_transaction_directive = false;
    let mut current: Vec<&TokenWithSpan> = Vec::new();
    let mut atomic_depth = 0usize;
    for tok in &tokens {
        if let Token::Whitespace(ws) = &tok.token {
            if is_directive(ws) {
                no_transaction_directive = true;
            }
            if !current.is_empty() {
                current.push(tok);
            }
            continue;
        }
        if tok.token == Token::SemiColon && atomic_depth == 0 {
            if !current.is_empty() {
                statements.push(build_statement(sql, &offsets, &current));
            }
            current.clear();
            continue;
        }
        atomic_depth = track_atomic(&current, tok, atomic_depth);
        current.push(tok);
    }
    if current
        .iter()
        .any(|t| !matches!(t.token, Token::Whitespace(_)))
    {
        statements.push(build_statement(sql, &offsets, &current));
    }
    Ok(SplitFile {
        statements,
        no_transaction_directive,
    })
}

/// Every word (keyword or identifier) outside strings and comments, as PostgreSQL stores it:
/// unquoted words folded to lower case.
pub fn words(sql: &str) -> Result<Vec<String>, SplitError> {
    Ok(tokenize(sql)?
        .iter()
        .filter_map(|t| match &t.token {
            Token::Word(w) => Some(stored_identifier(&w.value, w.quote_style.is_some())),
            _ => None,
        })
        .collect())
}

/// Every `$n` placeholder outside strings and comments: its byte range in `sql` and its number.
pub fn placeholders(sql: &str) -> Result<Vec<(std::ops::Range<usize>, usize)>, SplitError> {
    let tokens = tokenize(sql)?;
    let offsets = LineOffsets::new(sql);
    Ok(tokens
        .iter()
        .filter_map(|t| match &t.token {
            Token::Placeholder(p) => {
                let n = p.strip_prefix('$')?.parse().ok()?;
                let start = offsets.byte_offset(sql, t.span.start.line, t.span.start.column);
                let end = offsets.byte_offset(sql, t.span.end.line, t.span.end.column);
                Some((start..end, n))
            }
            _ => None,
        })
        .collect())
}

/// The keyword that makes a query change data or schema (`DELETE`, a writable CTE's `INSERT`,
/// `CREATE`, ...), or `None` for a read-only query (SELECT, VALUES, TABLE, WITH ... SELECT).
/// `SELECT ... FOR UPDATE` and functions with side effects are left to the READ ONLY
/// transaction checks run in.
pub fn data_changing_keyword(sql: &str) -> Option<String> {
    const WRITES: [&str; 4] = ["INSERT", "UPDATE", "DELETE", "MERGE"];
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    let words: Vec<String> = tokens
        .iter()
        .filter_map(|t| match t {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        })
        .collect();
    let first = words.first()?.as_str();
    match first {
        "SELECT" | "VALUES" | "TABLE" | "SHOW" => None,
        "WITH" => words.iter().find(|w| WRITES.contains(&w.as_str())).cloned(),
        other => Some(other.to_string()),
    }
}

/// `build`'s statement with the index name and the table replaced by `index` and `table` (as
/// SQL) and `CONCURRENTLY` removed, so it can run in a transaction: recovery builds the same
/// definition on an empty probe table to compare it with an index that exists.
pub fn rewrite_index_build(
    build: &IndexBuild,
    statement: &str,
    index: &str,
    table: &str,
) -> String {
    let s = &build.spans;
    let mut cuts = vec![(s.name, index), (s.table, table)];
    if let Some(c) = s.concurrently {
        cuts.push((c, ""));
    }
    cuts.sort_by_key(|(range, _)| std::cmp::Reverse(range.0));
    let mut out = statement.to_string();
    for ((from, to), with) in cuts {
        if from <= to && to <= out.len() && out.is_char_boundary(from) && out.is_char_boundary(to) {
            out.replace_range(from..to, with);
        }
    }
    out
}

/// The extension a `CREATE EXTENSION [IF NOT EXISTS] name` statement creates, as stored.
pub fn created_extension(statement: &str) -> Option<String> {
    created(statement, "EXTENSION")
}

/// The schema a `CREATE SCHEMA [IF NOT EXISTS] name` statement creates, as stored
/// (`CREATE SCHEMA AUTHORIZATION role` names it after the role).
pub fn created_schema(statement: &str) -> Option<String> {
    created(statement, "SCHEMA")
}

/// `CREATE <kind> [IF NOT EXISTS] [AUTHORIZATION] name`: the name as stored.
fn created(statement: &str, kind: &str) -> Option<String> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, statement)
        .tokenize()
        .ok()?;
    let words: Vec<&sqlparser::tokenizer::Word> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .map_while(|t| match t {
            Token::Word(w) => Some(w),
            _ => None,
        })
        .collect();
    let kw = |i: usize, k: &str| {
        words
            .get(i)
            .is_some_and(|w| w.quote_style.is_none() && w.value.eq_ignore_ascii_case(k))
    };
    if !(kw(0, "CREATE") && kw(1, kind)) {
        return None;
    }
    let mut at = if kw(2, "IF") && kw(3, "NOT") && kw(4, "EXISTS") {
        5
    } else {
        2
    };
    if kw(at, "AUTHORIZATION") {
        at += 1;
    }
    let w = words.get(at)?;
    Some(stored_identifier(&w.value, w.quote_style.is_some()))
}

fn tokenize(sql: &str) -> Result<Vec<TokenWithSpan>, SplitError> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| SplitError {
            line: e.location.line,
            column: e.location.column,
            message: e.message,
        })?;
    // PostgreSQL takes any non-ASCII character in a dollar-quote tag (`$→$ ... $→$`); the
    // tokenizer takes letters only, and reads such a `$` as a bare placeholder, so text
    // PostgreSQL reads as a string (and the statements after it) would be split, checked and
    // sent as something else. A bare `$` or `$name` is never valid SQL outside a dollar quote,
    // so it is refused wherever it appears.
    for t in &tokens {
        if let Token::Placeholder(p) = &t.token
            && p.starts_with('$')
            && (p.len() == 1 || !p[1..].bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(SplitError {
                line: t.span.start.line,
                column: t.span.start.column,
                message: format!(
                    "`{}` starts a dollar quote or parameter that pgwarden cannot read as PostgreSQL does; give the dollar quote a tag of letters, digits and underscores (as in $body$ ... $body$)",
                    crate::escape::inline(&sql_near(sql, t))
                ),
            });
        }
    }
    Ok(tokens)
}

/// Up to 12 characters of `sql` from `t`'s start.
fn sql_near(sql: &str, t: &TokenWithSpan) -> String {
    let offsets = LineOffsets::new(sql);
    let start = offsets.byte_offset(sql, t.span.start.line, t.span.start.column);
    sql.get(start..)
        .unwrap_or_default()
        .chars()
        .take(12)
        .collect()
}

fn is_directive(ws: &Whitespace) -> bool {
    match ws {
        Whitespace::SingleLineComment { comment, .. } | Whitespace::MultiLineComment(comment) => {
            comment.trim() == NO_TRANSACTION_DIRECTIVE
        }
        _ => false,
    }
}

/// Tracks `BEGIN ATOMIC ... END` bodies of SQL-standard functions, whose inner semicolons do
/// not end the statement. `CASE ... END` inside such a body is counted so its END matches.
fn track_atomic(current: &[&TokenWithSpan], tok: &TokenWithSpan, depth: usize) -> usize {
    let Token::Word(w) = &tok.token else {
        return depth;
    };
    if w.quote_style.is_some() {
        return depth;
    }
    let word = w.value.to_ascii_uppercase();
    let previous = current
        .iter()
        .rev()
        .find(|t| !matches!(t.token, Token::Whitespace(_)));
    let after_begin = matches!(previous, Some(t) if matches!(&t.token, Token::Word(p) if p.quote_style.is_none() && p.value.eq_ignore_ascii_case("BEGIN")));
    match word.as_str() {
        "ATOMIC" if after_begin => depth + 1,
        "CASE" if depth > 0 => depth + 1,
        "END" if depth > 0 => depth - 1,
        _ => depth,
    }
}

fn build_statement(sql: &str, offsets: &LineOffsets, tokens: &[&TokenWithSpan]) -> Statement {
    let first = tokens[0].span.start;
    let start = offsets.byte_offset(sql, first.line, first.column);
    // Up to the end of the last significant token (span ends are exclusive): a trailing
    // comment is left out, so `text` can always be followed by `;`.
    let end = tokens
        .iter()
        .rev()
        .find(|t| !matches!(t.token, Token::Whitespace(_)))
        .map_or(start, |t| {
            offsets.byte_offset(sql, t.span.end.line, t.span.end.column)
        });
    let text = sql[start..end.max(start)].to_string();
    let words: Vec<&TokenWithSpan> = tokens
        .iter()
        .copied()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let (tx, mut index_build) = classify(&words);
    if let Some(build) = &mut index_build {
        // Token indexes to byte ranges within `text`.
        let at = |from: usize, to: usize| {
            let (a, b) = (words[from].span.start, words[to - 1].span.end);
            (
                offsets.byte_offset(sql, a.line, a.column) - start,
                offsets.byte_offset(sql, b.line, b.column) - start,
            )
        };
        let s = &mut build.spans;
        s.name = at(s.name.0, s.name.1);
        s.table = at(s.table.0, s.table.1);
        s.concurrently = s.concurrently.map(|(a, b)| at(a, b));
    }
    Statement {
        text,
        line: first.line,
        column: first.column,
        tx,
        index_build,
        reindex: reindex_concurrently_target(&words),
    }
}

/// Converts the tokenizer's (line, character column) locations into byte offsets.
struct LineOffsets {
    starts: Vec<usize>,
}

impl LineOffsets {
    fn new(sql: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
        Self { starts }
    }

    fn byte_offset(&self, sql: &str, line: u64, column: u64) -> usize {
        let line_index = (line.max(1) - 1) as usize;
        let Some(&line_start) = self.starts.get(line_index) else {
            return sql.len();
        };
        let skip = (column.max(1) - 1) as usize;
        sql[line_start..]
            .char_indices()
            .nth(skip)
            .map_or(sql.len(), |(i, _)| line_start + i)
    }
}

#[cfg(test)]
mod tests;
