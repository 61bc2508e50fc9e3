//! Desired catalog (the migrations replayed into a shadow) against the live one: findings, and
//! the ordered changes that fix them. Pure: functions over two catalogs.
//!
//! Order: builds first (a changed definition is built under a temporary name and swapped in, so
//! the table is never without the index), then rebuilds of INVALID indexes, then drops, which
//! are marked so that `apply` runs them only when allowed.

use crate::catalog::{Catalog, Index};
use crate::db::quote_ident;
use crate::finding::{self as rules, Finding, Severity};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

mod tests;

/// Thresholds for the findings that need one.
#[derive(Debug, Clone, Copy)]
pub struct DiffSettings {
    /// An index with no scans is reported unused only if the statistics are older than this.
    pub unused_after_seconds: f64,
    /// Build speed used for duration estimates, bytes of table per second.
    pub build_bytes_per_second: f64,
    /// An index this many times its estimated size (or more) is bloated.
    pub bloat_ratio: f64,
    /// Smaller indexes are not reported as bloated.
    pub bloat_min_bytes: i64,
}

impl Default for DiffSettings {
    fn default() -> Self {
        Self {
            unused_after_seconds: 14.0 * 86_400.0,
            build_bytes_per_second: 50e6,
            bloat_ratio: 2.0,
            bloat_min_bytes: 10_000_000,
        }
    }
}

/// One change of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub rule: &'static str,
    /// `+` build, `~` rebuild or swap, `-` drop.
    pub sign: char,
    pub object: String,
    /// The statements, in order; each runs on its own (none can run in a transaction).
    pub statements: Vec<String>,
    pub reason: String,
    pub lock: &'static str,
    pub estimate_seconds: f64,
    pub is_drop: bool,
}

const SUE: &str = "SHARE UPDATE EXCLUSIVE (reads and writes continue)";

fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// `CREATE [UNIQUE] INDEX name ON ...` -> the same with CONCURRENTLY and, optionally, another name.
fn concurrent(definition: &str, rename_to: Option<&str>) -> String {
    let (unique, rest) = match definition.strip_prefix("CREATE UNIQUE INDEX ") {
        Some(rest) => ("UNIQUE ", rest),
        None => (
            "",
            definition
                .strip_prefix("CREATE INDEX ")
                .unwrap_or(definition),
        ),
    };
    let rest = match (rename_to, rest.split_once(" ON ")) {
        (Some(name), Some((_, on))) => format!("{} ON {on}", quote_ident(name)),
        _ => rest.to_string(),
    };
    format!("CREATE {unique}INDEX CONCURRENTLY {rest}")
}

/// Lookups built once, so a comparison is linear in the number of indexes.
struct Index2<'a> {
    by_name: HashMap<(&'a str, &'a str), &'a Index>,
    by_table: HashMap<(&'a str, &'a str), Vec<&'a Index>>,
}

impl<'a> Index2<'a> {
    fn new(cat: &'a Catalog) -> Self {
        let mut by_name = HashMap::new();
        let mut by_table: HashMap<(&str, &str), Vec<&Index>> = HashMap::new();
        for ix in &cat.indexes {
            by_name.insert((ix.schema.as_str(), ix.name.as_str()), ix);
            by_table
                .entry((ix.schema.as_str(), ix.table.as_str()))
                .or_default()
                .push(ix);
        }
        Self { by_name, by_table }
    }

