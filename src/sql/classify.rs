//! Classification of a statement by its leading keywords: can it run in a transaction block,
//! and which index does a concurrent build create.

use serde::Serialize;
use sqlparser::tokenizer::{Token, TokenWithSpan};

/// Whether a statement may run inside a transaction block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "reason")]
pub enum TxRequirement {
    /// Ordinary statement: runs inside the migration's transaction.
    Transactional,
    /// PostgreSQL refuses it in a transaction block (SQLSTATE 25001); the text names the form.
    NoTransaction(&'static str),
    /// `BEGIN`, `COMMIT` and friends: pgwarden owns the transaction, so files may not.
    TransactionControl,
}

impl TxRequirement {
    /// True only for [`TxRequirement::Transactional`]: the statement may join the migration's
    /// transaction.
    pub fn in_transaction(self) -> bool {
        matches!(self, TxRequirement::Transactional)
    }
}

/// The index a `CREATE INDEX CONCURRENTLY` statement builds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexBuild {
    /// The index name as PostgreSQL stores it (unquoted, case folded unless it was quoted).
    pub index_name: String,
    /// The table as written in the statement (quotes kept), suitable for `to_regclass`.
    pub table: String,
    /// Whether the statement says `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// `CREATE INDEX CONCURRENTLY` (else a plain `CREATE INDEX`, e.g. `ON ONLY` a partitioned
    /// table, which builds nothing and is completed by attaching the partitions' indexes).
    pub concurrently: bool,
    /// Byte ranges in the statement's text of the index name, the table name and the
    /// `CONCURRENTLY` keyword: what recovery rewrites to build a probe of the same definition.
    pub spans: BuildSpans,
}

/// Byte ranges (start, end) in a statement's text; token indexes until `split` converts them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BuildSpans {
    /// The index name's range (a single token).
    pub name: (usize, usize),
    /// The table's range, from its first token to its last (`schema.table` included), after any
    /// `ONLY`.
    pub table: (usize, usize),
    /// The `CONCURRENTLY` keyword's range; `None` for a plain `CREATE INDEX`.
    pub concurrently: Option<(usize, usize)>,
}

/// Classifies a statement from its non-whitespace tokens.
pub fn classify(tokens: &[&TokenWithSpan]) -> (TxRequirement, Option<IndexBuild>) {
    let words: Vec<String> = tokens.iter().map(|t| keyword(&t.token)).collect();
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let has = |k: &str| words.iter().any(|x| x == k);
    let tx = match w(0) {
        "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" | "SAVEPOINT" | "RELEASE"
        | "PREPARE"
            if is_transaction_control(&words) =>
        {
            TxRequirement::TransactionControl
        }
        "CREATE" => {
            let i = if w(1) == "UNIQUE" { 2 } else { 1 };
            match (w(i), w(i + 1)) {
                ("INDEX", "CONCURRENTLY") => {
                    let build = index_build(tokens, i + 2).map(|mut b| {
                        b.concurrently = true;
                        b.spans.concurrently = Some((i + 1, i + 2));
                        b
                    });
                    return (
                        TxRequirement::NoTransaction("CREATE INDEX CONCURRENTLY"),
                        build,
                    );
                }
                ("INDEX", _) => {
                    return (TxRequirement::Transactional, index_build(tokens, i + 1));
                }
                ("DATABASE", _) => TxRequirement::NoTransaction("CREATE DATABASE"),
                ("TABLESPACE", _) => TxRequirement::NoTransaction("CREATE TABLESPACE"),
                ("SUBSCRIPTION", _) => TxRequirement::NoTransaction("CREATE SUBSCRIPTION"),
                _ => TxRequirement::Transactional,
            }
        }
        "DROP" => match (w(1), w(2)) {
            ("INDEX", "CONCURRENTLY") => TxRequirement::NoTransaction("DROP INDEX CONCURRENTLY"),
            ("DATABASE", _) => TxRequirement::NoTransaction("DROP DATABASE"),
            ("TABLESPACE", _) => TxRequirement::NoTransaction("DROP TABLESPACE"),
            ("SUBSCRIPTION", _) => TxRequirement::NoTransaction("DROP SUBSCRIPTION"),
            _ => TxRequirement::Transactional,
        },
        "REINDEX" if has("CONCURRENTLY") => {
            TxRequirement::NoTransaction("REINDEX ... CONCURRENTLY")
        }
        "REINDEX" if has("SYSTEM") || has("DATABASE") || has("SCHEMA") => {
            TxRequirement::NoTransaction("REINDEX SCHEMA/DATABASE/SYSTEM")
        }
        "VACUUM" => TxRequirement::NoTransaction("VACUUM"),
        "CLUSTER" if words.len() == 1 => TxRequirement::NoTransaction("CLUSTER without a table"),
        "ALTER" if w(1) == "SYSTEM" => TxRequirement::NoTransaction("ALTER SYSTEM"),
        "ALTER" if w(1) == "TABLE" && has("DETACH") && has("CONCURRENTLY") => {
            TxRequirement::NoTransaction("ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY")
        }
        _ => TxRequirement::Transactional,
    };
    (tx, None)
}

