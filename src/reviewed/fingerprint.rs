//! The before-state a reviewed plan was made against: for each table the plan touches, whether
//! it exists and every index on it (structural key and validity), plus the applied migrations.
//! Unrelated tables are left out, so databases of a fleet that differ elsewhere still match.
//!
//! The items are stored beside their SHA-256, so a mismatch names what changed. The hash is over
//! a canonical form: items sorted, every field length-prefixed (no separator can be forged by a
//! name).

use crate::catalog::Catalog;
use crate::migrations::history::AppliedRow;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// The fingerprint of the relevant catalog: its items and their SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fingerprint {
    /// Hex SHA-256 of the canonical form of `tables` and `migrations`.
    pub sha256: String,
    /// The tables the plan touches, sorted by schema and name.
    pub tables: Vec<TableState>,
    /// The applied migrations (history rows), sorted by version.
    pub migrations: Vec<AppliedMigration>,
}

/// One table the plan touches, as found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableState {
    /// Schema, as stored (unquoted).
    pub schema: String,
    /// Table name, as stored (unquoted).
    pub name: String,
    /// The table exists (ordinary or partitioned).
    pub exists: bool,
    /// Every index on the table (partitions' attached ones included), sorted by schema and name.
    pub indexes: Vec<IndexState>,
}

/// One index of a touched table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexState {
    /// Schema, as stored.
    pub schema: String,
    /// Index name, as stored.
    pub name: String,
    /// The catalog's structural key (names, not OIDs: comparable across databases); for a
    /// partition's index attached to a partitioned one, `attached to schema.parent`.
    pub key: String,
    /// `pg_index.indisvalid`.
    pub valid: bool,
}

/// One applied migration, as the history records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppliedMigration {
    /// Version.
    pub version: i32,
    /// Name as recorded.
    pub name: String,
    /// Checksum as recorded (refinery's decimal text).
    pub checksum: String,
}

impl Fingerprint {
    /// The fingerprint of `tables` (schema, name) in `catalog`, with the applied `history`.
    pub fn of(
        catalog: &Catalog,
        history: &[AppliedRow],
        tables: &BTreeSet<(String, String)>,
    ) -> Self {
        let mut by_table: BTreeMap<(&str, &str), Vec<IndexState>> = BTreeMap::new();
        for ix in &catalog.indexes {
            by_table
                .entry((&ix.schema, &ix.table))
                .or_default()
                .push(IndexState {
                    schema: ix.schema.clone(),
                    name: ix.name.clone(),
                    key: ix.key.clone(),
                    valid: ix.valid,
                });
        }
        for a in &catalog.attached {
            by_table
                .entry((&a.schema, &a.table))
                .or_default()
                .push(IndexState {
                    schema: a.schema.clone(),
                    name: a.name.clone(),
                    key: format!("attached to {}.{}", a.parent_schema, a.parent),
                    valid: true,
                });
        }
        let tables = tables
            .iter()
            .map(|(schema, name)| {
                let mut indexes = by_table
                    .remove(&(schema.as_str(), name.as_str()))
                    .unwrap_or_default();
                indexes.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
                TableState {
                    exists: catalog
                        .tables
                        .iter()
                        .any(|t| t.schema == *schema && t.name == *name),
                    schema: schema.clone(),
                    name: name.clone(),
                    indexes,
                }
            })
            .collect();
        let mut migrations: Vec<AppliedMigration> = history
            .iter()
            .map(|r| AppliedMigration {
                version: r.version,
                name: r.name.clone(),
                checksum: r.checksum.clone(),
            })
            .collect();
        migrations.sort_by_key(|m| m.version);
        Self::from_items(tables, migrations)
    }

    /// A fingerprint of these items, their hash computed.
    pub fn from_items(tables: Vec<TableState>, migrations: Vec<AppliedMigration>) -> Self {
        let mut f = Self {
            sha256: String::new(),
            tables,
            migrations,
        };
        f.sha256 = f.computed_sha256();
        f
    }

    /// The SHA-256 of the items as they are (a loaded file's `sha256` must equal it).
    pub fn computed_sha256(&self) -> String {
        hex(&Sha256::digest(self.canonical()))
    }

