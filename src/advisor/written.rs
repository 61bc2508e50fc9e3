//! What the advisor writes down: a proposal with its evidence, and the proposals as a versioned
//! migration.

use super::candidates::IndexCandidate;
use super::select::{CandidateEffect, QueryCost};
use super::{Advice, Proposal};

pub(super) fn proposal(c: &IndexCandidate, e: &CandidateEffect, queries: &[QueryCost]) -> Proposal {
    let served: Vec<(usize, f64)> = e
        .after_ms
        .iter()
        .enumerate()
        .filter_map(|(q, a)| a.map(|a| (q, a)))
        .collect();
    let why = served
        .iter()
        .map(|(q, a)| {
            format!(
                "{}: {} -> {} (budget {})",
                queries[*q].name,
                crate::units::ms(queries[*q].before_ms),
                crate::units::ms(*a),
                crate::units::ms(queries[*q].budget_ms)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Proposal {
        name: c.name(),
        table: c.table.clone(),
        method: c.method,
        columns: c.key_display(),
        ddl: c.ddl(true),
        serves: served
            .iter()
            .map(|(q, _)| queries[*q].name.clone())
            .collect(),
        size_bytes: e.size_bytes,
        write_overhead_ms_per_min: (e.write_cost_ms_per_min * 100.0).round() / 100.0,
        why,
    }
}

/// The proposals as a versioned migration: one concurrent build per statement, with the
/// evidence in a comment block.
pub fn migration_sql(advice: &Advice) -> String {
    use crate::escape::comment;
    let mut out = String::from("-- Written by `pgwarden advise`. Evidence (");
    out.push_str(&comment(&advice.evaluation));
    out.push_str("):\n");
    for p in &advice.proposals {
        out.push_str(&format!(
            "--   {} ({}, write overhead {}/min): {}\n",
            comment(&p.name),
            crate::units::bytes(p.size_bytes as f64),
            crate::units::ms(p.write_overhead_ms_per_min),
            comment(&p.why)
        ));
    }
    for r in &advice.rejected {
        out.push_str(&format!(
            "--   not proposed: {} -- {}\n",
            comment(&r.ddl),
            comment(&r.reason)
        ));
    }
    out.push('\n');
    for p in &advice.proposals {
        out.push_str(&p.ddl);
        out.push_str(";\n");
    }
    out
}
