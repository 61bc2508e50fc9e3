//! The statements a reviewed plan may hold: exactly the forms `diff` (and the advisor) write.
//! A plan file is input that may have been edited: anything else is refused, so a plan file can
//! never become a way to run arbitrary SQL. Each statement must split (by the project's
//! splitter) into one statement, classify as the expected kind, and name its objects plainly;
//! the partition attach block must be byte for byte the one `diff` generates for its names.

use crate::catalog::Catalog;
use crate::sql::{self, TxRequirement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};
use std::collections::BTreeSet;

/// A possibly schema-qualified name, as stored (quotes removed, unquoted parts folded).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct QName {
    /// The schema, when the statement names one.
    pub schema: Option<String>,
    /// The object's name.
    pub name: String,
}

/// One statement of a reviewed plan, by kind, with the objects it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedStatement {
    /// `CREATE [UNIQUE] INDEX [CONCURRENTLY] IF NOT EXISTS index ON [ONLY] table ...` (without
    /// CONCURRENTLY only `ON ONLY` a partitioned table, which builds nothing).
    Build {
        /// The index built, in the table's schema.
        index: String,
        /// The table.
        table: QName,
    },
    /// `DROP INDEX [CONCURRENTLY] IF EXISTS index`.
    Drop {
        /// The index dropped.
        index: QName,
    },
    /// `REINDEX INDEX CONCURRENTLY index`.
    Reindex {
        /// The index rebuilt.
        index: QName,
    },
    /// `ALTER INDEX IF EXISTS from RENAME TO to`.
    Rename {
        /// The index renamed.
        from: QName,
        /// Its new name, in the same schema.
        to: String,
    },
    /// The `DO` block that attaches a partition's index to a partitioned one.
    Attach {
        /// The partitioned index.
        parent: QName,
        /// The partition.
        partition: QName,
        /// The partition's index.
        child: QName,
    },
}

/// Reads `statement` as one of the forms a plan holds, or says why it is refused.
pub fn classify(statement: &str) -> Result<PlannedStatement, String> {
    let split = sql::split(statement).map_err(|e| e.to_string())?;
    let [one] = split.statements.as_slice() else {
        return Err(format!(
            "{} statements where one is expected",
            split.statements.len()
        ));
    };
    if one.text != statement.trim() {
        return Err("text around the statement".into());
    }
    let mut c = Cursor::new(statement)?;
    let refused = || "not a statement pgwarden's plan writes".to_string();
    if c.kw("CREATE") {
        let build = one.index_build.as_ref().ok_or_else(refused)?;
        c.kw("UNIQUE");
        c.expect("INDEX")?;
        let concurrently = c.kw("CONCURRENTLY");
        c.expect("IF")?;
        c.expect("NOT")?;
        c.expect("EXISTS")?;
        let index = c.name()?;
        c.expect("ON")?;
        let only = c.kw("ONLY");
        let table = c.qname()?;
        let concurrent_kind = one.tx == TxRequirement::NoTransaction("CREATE INDEX CONCURRENTLY");
        if concurrently == only || concurrent_kind != concurrently || build.index_name != index {
            return Err(
                "an index build must be CONCURRENTLY, or ON ONLY a partitioned table".into(),
            );
        }
        if !(c.kw("USING") || c.peek() == Some(&Token::LParen)) {
            return Err(refused());
        }
        return Ok(PlannedStatement::Build { index, table });
    }
    if c.kw("DROP") {
        c.expect("INDEX")?;
        c.kw("CONCURRENTLY");
        c.expect("IF")?;
        c.expect("EXISTS")?;
        let index = c.qname()?;
        c.end()?;
        return Ok(PlannedStatement::Drop { index });
    }
    if c.kw("REINDEX") {
        c.expect("INDEX")?;
        c.expect("CONCURRENTLY")?;
        let index = c.qname()?;
        c.end()?;
        if one.reindex.is_none() {
            return Err(refused());
        }
        return Ok(PlannedStatement::Reindex { index });
    }
    if c.kw("ALTER") {
        c.expect("INDEX")?;
        c.expect("IF")?;
        c.expect("EXISTS")?;
        let from = c.qname()?;
        c.expect("RENAME")?;
        c.expect("TO")?;
        let to = c.name()?;
        c.end()?;
        return Ok(PlannedStatement::Rename { from, to });
    }
    if c.kw("DO") {
        return attach_block(statement, &mut c);
    }
    Err(refused())
}

/// The `DO` block: its names read from its literals, then the block `diff` would write for them
/// must be exactly this text.
fn attach_block(statement: &str, c: &mut Cursor) -> Result<PlannedStatement, String> {
    let Some(Token::DollarQuotedString(body)) = c.next() else {
        return Err("a DO block pgwarden's plan does not write".into());
    };
    c.end()?;
    let literals: Vec<String> = Cursor::new(&body.value)?
        .tokens
        .into_iter()
        .filter_map(|t| match t {
            Token::SingleQuotedString(s) | Token::EscapedStringLiteral(s) => Some(s),
            _ => None,
        })
        .collect();
    let refused = || "a DO block pgwarden's plan does not write".to_string();
    let [_, partition, _, _, attach] = literals.as_slice() else {
        return Err(refused());
    };
    let partition = Cursor::new(partition)?.qualified()?;
    let mut a = Cursor::new(attach)?;
    a.expect("ALTER")?;
    a.expect("INDEX")?;
    let parent = a.qualified()?;
    a.expect("ATTACH")?;
    a.expect("PARTITION")?;
    let child = a.qualified()?;
    a.end()?;
    let (ps, pn) = (parent.schema.clone().unwrap_or_default(), &parent.name);
    let part = (
        partition.schema.as_deref().unwrap_or_default(),
        partition.name.as_str(),
    );
    let regenerated = crate::diff::attach(&ps, pn, part, &child.name);
    if regenerated != statement.trim() || child.schema != partition.schema {
        return Err(refused());
    }
    Ok(PlannedStatement::Attach {
        parent,
        partition,
        child,
    })
}

