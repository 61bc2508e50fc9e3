//! Desired catalog (the migrations replayed into a shadow) against the live one: findings, and
//! the ordered changes that fix them. Pure: functions over two catalogs.
//!
//! Order: builds first (a changed definition is built under a temporary name and swapped in, so
//! the table is never without the index), then rebuilds of INVALID indexes, then drops, which
//! are marked so that `apply` runs them only when allowed.

use crate::catalog::{Catalog, Index, ServerUsage};
use crate::finding::{self as rules, Finding, Severity};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

mod builders;
mod ddl;
mod tests;
mod usage;

pub(crate) use crate::escape::qualified;
use builders::{bloated, differs, fk_findings, invalid, missing, redundant_with};
pub(crate) use ddl::{ACCESS_EXCLUSIVE, SUE, attach, drop_index};

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

impl DiffSettings {
    /// The defaults, with the policy's `[plan]` thresholds where it sets them.
    pub fn from_policy(policy: Option<&crate::policy::Policy>) -> Self {
        let mut s = DiffSettings::default();
        if let Some(p) = policy.map(|p| &p.plan) {
            if let Some(days) = p.unused_after_days {
                s.unused_after_seconds = days * 86_400.0;
            }
            if let Some(ratio) = p.bloat_ratio {
                s.bloat_ratio = ratio;
            }
            if let Some(mb) = p.bloat_min_mb {
                s.bloat_min_bytes = (mb * 1e6) as i64;
            }
        }
        s
    }
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
    /// The rule id of the finding this change fixes.
    pub rule: &'static str,
    /// `+` build, `~` rebuild or swap, `-` drop.
    pub sign: char,
    /// The index as `schema.name`, unquoted (an advisor proposal gives its name only).
    pub object: String,
    /// The statements, in order; each runs on its own (none can run in a transaction).
    pub statements: Vec<String>,
    /// Why, in a few words, for the plan table.
    pub reason: String,
    /// The strongest lock the change takes and what it blocks, for the plan table.
    pub lock: &'static str,
    /// Estimated build time in seconds: the table's size over `build_bytes_per_second`; 0 for a
    /// drop or an advisor proposal.
    pub estimate_seconds: f64,
    /// The change drops an index (a swap drops the old one too): `apply` needs `--allow-drop` or a
    /// yes at the prompt.
    pub is_drop: bool,
}

/// Lookups built once, so a comparison is linear in the number of indexes.
pub(crate) struct IndexLookup<'a> {
    by_name: HashMap<(&'a str, &'a str), &'a Index>,
    by_table: HashMap<(&'a str, &'a str), Vec<&'a Index>>,
}

impl<'a> IndexLookup<'a> {
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

/// A relation name's hash, the same in every run (SipHash with fixed keys).
fn name_hash(schema: &str, name: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    (schema, name).hash(&mut h);
    h.finish()
}

/// Accumulates findings and changes; remembers what is dropped and which names are taken.
pub(crate) struct Plan<'a> {
    findings: Vec<Finding>,
    changes: Vec<Change>,
    dropped: HashSet<String>,
    live: &'a Catalog,
    /// `(schema, name)` of every live index and of every name this plan creates, as hashes
    /// ([`name_hash`]): a collision only makes a free name look taken, and the next suffix is
    /// tried. (180,000 names at 40,000 indexes, held as strings, cost 13 MB and a tenth of a
    /// second.)
    taken: HashSet<u64>,
    /// Live indexes this plan swaps for the migrations' definition.
    replaced: HashSet<String>,
}