    fn get(&self, ix: &'a Index) -> Option<&'a Index> {
        self.by_name
            .get(&(ix.schema.as_str(), ix.name.as_str()))
            .copied()
    }

    fn on_table(&self, schema: &'a str, table: &'a str) -> &[&'a Index] {
        self.by_table
            .get(&(schema, table))
            .map_or(&[], Vec::as_slice)
    }
}

/// Accumulates findings and changes; remembers what is dropped.
struct Plan {
    findings: Vec<Finding>,
    changes: Vec<Change>,
    dropped: HashSet<String>,
}

impl Plan {
    fn drop(
        &mut self,
        have: &Index,
        rule: &'static str,
        severity: Severity,
        message: String,
        reason: String,
    ) {
        self.findings.push(Finding {
            rule,
            severity,
            object: have.qualified(),
            message,
            help: "drop it (needs --allow-drop or a yes at the prompt), or keep it in a migration"
                .into(),
        });
        if have.constraint.is_none() && self.dropped.insert(have.qualified()) {
            self.changes.push(Change {
                rule,
                sign: '-',
                object: have.qualified(),
                statements: vec![format!(
                    "DROP INDEX CONCURRENTLY IF EXISTS {}",
                    qualified(&have.schema, &have.name)
                )],
                reason,
                lock: SUE,
                estimate_seconds: 0.0,
                is_drop: true,
            });
        }
    }