/// `BEGIN` also opens `BEGIN ATOMIC` bodies only inside CREATE FUNCTION, never as the first
/// word; `PREPARE TRANSACTION` is control, `PREPARE name AS` is not.
fn is_transaction_control(words: &[String]) -> bool {
    match words.first().map(String::as_str) {
        Some("PREPARE") => words.get(1).map(String::as_str) == Some("TRANSACTION"),
        Some(_) => true,
        None => false,
    }
}

/// The index `REINDEX [(options)] INDEX CONCURRENTLY name` rebuilds, as written (quotes kept,
/// for `to_regclass`): an interrupted one leaves `<name>_ccnew` / `_ccold` INVALID indexes that
/// its rerun must drop.
pub fn reindex_concurrently_target(tokens: &[&TokenWithSpan]) -> Option<String> {
    let kw = |i: usize| tokens.get(i).map(|t| keyword(&t.token)).unwrap_or_default();
    if kw(0) != "REINDEX" {
        return None;
    }
    let mut i = 1;
    if tokens.get(1).map(|t| &t.token) == Some(&Token::LParen) {
        let close = tokens.iter().position(|t| t.token == Token::RParen)?;
        i = close + 1;
    }
    if kw(i) != "INDEX" || kw(i + 1) != "CONCURRENTLY" {
        return None;
    }
    qualified_name(tokens, i + 2).map(|(name, _)| name)
}

/// A possibly qualified name (`a`, `s.a`, `"S"."a"`) as written, starting at token `i`, and the
/// index of its last token.
fn qualified_name(tokens: &[&TokenWithSpan], mut i: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    loop {
        let Token::Word(part) = &tokens.get(i)?.token else {
            return None;
        };
        name.push_str(&written_name(part));
        if tokens.get(i + 1).map(|t| &t.token) == Some(&Token::Period) {
            name.push('.');
            i += 2;
        } else {
            return Some((name, i));
        }
    }
}

/// Upper-cased unquoted word, or an empty string for anything else.
fn keyword(token: &Token) -> String {
    match token {
        Token::Word(w) if w.quote_style.is_none() => w.value.to_ascii_uppercase(),
        _ => String::new(),
    }
}

/// Reads `[IF NOT EXISTS] name ON [ONLY] table` starting at token `i`.
fn index_build(tokens: &[&TokenWithSpan], mut i: usize) -> Option<IndexBuild> {
    let kw = |i: usize| tokens.get(i).map(|t| keyword(&t.token)).unwrap_or_default();
    let mut if_not_exists = false;
    if kw(i) == "IF" && kw(i + 1) == "NOT" && kw(i + 2) == "EXISTS" {
        if_not_exists = true;
        i += 3;
    }
    if kw(i) == "ON" {
        return None; // unnamed index: PostgreSQL picks the name
    }
    let Token::Word(name) = &tokens.get(i)?.token else {
        return None;
    };
    let index_name = stored_name(name);
    let name_at = i;
    i += 1;
    if kw(i) != "ON" {
        return None;
    }
    i += 1;
    if kw(i) == "ONLY" {
        i += 1;
    }
    let table_from = i;
    let (table, table_to) = qualified_name(tokens, i)?;
    Some(IndexBuild {
        index_name,
        table,
        if_not_exists,
        concurrently: false,
        spans: BuildSpans {
            name: (name_at, name_at + 1),
            table: (table_from, table_to + 1),
            concurrently: None,
        },
    })
}

fn stored_name(word: &sqlparser::tokenizer::Word) -> String {
    super::stored_identifier(&word.value, word.quote_style.is_some())
}

fn written_name(word: &sqlparser::tokenizer::Word) -> String {
    match word.quote_style {
        Some(_) => crate::db::quote_ident(&word.value),
        None => word.value.clone(),
    }
}
