//! Which lock a statement takes, and on which tables: what a DBA wants to know before a
//! migration runs against a busy table. Classified by leading keywords, as in PostgreSQL's
//! documentation of explicit locking.

use super::own::touched_table;
use serde::Serialize;

/// One statement's lock.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementLock {
    /// The file as given on the command line or found in the migrations directory.
    pub file: String,
    /// 1-based line where the statement starts.
    pub line: u64,
    /// The statement on one line, cut to its first 80 characters.
    pub statement: String,
    /// The lock level and what it blocks, e.g. `SHARE (blocks writes)`; `depends on the statement`
    /// when unknown.
    pub lock: &'static str,
    /// The table it changes (as stored) and any it references (lower-cased), unqualified.
    pub tables: Vec<String>,
    /// Live row estimates of those tables, when a database was given.
    pub rows: Vec<Option<f64>>,
}

const ACCESS_EXCLUSIVE: &str = "ACCESS EXCLUSIVE (blocks reads and writes)";
const SHARE: &str = "SHARE (blocks writes)";
const SHARE_ROW_EXCLUSIVE: &str = "SHARE ROW EXCLUSIVE (blocks writes)";
const SHARE_UPDATE_EXCLUSIVE: &str = "SHARE UPDATE EXCLUSIVE (reads and writes continue)";
const ROW_EXCLUSIVE: &str = "ROW EXCLUSIVE (reads and writes continue)";
const NONE: &str = "none on existing tables";

/// The lock `text` takes (upper-cased keywords are enough to tell).
pub fn lock_of(text: &str) -> &'static str {
    let upper = text.to_ascii_uppercase();
    let words: Vec<&str> = upper.split_whitespace().collect();
    let has = |w: &str| words.contains(&w);
    match (
        words.first().copied().unwrap_or(""),
        words.get(1).copied().unwrap_or(""),
    ) {
        ("CREATE", "TABLE") if has("REFERENCES") => SHARE_ROW_EXCLUSIVE,
        (
            "CREATE",
            "TABLE" | "TYPE" | "FUNCTION" | "SCHEMA" | "EXTENSION" | "SEQUENCE" | "VIEW" | "DOMAIN",
        ) => NONE,
        ("CREATE", _) if has("INDEX") && has("CONCURRENTLY") => SHARE_UPDATE_EXCLUSIVE,
        ("CREATE", _) if has("INDEX") => SHARE,
        ("CREATE", _) if has("TRIGGER") => SHARE_ROW_EXCLUSIVE,
        ("DROP", "INDEX") if has("CONCURRENTLY") => SHARE_UPDATE_EXCLUSIVE,
        ("REINDEX", _) if has("CONCURRENTLY") => SHARE_UPDATE_EXCLUSIVE,
        ("REINDEX", _) => ACCESS_EXCLUSIVE,
        ("ALTER", "TABLE") if has("DETACH") && has("CONCURRENTLY") => SHARE_UPDATE_EXCLUSIVE,
        ("ALTER", "TABLE") if has("VALIDATE") || (has("SET") && has("STATISTICS")) => {
            SHARE_UPDATE_EXCLUSIVE
        }
        ("ALTER", "TABLE") if has("REFERENCES") || has("FOREIGN") => SHARE_ROW_EXCLUSIVE,
        ("ALTER" | "DROP" | "TRUNCATE" | "CLUSTER", _) => ACCESS_EXCLUSIVE,
        ("VACUUM", _) if has("FULL") => ACCESS_EXCLUSIVE,
        ("VACUUM" | "ANALYZE", _) => SHARE_UPDATE_EXCLUSIVE,
        ("INSERT" | "UPDATE" | "DELETE" | "MERGE", _) => ROW_EXCLUSIVE,
        ("SELECT" | "WITH", _) => "ACCESS SHARE (blocks only ACCESS EXCLUSIVE)",
        _ => "depends on the statement",
    }
}

/// The tables a statement locks: the one it changes and any it references.
pub fn tables_of(text: &str) -> Vec<String> {
    let mut out: Vec<String> = touched_table(text).into_iter().collect();
    let upper = text.to_ascii_uppercase();
    let mut rest = &upper[..];
    while let Some(i) = rest.find("REFERENCES ") {
        let after = &text[text.len() - rest.len() + i + "REFERENCES ".len()..];
        let name: String = after
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '"' || *c == '.')
            .collect();
        let name = name
            .rsplit('.')
            .next()
            .unwrap_or("")
            .trim_matches('"')
            .to_string();
        if !name.is_empty() && !out.contains(&name) {
            out.push(name.to_lowercase());
        }
        rest = &rest[i + 1..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_by_statement() {
        assert_eq!(
            lock_of("CREATE INDEX CONCURRENTLY i ON t (a)"),
            SHARE_UPDATE_EXCLUSIVE
        );
        assert_eq!(lock_of("create index i on t (a)"), SHARE);
        assert_eq!(lock_of("ALTER TABLE t ADD COLUMN x int"), ACCESS_EXCLUSIVE);
        assert_eq!(
            lock_of("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES p (id) NOT VALID"),
            SHARE_ROW_EXCLUSIVE
        );
        assert_eq!(
            lock_of("ALTER TABLE t VALIDATE CONSTRAINT f"),
            SHARE_UPDATE_EXCLUSIVE
        );
        assert_eq!(lock_of("CREATE TABLE n (id int)"), NONE);
    }

    #[test]
    fn tables_include_referenced_ones() {
        assert_eq!(
            tables_of(
                "ALTER TABLE tasks ADD CONSTRAINT f FOREIGN KEY (p) REFERENCES public.projects (id)"
            ),
            vec!["tasks", "projects"]
        );
        assert_eq!(tables_of("CREATE INDEX i ON t (a)"), vec!["t"]);
    }
}
