//! The change builders: one per rule, each adding its finding and the change that fixes it.

use super::{Change, IndexLookup, Plan, SUE, drop_index, qualified};
use crate::catalog::{Catalog, Index};
use crate::escape::ident as quote_ident;
use crate::finding::{self as rules, Finding, Severity};
use std::collections::HashSet;

pub(super) fn missing(plan: &mut Plan, want: &Index, estimate_seconds: f64) {
    let squatted = plan
        .live
        .relation_names
        .iter()
        .any(|(s, n)| *s == want.schema && *n == want.name);
    if squatted {
        // Another relation (a table, a view, ...) has the name: a build would be skipped by
        // IF NOT EXISTS or refused; only a person can choose which name to change.
        plan.findings.push(Finding {
            rule: rules::MISSING_INDEX,
            severity: Severity::Error,
            object: want.qualified(),
            message: format!(
                "index {} is in the migrations but not in the database, where another relation has its name",
                want.qualified()
            ),
            help: "rename that relation, or give the index another name in a new migration".into(),
        });
        return;
    }
    plan.findings.push(Finding {
        rule: rules::MISSING_INDEX,
        severity: Severity::Error,
        object: want.qualified(),
        message: format!("index {} is in the migrations but not in the database", want.qualified()),
        help: "build it concurrently (plan/apply), or find out why the migration that creates it did not".into(),
    });
    if want.constraint.is_none() {
        let statements = plan.build(want, &want.name, (&want.schema, &want.table));
        plan.changes.push(Change {
            rule: rules::MISSING_INDEX,
            sign: '+',
            object: want.qualified(),
            statements,
            reason: "in the migrations, missing in the database".into(),
            lock: SUE,
            estimate_seconds,
            is_drop: false,
        });
    }
}

pub(super) fn differs(plan: &mut Plan, have: &Index, want: &Index, estimate_seconds: f64) {
    plan.findings.push(Finding {
        rule: rules::INDEX_DEFINITION_DIFFERS,
        severity: Severity::Error,
        object: have.qualified(),
        message: format!("index {} differs from the migrations, which define `{}`", have.qualified(), want.definition),
        help: "rebuild it from the migrations' definition (built under a temporary name, then swapped)".into(),
    });
    if have.constraint.is_none() {
        // Re-runnable end to end: a rerun after a failed drop finds the new index built, drops
        // the old one and renames; a rerun after the rename builds the new one again.
        let temp = plan.free_name(&have.schema, &format!("{}_pgw_new", have.name));
        plan.replaced.insert(have.qualified());
        let mut statements = plan.build(want, &temp, (&have.schema, &have.table));
        let (drop, lock) = drop_index(have);
        statements.push(drop);
        statements.push(format!(
            "ALTER INDEX IF EXISTS {} RENAME TO {}",
            qualified(&have.schema, &temp),
            quote_ident(&have.name)
        ));
        plan.changes.push(Change {
            rule: rules::INDEX_DEFINITION_DIFFERS,
            sign: '~',
            object: have.qualified(),
            statements,
            reason: "definition differs from the migrations; the new one is valid before the old one is dropped".into(),
            lock,
            estimate_seconds,
            // The old index is dropped: like any drop, it needs --allow-drop or a yes.
            is_drop: true,
        });
    }
}

pub(super) fn bloated(plan: &mut Plan, have: &Index, expected: i64, estimate_seconds: f64) {
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

/// Rebuild an INVALID index the migrations want (a partitioned one is completed: its missing
/// partitions' indexes built and attached); drop a leftover they do not know.
pub(super) fn invalid(plan: &mut Plan, have: &Index, want: Option<&Index>, estimate_seconds: f64) {
    let wanted = want.is_some();
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
    let (sign, statements, reason, lock) = match want {
        Some(want) if have.partitioned => (
            '~',
            plan.build(want, &have.name, (&have.schema, &have.table)),
            "a partitioned index waiting for its partitions' indexes: build and attach them",
            SUE,
        ),
        Some(_) => (
            '~',
            vec![format!("REINDEX INDEX CONCURRENTLY {name}")],
            "INVALID after a failed concurrent build",
            SUE,
        ),
        None => {
            let (drop, lock) = drop_index(have);
            (
                '-',
                vec![drop],
                "INVALID leftover of a failed build, in no migration",
                lock,
            )
        }
    };
    if !wanted {
        plan.dropped.insert(have.qualified());
    }
    plan.changes.push(Change {
        rule: rules::INVALID_INDEX,
        sign,
        object: have.qualified(),
        statements,
        reason: reason.into(),
        lock,
        estimate_seconds: if wanted { estimate_seconds } else { 0.0 },
        is_drop: !wanted,
    });
}

/// A plain btree whose key columns are a strict leading prefix of another btree's, with the same
/// predicate, and that backs no constraint.
pub(super) fn redundant_with<'a>(ix: &Index, siblings: &[&'a Index]) -> Option<&'a Index> {
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