impl Plan<'_> {
    fn drop(
        &mut self,
        have: &Index,
        rule: &'static str,
        severity: Severity,
        message: String,
        reason: String,
    ) {
        let protected = have.protected_because();
        let help = match &protected {
            Some(why) => format!("plan never drops it: {why}; add it to a migration"),
            None => {
                "drop it (needs --allow-drop or a yes at the prompt), or keep it in a migration"
                    .into()
            }
        };
        self.findings.push(Finding {
            rule,
            severity,
            object: have.qualified(),
            message,
            help,
        });
        if protected.is_none() && self.dropped.insert(have.qualified()) {
            let (statement, lock) = drop_index(have);
            self.changes.push(Change {
                rule,
                sign: '-',
                object: have.qualified(),
                statements: vec![statement],
                reason,
                lock,
                estimate_seconds: 0.0,
                is_drop: true,
            });
        }
    }

    /// A drop, unless the migrations define the index: then the migrations would build it
    /// again, so the finding is a note saying which migration to write (plan converges).
    fn drop_unless_defined(
        &mut self,
        have: &Index,
        defined: bool,
        rule: &'static str,
        (severity, message, reason): (Severity, String, String),
    ) {
        if !defined {
            return self.drop(have, rule, severity, message, reason);
        }
        self.findings.push(Finding {
            rule,
            severity: Severity::Note,
            object: have.qualified(),
            message: format!("{message}; the migrations create it, so plan does not drop it"),
            help: format!(
                "to drop it, add a migration (`pgwarden migrate new drop_index`) holding `{};`",
                drop_index(have).0
            ),
        });
        self.dropped.insert(have.qualified());
    }

    fn is_dropped(&self, ix: &Index) -> bool {
        self.dropped.contains(&ix.qualified())
    }
}

/// Findings and the plan that fixes them, with the primary's index scans only.
pub fn compare(
    desired: &Catalog,
    live: &Catalog,
    settings: &DiffSettings,
) -> (Vec<Finding>, Vec<Change>) {
    compare_with_replicas(desired, live, &[], settings)
}

/// Findings and the plan that fixes them. An index is unused only when no server (the primary
/// and every replica in `replicas`) has scanned it and every one has watched long enough; a
/// replica that could not be read makes it unknown (a note, no drop).
pub fn compare_with_replicas<'a>(
    desired: &'a Catalog,
    live: &'a Catalog,
    replicas: &[ServerUsage],
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
    let (want_ix, live_ix) = (IndexLookup::new(desired), IndexLookup::new(live));
    let mut plan = Plan {
        findings: Vec::new(),
        changes: Vec::new(),
        dropped: HashSet::new(),
        replaced: HashSet::new(),
        live,
        taken: live
            .indexes
            .iter()
            .map(|i| (i.schema.as_str(), i.name.as_str()))
            .chain(
                live.attached
                    .iter()
                    .map(|a| (a.schema.as_str(), a.name.as_str())),
            )
            .chain(
                live.relation_names
                    .iter()
                    .map(|(s, n)| (s.as_str(), n.as_str())),
            )
            // The migrations' own names too: a name this plan makes up must not be one that
            // a later replay of the migrations creates.
            .chain(
                desired
                    .relation_names
                    .iter()
                    .map(|(s, n)| (s.as_str(), n.as_str())),
            )
            .chain(
                desired
                    .indexes
                    .iter()
                    .map(|i| (i.schema.as_str(), i.name.as_str())),
            )
            .map(|(schema, name)| name_hash(schema, name))
            .collect(),
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
            want_ix.get(have),
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
            "index {} is in the database but in no migration{}",
            have.qualified(),
            usage::replica_scans_note(have, replicas)
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
        let defined = want_ix.get(have).is_some();
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
            let reason = format!("duplicate of {}", twin.qualified());
            let finding = (Severity::Warning, message, reason);
            plan.drop_unless_defined(have, defined, rules::DUPLICATE_INDEX, finding);
        } else if let Some(wider) = redundant_with(have, siblings) {
            let message = format!(
                "index {} is a leading prefix of {}",
                have.qualified(),
                wider.qualified()
            );
            let reason = format!("{} serves the same queries", wider.qualified());
            let finding = (Severity::Warning, message, reason);
            plan.drop_unless_defined(have, defined, rules::REDUNDANT_INDEX, finding);
        } else {
            usage::unused(&mut plan, have, defined, replicas, settings);
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
    fk_findings(&want_ix, live, &live_ix, &mut plan, &estimate);
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