    /// The canonical form hashed: a tag, then every field length-prefixed (`len:bytes`), tables,
    /// indexes and migrations sorted, so equal states give equal bytes whatever the order read.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let field = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(format!("{}:", s.len()).as_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        field(&mut out, "pgwarden-fingerprint-v1");
        let mut tables: Vec<&TableState> = self.tables.iter().collect();
        tables.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        field(&mut out, &format!("tables {}", tables.len()));
        for t in tables {
            field(&mut out, &t.schema);
            field(&mut out, &t.name);
            field(&mut out, if t.exists { "exists" } else { "missing" });
            let mut indexes: Vec<&IndexState> = t.indexes.iter().collect();
            indexes.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
            field(&mut out, &format!("indexes {}", indexes.len()));
            for ix in indexes {
                field(&mut out, &ix.schema);
                field(&mut out, &ix.name);
                field(&mut out, &ix.key);
                field(&mut out, if ix.valid { "valid" } else { "invalid" });
            }
        }
        let mut migrations: Vec<&AppliedMigration> = self.migrations.iter().collect();
        migrations.sort_by_key(|m| m.version);
        field(&mut out, &format!("migrations {}", migrations.len()));
        for m in migrations {
            field(&mut out, &m.version.to_string());
            field(&mut out, &m.name);
            field(&mut out, &m.checksum);
        }
        out
    }

    /// The same items without the indexes in `own` (schema, name) and the `_ccnew`/`_ccold`
    /// leftovers an interrupted `REINDEX CONCURRENTLY` of one of them leaves: what must still
    /// match when a rerun resumes a plan that was interrupted half way.
    pub fn without_indexes(&self, own: &BTreeSet<(String, String)>) -> Fingerprint {
        let is_own = |i: &IndexState| {
            own.iter().any(|(schema, name)| {
                *schema == i.schema
                    && i.name.strip_prefix(name.as_str()).is_some_and(|rest| {
                        let rest = rest
                            .strip_prefix("_ccnew")
                            .or_else(|| rest.strip_prefix("_ccold"));
                        i.name == *name
                            || rest.is_some_and(|d| d.chars().all(|c| c.is_ascii_digit()))
                    })
            })
        };
        let tables = self
            .tables
            .iter()
            .map(|t| TableState {
                indexes: t.indexes.iter().filter(|i| !is_own(i)).cloned().collect(),
                ..t.clone()
            })
            .collect();
        Fingerprint::from_items(tables, self.migrations.clone())
    }

    /// Every difference from `self` (the plan's before-state) to `now`, in words, e.g.
    /// `index public.t_a: definition changed`; empty when they match.
    pub fn differences(&self, now: &Fingerprint) -> Vec<Difference> {
        let mut out = Vec::new();
        let before: BTreeMap<_, _> = self
            .tables
            .iter()
            .map(|t| ((&t.schema, &t.name), t))
            .collect();
        let after: BTreeMap<_, _> = now
            .tables
            .iter()
            .map(|t| ((&t.schema, &t.name), t))
            .collect();
        for (key, t) in &before {
            match after.get(key) {
                None => out.push(Difference::table(t, "not fingerprinted on this database")),
                Some(n) if n.exists != t.exists => out.push(Difference::table(
                    t,
                    if n.exists {
                        "now exists"
                    } else {
                        "no longer exists"
                    },
                )),
                Some(n) => index_differences(t, n, &mut out),
            }
        }
        for (key, t) in &after {
            if !before.contains_key(key) {
                out.push(Difference::table(
                    t,
                    "touched by the plan here but not in its fingerprint",
                ));
            }
        }
        let applied: BTreeMap<i32, &AppliedMigration> =
            self.migrations.iter().map(|m| (m.version, m)).collect();
        let now_applied: BTreeMap<i32, &AppliedMigration> =
            now.migrations.iter().map(|m| (m.version, m)).collect();
        for (v, m) in &applied {
            match now_applied.get(v) {
                None => out.push(Difference::migration(m, "no longer applied")),
                Some(n) if n.name != m.name || n.checksum != m.checksum => out.push(
                    Difference::migration(m, "applied with another name or checksum"),
                ),
                Some(_) => {}
            }
        }
        for (v, m) in &now_applied {
            if !applied.contains_key(v) {
                out.push(Difference::migration(m, "applied since"));
            }
        }
        out
    }
}

fn index_differences(before: &TableState, now: &TableState, out: &mut Vec<Difference>) {
    let was: BTreeMap<_, _> = before
        .indexes
        .iter()
        .map(|i| ((&i.schema, &i.name), i))
        .collect();
    let is: BTreeMap<_, _> = now
        .indexes
        .iter()
        .map(|i| ((&i.schema, &i.name), i))
        .collect();
    for (key, i) in &was {
        match is.get(key) {
            None => out.push(Difference::index(i, "no longer exists")),
            Some(n) if n.key != i.key => out.push(Difference::index(i, "definition changed")),
            Some(n) if n.valid != i.valid => out.push(Difference::index(
                i,
                if n.valid { "now valid" } else { "now INVALID" },
            )),
            Some(_) => {}
        }
    }
    for (key, i) in &is {
        if !was.contains_key(key) {
            out.push(Difference::index(i, "now exists"));
        }
    }
}

/// One way the database no longer matches the plan's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// What differs: `table`, `index` or `migration`.
    pub kind: &'static str,
    /// The object: `schema.name` (unquoted), or `V7` for a migration.
    pub object: String,
    /// How it differs, e.g. `definition changed`, `now exists`, `applied since`.
    pub change: String,
}

impl Difference {
    fn table(t: &TableState, change: &str) -> Self {
        Self {
            kind: "table",
            object: format!("{}.{}", t.schema, t.name),
            change: change.into(),
        }
    }

    fn index(i: &IndexState, change: &str) -> Self {
        Self {
            kind: "index",
            object: format!("{}.{}", i.schema, i.name),
            change: change.into(),
        }
    }

    fn migration(m: &AppliedMigration, change: &str) -> Self {
        Self {
            kind: "migration",
            object: format!("V{}", m.version),
            change: format!("{change} ({})", m.name),
        }
    }
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.kind, self.object, self.change)
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