/// A foreign key on a written table needs an index leading with its columns once the plan is
/// applied: a live index the plan keeps (not dropped, not swapped for another definition), or
/// one the migrations define (built or swapped in by this plan).
pub(super) fn fk_findings(
    want_ix: &IndexLookup,
    live: &Catalog,
    live_ix: &IndexLookup,
    plan: &mut Plan,
    estimate: &dyn Fn(&str, &str) -> f64,
) {
    let mut written: HashSet<(&str, &str)> = live
        .tables
        .iter()
        .filter(|t| t.writes > 0)
        .map(|t| (t.schema.as_str(), t.name.as_str()))
        .collect();
    // Rows are written to partitions: a partitioned table is written when one of them is
    // (its own foreign keys are the ones reported; the partitions' are clones).
    loop {
        let before = written.len();
        for p in &live.partitions {
            if written.contains(&(p.schema.as_str(), p.name.as_str())) {
                written.insert((p.parent_schema.as_str(), p.parent.as_str()));
            }
        }
        if written.len() == before {
            break;
        }
    }
    for fk in &live.foreign_keys {
        let serves = |ix: &&Index| ix.predicate.is_none() && ix.columns.starts_with(&fk.columns);
        let kept = live_ix.on_table(&fk.schema, &fk.table).iter().any(|ix| {
            ix.valid
                && !plan.is_dropped(ix)
                && !plan.replaced.contains(&ix.qualified())
                && serves(ix)
        });
        let wanted = want_ix.on_table(&fk.schema, &fk.table).iter().any(serves);
        let covered = kept || wanted;
        let written = written.contains(&(fk.schema.as_str(), fk.table.as_str()));
        if covered || !written {
            continue;
        }
        let mut base = format!("idx_{}_{}", fk.table, fk.columns.join("_"));
        base.retain(|c| c != '"');
        let name = plan.free_name(&fk.schema, &base);
        let partitioned = live
            .indexes
            .iter()
            .any(|i| i.schema == fk.schema && i.table == fk.table && i.partitioned)
            || live
                .partitions
                .iter()
                .any(|p| p.parent_schema == fk.schema && p.parent == fk.table);
        // The columns are already quoted (by PostgreSQL's quote_ident in the reader).
        let want = Index {
            schema: fk.schema.clone(),
            name: name.clone(),
            table: fk.table.clone(),
            definition: String::new(),
            tail: format!(" USING btree ({})", fk.columns.join(", ")),
            partitioned,
            method: "btree".into(),
            columns: fk.columns.clone(),
            predicate: None,
            unique: false,
            primary: false,
            constraint: None,
            valid: true,
            size_bytes: 0,
            scans: 0,
            key: String::new(),
            expected_bytes: None,
            replica_identity: false,
            referenced_by_foreign_key: false,
            oid: 0,
        };
        plan.findings.push(Finding {
            rule: rules::FK_WITHOUT_INDEX,
            severity: Severity::Warning,
            object: format!("{}.{}", fk.schema, fk.name),
            message: format!(
                "foreign key {} on {}.{} ({}) has no index: every delete or key update in {} scans {}",
                quote_ident(&fk.name), quote_ident(&fk.schema), quote_ident(&fk.table), fk.columns.join(", "), fk.referenced_table, quote_ident(&fk.table)
            ),
            help: format!("index {}.{} ({})", fk.schema, fk.table, fk.columns.join(", ")),
        });
        let statements = plan.build(&want, &name, (&fk.schema, &fk.table));
        plan.changes.push(Change {
            rule: rules::FK_WITHOUT_INDEX,
            sign: '+',
            object: format!("{}.{}", fk.schema, name),
            statements,
            reason: format!("supports foreign key {}", quote_ident(&fk.name)),
            lock: SUE,
            estimate_seconds: estimate(&fk.schema, &fk.table),
            is_drop: false,
        });
    }
}
