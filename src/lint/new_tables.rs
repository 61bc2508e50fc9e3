//! Tables created by the migrations being linted: a locking rule is moot on them. The table is
//! empty and no other session uses it yet, so a blocking index build, a rewrite or a validated
//! constraint on it costs nothing. Names are compared as PostgreSQL stores them (unquoted ones
//! folded to lower case), an unqualified name standing for `public.name`.

use super::own::{name_at, touched_name, words};
use std::collections::HashSet;

/// The schema an unqualified name is taken to live in (PostgreSQL's default search path).
const DEFAULT_SCHEMA: &str = "public";

/// A table or index name as stored: (schema, name).
type Qualified = (String, String);

fn qualify((schema, name): (Option<String>, String)) -> Qualified {
    (schema.unwrap_or_else(|| DEFAULT_SCHEMA.into()), name)
}

/// Tables (and the indexes built on them) created so far in a lint run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewTables {
    tables: HashSet<Qualified>,
    indexes: HashSet<Qualified>,
}

impl NewTables {
    /// Records what `statement` creates: a table (`CREATE [TEMP|UNLOGGED] TABLE [IF NOT EXISTS]
    /// name ...`, with columns, `AS` or `PARTITION OF`) unless `exists_live` says the live
    /// database already has a table of that name; an index on a new table.
    pub fn observe(&mut self, statement: &str, exists_live: &dyn Fn(&str) -> bool) {
        let w = words(statement);
        if let Some(table) = created_table(&w) {
            if !exists_live(&table.1) {
                self.tables.insert(table);
            }
            return;
        }
        let kw = |i: usize| w.get(i).map_or("", |x| x.0.as_str());
        // DROP TABLE: a table of that name made later is another one. ALTER TABLE a RENAME TO
        // b: b is new exactly when a was (an old table renamed into a new one's name is old).
        if (kw(0), kw(1)) == ("DROP", "TABLE") {
            for t in names_from(&w, 2) {
                self.tables.remove(&t);
            }
            return;
        }
        if (kw(0), kw(1)) == ("ALTER", "TABLE")
            && let Some(to) = w.iter().position(|x| x.0 == "TO")
            && w.get(to.wrapping_sub(1)).is_some_and(|x| x.0 == "RENAME")
            && let (Some(from), Some((_, new_name))) = (name_at(&w, 2), name_at(&w, to + 1))
        {
            let from = qualify(from);
            let renamed = (from.0.clone(), new_name);
            if self.tables.remove(&from) {
                self.tables.insert(renamed);
            } else {
                self.tables.remove(&renamed);
            }
            return;
        }
        // CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] name ON new_table
        if kw(0) != "CREATE" || !(kw(1) == "INDEX" || kw(1) == "UNIQUE" && kw(2) == "INDEX") {
            return;
        }
        let Some(on) = w.iter().position(|x| x.0 == "ON") else {
            return;
        };
        let name_start = if kw(1) == "UNIQUE" { 3 } else { 2 };
        let name_start = name_start + usize::from(kw(name_start) == "CONCURRENTLY");
        let (Some(table), Some(index)) = (
            touched_name(statement).map(qualify),
            (name_start < on).then(|| name_at(&w, name_start)).flatten(),
        ) else {
            return;
        };
        if self.tables.contains(&table) {
            // An index lives in its table's schema.
            let schema = index.0.unwrap_or_else(|| table.0.clone());
            self.indexes.insert((schema, index.1));
        }
    }

    /// Whether the table (or index) `statement` locks is one created earlier in the run:
    /// `ALTER TABLE`, `CREATE INDEX ... ON`, `REINDEX TABLE` on a new table, or `DROP INDEX`,
    /// `REINDEX INDEX` of an index built on one. Every object a `DROP INDEX` names must be new.
    pub fn holds_target_of(&self, statement: &str) -> bool {
        if self.tables.is_empty() {
            return false;
        }
        let w = words(statement);
        let kw = |i: usize| w.get(i).map_or("", |x| x.0.as_str());
        match (kw(0), kw(1)) {
            ("DROP", "INDEX") => {
                let start = 2 + usize::from(kw(2) == "CONCURRENTLY");
                let names = names_from(&w, start);
                !names.is_empty() && names.iter().all(|n| self.indexes.contains(n))
            }
            ("REINDEX", "INDEX") => {
                let start = 2 + usize::from(kw(2) == "CONCURRENTLY");
                name_at(&w, start).is_some_and(|n| self.indexes.contains(&qualify(n)))
            }
            _ => touched_name(statement).is_some_and(|t| self.tables.contains(&qualify(t))),
        }
    }

    /// Whether any table has been created.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}

/// `CREATE [OR REPLACE] [GLOBAL|LOCAL] [TEMP|TEMPORARY|UNLOGGED] TABLE [IF NOT EXISTS] name`.
fn created_table(w: &[(String, Option<String>)]) -> Option<Qualified> {
    let kw = |i: usize| w.get(i).map_or("", |x| x.0.as_str());
    if kw(0) != "CREATE" {
        return None;
    }
    let mut i = 1;
    while matches!(
        kw(i),
        "OR" | "REPLACE" | "GLOBAL" | "LOCAL" | "TEMP" | "TEMPORARY" | "UNLOGGED"
    ) {
        i += 1;
    }
    if kw(i) != "TABLE" {
        return None;
    }
    name_at(w, i + 1).map(qualify)
}

/// The comma-separated names from word `start` (`DROP INDEX [IF EXISTS] a, s.b`).
fn names_from(w: &[(String, Option<String>)], start: usize) -> Vec<Qualified> {
    let mut out = Vec::new();
    let mut i = start;
    while let Some(n) = name_at(w, i) {
        out.push(qualify(n));
        // Skip to the word after the next comma (the tokenizer reports it as a non-word).
        let Some(comma) = (i..w.len()).find(|&j| w[j].0.is_empty() && w[j].1.is_none()) else {
            break;
        };
        i = comma + 1;
    }
    out
}