impl PlannedStatement {
    /// The statement drops an index (a reviewed plan still needs `--allow-drop` for it).
    pub fn is_drop(&self) -> bool {
        matches!(self, PlannedStatement::Drop { .. })
    }
}

/// The tables (schema, name) the statements touch, resolved in `catalog`: a build's table, the
/// table of each index dropped, rebuilt, renamed or attached, and each partition attached. An
/// unqualified table is every table of that name (`public` when there is none); an index the
/// catalog does not hold (a name the plan itself creates) adds nothing.
pub fn touched_tables(
    statements: &[PlannedStatement],
    catalog: &Catalog,
) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut table = |q: &QName| {
        let found: Vec<_> = catalog
            .tables
            .iter()
            .filter(|t| t.name == q.name && q.schema.as_ref().is_none_or(|s| *s == t.schema))
            .map(|t| (t.schema.clone(), t.name.clone()))
            .collect();
        match (&q.schema, found.is_empty()) {
            (Some(s), true) => {
                out.insert((s.clone(), q.name.clone()));
            }
            (None, true) => {
                out.insert(("public".into(), q.name.clone()));
            }
            (_, false) => out.extend(found),
        }
    };
    let mut of_index = Vec::new();
    for s in statements {
        match s {
            PlannedStatement::Build { table: t, .. } => table(t),
            PlannedStatement::Drop { index } | PlannedStatement::Reindex { index } => {
                of_index.push(index)
            }
            PlannedStatement::Rename { from, .. } => of_index.push(from),
            PlannedStatement::Attach {
                parent, partition, ..
            } => {
                table(partition);
                of_index.push(parent);
            }
        }
    }
    let matches = |q: &QName, schema: &str, name: &str| {
        q.name == name && q.schema.as_ref().is_none_or(|s| s == schema)
    };
    for q in of_index {
        for ix in catalog
            .indexes
            .iter()
            .filter(|i| matches(q, &i.schema, &i.name))
        {
            table(&QName {
                schema: Some(ix.schema.clone()),
                name: ix.table.clone(),
            });
        }
        for a in catalog
            .attached
            .iter()
            .filter(|a| matches(q, &a.schema, &a.name))
        {
            table(&QName {
                schema: Some(a.schema.clone()),
                name: a.table.clone(),
            });
        }
    }
    out
}

/// The index names (schema, name) the statements build, drop, rebuild or rename, each build's
/// in the schema of its table as resolved by `touched`: what an interrupted run of the plan may
/// have left half done.
pub fn own_indexes(
    statements: &[PlannedStatement],
    catalog: &Catalog,
) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let schemas = |q: &QName| -> Vec<String> {
        match &q.schema {
            Some(s) => vec![s.clone()],
            None => touched_tables(
                &[PlannedStatement::Build {
                    index: String::new(),
                    table: q.clone(),
                }],
                catalog,
            )
            .into_iter()
            .map(|(s, _)| s)
            .collect(),
        }
    };
    for s in statements {
        match s {
            PlannedStatement::Build { index, table } => {
                out.extend(schemas(table).into_iter().map(|s| (s, index.clone())));
            }
            PlannedStatement::Drop { index } | PlannedStatement::Reindex { index } => {
                out.extend(schemas(index).into_iter().map(|s| (s, index.name.clone())));
            }
            PlannedStatement::Rename { from, to } => {
                for s in schemas(from) {
                    out.insert((s.clone(), from.name.clone()));
                    out.insert((s, to.clone()));
                }
            }
            PlannedStatement::Attach { child, .. } => {
                out.extend(schemas(child).into_iter().map(|s| (s, child.name.clone())));
            }
        }
    }
    out
}

/// Non-whitespace tokens of one statement, read front to back.
struct Cursor {
    tokens: Vec<Token>,
    at: usize,
}

impl Cursor {
    fn new(text: &str) -> Result<Self, String> {
        let tokens = Tokenizer::new(&PostgreSqlDialect {}, text)
            .tokenize()
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|t| !matches!(t, Token::Whitespace(_)))
            .collect();
        Ok(Self { tokens, at: 0 })
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    /// Consumes the unquoted keyword `k` if it comes next.
    fn kw(&mut self, k: &str) -> bool {
        let hit = matches!(self.peek(), Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(k));
        if hit {
            self.at += 1;
        }
        hit
    }

    fn expect(&mut self, k: &str) -> Result<(), String> {
        if self.kw(k) {
            Ok(())
        } else {
            Err(format!(
                "expected {k}: not a statement pgwarden's plan writes"
            ))
        }
    }

    fn name(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Word(w)) => Ok(sql::stored_identifier(&w.value, w.quote_style.is_some())),
            _ => Err("expected a name: not a statement pgwarden's plan writes".into()),
        }
    }

    fn qname(&mut self) -> Result<QName, String> {
        let first = self.name()?;
        if self.peek() == Some(&Token::Period) {
            self.at += 1;
            let name = self.name()?;
            return Ok(QName {
                schema: Some(first),
                name,
            });
        }
        Ok(QName {
            schema: None,
            name: first,
        })
    }

    /// A schema-qualified name.
    fn qualified(&mut self) -> Result<QName, String> {
        let q = self.qname()?;
        if q.schema.is_none() {
            return Err("expected a schema-qualified name".into());
        }
        Ok(q)
    }

    fn end(&self) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(format!("unexpected `{t}` after the statement")),
        }
    }
}
