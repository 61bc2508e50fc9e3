//! What the advisor writes down: a proposal with its evidence, and the proposals as a versioned
//! migration.

use super::candidates::IndexCandidate;
use super::cost::{WeightSource, WriteCost};
use super::select::QueryCost;
use super::{Advice, Proposal, QueryOutcome};

/// The proposal of `c`, whose lab times per query are `after_ms`, serving the queries `served`
/// in the chosen set; the time saved and share are filled in by the caller.
pub(super) fn proposal(
    c: &IndexCandidate,
    after_ms: &[Option<f64>],
    write_cost: WriteCost,
    queries: &[QueryCost],
    served: &[usize],
) -> Proposal {
    let why = after_ms
        .iter()
        .enumerate()
        .filter_map(|(q, a)| a.map(|a| (q, a)))
        .map(|(q, a)| {
            format!(
                "{}: {} -> {} (budget {})",
                queries[q].name,
                crate::units::ms(queries[q].before_ms),
                crate::units::ms(a),
                crate::units::ms(queries[q].budget_ms)
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
        serves: served.iter().map(|&q| queries[q].name.clone()).collect(),
        time_saved_ms_per_min: 0.0,
        gain_share_pct: 0.0,
        size_bytes: 0,
        write_overhead_ms_per_min: (write_cost.ms_per_min * 100.0).round() / 100.0,
        write_cost,
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
            "--   {} ({}; serves {} ({}% of the time saved); write overhead {}/min = {}): {}\n",
            comment(&p.name),
            crate::units::bytes(p.size_bytes as f64),
            comment(&p.serves.join(", ")),
            p.gain_share_pct,
            crate::units::ms(p.write_overhead_ms_per_min),
            comment(&p.write_cost.describe()),
            comment(&p.why)
        ));
        if let Some(note) = p.write_cost_note() {
            out.push_str(&format!("--     {}\n", comment(&note)));
        }
    }
    for q in &advice.queries {
        out.push_str(&format!(
            "--   query {}: {} calls/min ({})\n",
            comment(&q.name),
            format!("{:.2}", q.weight)
                .trim_end_matches('0')
                .trim_end_matches('.'),
            q.weight_source.describe()
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

/// Each query before and after the chosen indexes, with its weight and note.
pub(super) fn outcomes(
    queries: &(Vec<QueryCost>, Vec<WeightSource>),
    after_ms: &[f64],
    notes: Vec<Option<String>>,
) -> Vec<QueryOutcome> {
    let (costs, sources) = queries;
    costs
        .iter()
        .zip(sources)
        .zip(after_ms)
        .zip(notes)
        .map(|(((q, source), after), note)| QueryOutcome {
            name: q.name.clone(),
            budget_ms: q.budget_ms,
            before_ms: q.before_ms,
            after_ms: *after,
            weight: q.weight,
            weight_source: *source,
            note,
        })
        .collect()
}