    fn is_dropped(&self, ix: &Index) -> bool {
        self.dropped.contains(&ix.qualified())
    }
}

/// Findings and the plan that fixes them.
pub fn compare(
    desired: &Catalog,
    live: &Catalog,
    settings: &DiffSettings,
) -> (Vec<Finding>, Vec<Change>) {
    let sizes: HashMap<(&str, &str), i64> = live
        .tables
        .iter()
        .map(|t| ((t.schema.as_str(), t.name.as_str()), t.size_bytes))
        .collect();
    let estimate = |schema: &str, table: &str| {
        sizes.get(&(schema, table)).copied().unwrap_or(0) as f64 / settings.build_bytes_per_second
    };
    let (want_ix, live_ix) = (Index2::new(desired), Index2::new(live));
    let mut plan = Plan {
        findings: Vec::new(),
        changes: Vec::new(),
        dropped: HashSet::new(),
    };
    for want in &desired.indexes {
        match live_ix.get(want) {
            None => missing(&mut plan, want, estimate(&want.schema, &want.table)),
            Some(have) if have.shape() != want.shape() => {
                differs(&mut plan, have, want, estimate(&have.schema, &have.table))
            }
            Some(_) => {}
        }
    }
    for have in live.indexes.iter().filter(|h| !h.valid) {
        invalid(
            &mut plan,
            have,
            want_ix.get(have).is_some(),
            estimate(&have.schema, &have.table),
        );
    }
    // Unexpected indexes first, so that a duplicate of a wanted index is the one dropped.
    for have in live
        .indexes
        .iter()
        .filter(|h| h.valid && h.constraint.is_none() && want_ix.get(h).is_none())
    {
        let message = format!(
            "index {} is in the database but in no migration",
            have.qualified()
        );
        plan.drop(
            have,
            rules::UNEXPECTED_INDEX,
            Severity::Warning,
            message,
            "not in the migrations".into(),
        );
    }
    for have in live.indexes.iter().filter(|h| h.valid) {
        if plan.is_dropped(have) {
            continue;
        }
        let siblings = live_ix.on_table(&have.schema, &have.table);
        let shape = have.shape();
        if let Some(twin) = siblings
            .iter()
            .find(|o| o.valid && o.name != have.name && !plan.is_dropped(o) && o.shape() == shape)
        {
            let message = format!(
                "index {} has the same definition as {}",
                have.qualified(),
                twin.qualified()
            );
            plan.drop(
                have,
                rules::DUPLICATE_INDEX,
                Severity::Warning,
                message,
                format!("duplicate of {}", twin.qualified()),
            );
        } else if let Some(wider) = redundant_with(have, siblings) {
            let message = format!(
                "index {} is a leading prefix of {}",
                have.qualified(),
                wider.qualified()
            );
            plan.drop(
                have,
                rules::REDUNDANT_INDEX,
                Severity::Warning,
                message,
                format!("{} serves the same queries", wider.qualified()),
            );
        } else if have.scans == 0
            && !have.unique
            && have.constraint.is_none()
            && live.stats_age_seconds >= settings.unused_after_seconds
        {
            let message = format!(
                "index {} has not been scanned in {:.0} days",
                have.qualified(),
                live.stats_age_seconds / 86_400.0
            );
            plan.drop(
                have,
                rules::UNUSED_INDEX,
                Severity::Note,
                message,
                "never scanned since the statistics reset".into(),
            );
        }
    }
    for have in live.indexes.iter().filter(|h| h.valid) {
        if plan.is_dropped(have) {
            continue;
        }
        if let Some(expected) = have.expected_bytes.filter(|e| *e > 0)
            && have.size_bytes >= settings.bloat_min_bytes
            && have.size_bytes as f64 >= settings.bloat_ratio * expected as f64
        {
            bloated(
                &mut plan,
                have,
                expected,
                estimate(&have.schema, &have.table),
            );
        }
    }
    fk_findings(live, &live_ix, &mut plan, &estimate);
    order(&mut plan.changes);
    (plan.findings, plan.changes)
}

/// Builds first, then rebuilds and swaps, then drops: nothing goes before its replacement.
pub fn order(changes: &mut [Change]) {
    changes.sort_by_key(|c| match c.sign {
        '+' => 0,
        '~' => 1,
        _ => 2,
    });
}

fn missing(plan: &mut Plan, want: &Index, estimate_seconds: f64) {
    plan.findings.push(Finding {
        rule: rules::MISSING_INDEX,
        severity: Severity::Error,
        object: want.qualified(),
        message: format!("index {} is in the migrations but not in the database", want.qualified()),
        help: "build it concurrently (plan/apply), or find out why the migration that creates it did not".into(),
    });
    if want.constraint.is_none() {
        plan.changes.push(Change {
            rule: rules::MISSING_INDEX,
            sign: '+',
            object: want.qualified(),
            statements: vec![concurrent(&want.definition, None).replacen(
                "CONCURRENTLY ",
                "CONCURRENTLY IF NOT EXISTS ",
                1,
            )],
            reason: "in the migrations, missing in the database".into(),
            lock: SUE,
            estimate_seconds,
            is_drop: false,
        });
    }
}

fn differs(plan: &mut Plan, have: &Index, want: &Index, estimate_seconds: f64) {
    plan.findings.push(Finding {
        rule: rules::INDEX_DEFINITION_DIFFERS,
        severity: Severity::Error,
        object: have.qualified(),
        message: format!("index {} differs from the migrations, which define `{}`", have.qualified(), want.definition),
        help: "rebuild it from the migrations' definition (built under a temporary name, then swapped)".into(),
    });
    if have.constraint.is_none() {
        let temp = format!("{}_pgw_new", have.name);
        plan.changes.push(Change {
            rule: rules::INDEX_DEFINITION_DIFFERS,
            sign: '~',
            object: have.qualified(),
            statements: vec![
                concurrent(&want.definition, Some(&temp)),
                format!("DROP INDEX CONCURRENTLY {}", qualified(&have.schema, &have.name)),
                format!("ALTER INDEX {} RENAME TO {}", qualified(&have.schema, &temp), quote_ident(&have.name)),
            ],
            reason: "definition differs from the migrations; the new one is valid before the old one goes".into(),
            lock: SUE,
            estimate_seconds,
            is_drop: false,
        });
    }
}

fn bloated(plan: &mut Plan, have: &Index, expected: i64, estimate_seconds: f64) {
    let mb = |b: i64| b as f64 / 1e6;
    plan.findings.push(Finding {
        rule: rules::BLOATED_INDEX,
        severity: Severity::Warning,
        object: have.qualified(),
        message: format!(
            "index {} takes {:.1} MB where its rows need about {:.1} MB ({:.1}x)",
            have.qualified(),
            mb(have.size_bytes),
            mb(expected),
            have.size_bytes as f64 / expected as f64
        ),
        help: "rebuild it concurrently".into(),
    });
    plan.changes.push(Change {
        rule: rules::BLOATED_INDEX,
        sign: '~',
        object: have.qualified(),
        statements: vec![format!(
            "REINDEX INDEX CONCURRENTLY {}",
            qualified(&have.schema, &have.name)
        )],
        reason: format!(
            "bloated: {:.1} MB, about {:.1} MB needed",
            mb(have.size_bytes),
            mb(expected)
        ),
        lock: SUE,
        estimate_seconds,
        is_drop: false,
    });
}

/// Rebuild an INVALID index the migrations want; drop a leftover they do not know.
fn invalid(plan: &mut Plan, have: &Index, wanted: bool, estimate_seconds: f64) {
    plan.findings.push(Finding {
        rule: rules::INVALID_INDEX,
        severity: Severity::Error,
        object: have.qualified(),
        message: format!(
            "index {} is INVALID (a failed concurrent build): it costs writes and serves no query",
            have.qualified()
        ),
        help: if wanted {
            "rebuild it concurrently".into()
        } else {
            "drop it: no migration wants it".into()
        },
    });
    let name = qualified(&have.schema, &have.name);
    let (sign, statement, reason) = if wanted {
        (
            '~',
            format!("REINDEX INDEX CONCURRENTLY {name}"),
            "INVALID after a failed concurrent build",
        )
    } else {
        (
            '-',
            format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"),
            "INVALID leftover of a failed build, in no migration",
        )
    };
    if !wanted {
        plan.dropped.insert(have.qualified());
    }
    plan.changes.push(Change {
        rule: rules::INVALID_INDEX,
        sign,
        object: have.qualified(),
        statements: vec![statement],
        reason: reason.into(),
        lock: SUE,
        estimate_seconds: if wanted { estimate_seconds } else { 0.0 },
        is_drop: !wanted,
    });
}

/// A plain btree whose key columns are a strict leading prefix of another btree's, with the same
/// predicate, and that backs no constraint.
fn redundant_with<'a>(ix: &Index, siblings: &[&'a Index]) -> Option<&'a Index> {
    if ix.method != "btree" || ix.unique || ix.constraint.is_some() {
        return None;
    }
    siblings.iter().copied().find(|o| {
        o.valid
            && o.name != ix.name
            && o.schema == ix.schema
            && o.table == ix.table
            && o.method == "btree"
            && o.predicate == ix.predicate
            && o.columns.len() > ix.columns.len()
            && o.columns.starts_with(&ix.columns)
    })
}

fn fk_findings(
    live: &Catalog,
    live_ix: &Index2,
    plan: &mut Plan,
    estimate: &dyn Fn(&str, &str) -> f64,
) {
    let written: HashSet<(&str, &str)> = live
        .tables
        .iter()
        .filter(|t| t.writes > 0)
        .map(|t| (t.schema.as_str(), t.name.as_str()))
        .collect();
    for fk in &live.foreign_keys {
        let covered = live_ix
            .on_table(&fk.schema, &fk.table)
            .iter()
            .any(|ix| ix.valid && ix.predicate.is_none() && ix.columns.starts_with(&fk.columns));
        let written = written.contains(&(fk.schema.as_str(), fk.table.as_str()));
        if covered || !written {
            continue;
        }
        let mut name = format!("idx_{}_{}", fk.table, fk.columns.join("_"));
        name.retain(|c| c != '"');
        name.truncate(63);
        let cols = fk.columns.clone();
        plan.findings.push(Finding {
            rule: rules::FK_WITHOUT_INDEX,
            severity: Severity::Warning,
            object: format!("{}.{}", fk.schema, fk.name),
            message: format!(
                "foreign key {} on {}.{} ({}) has no index: every delete or key update in {} scans {}",
                fk.name, fk.schema, fk.table, fk.columns.join(", "), fk.referenced_table, fk.table
            ),
            help: format!("index {}.{} ({})", fk.schema, fk.table, fk.columns.join(", ")),
        });
        plan.changes.push(Change {
            rule: rules::FK_WITHOUT_INDEX,
            sign: '+',
            object: format!("{}.{}", fk.schema, name),
            statements: vec![format!(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({})",
                quote_ident(&name),
                qualified(&fk.schema, &fk.table),
                cols.join(", ")
            )],
            reason: format!("supports foreign key {}", fk.name),
            lock: SUE,
            estimate_seconds: estimate(&fk.schema, &fk.table),
            is_drop: false,
        });
    }
}
