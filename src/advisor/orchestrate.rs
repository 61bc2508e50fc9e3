//! The advisor's decisions, over any [`Prover`]: which over-budget queries get candidates,
//! what a lab's measurements mean (at least 10% faster or it is noise; a ratio carried over to
//! live times), each candidate's write overhead, which are proposed under which free names, and
//! what is reported. No database I/O but through the prover; what it needs of the target's
//! catalog comes as a [`TargetCatalog`] read beforehand.

use super::candidates::{self, IndexCandidate, Method};
use super::error::AdviseError;
use super::prove::{Baseline, CostUnit, Placement, Prover};
use super::select::{self, CandidateEffect, Limits, QueryCost};
use super::target::TargetCatalog;
use super::written::proposal;
use super::{Advice, QueryOutcome, Rejected, shape};
use crate::policy::{Policy, bind_literals};
use std::collections::HashSet;

/// Estimated index maintenance per written row, ms (btree, GIN). Rough, documented constants:
/// they only need to separate a hot table from a quiet one.
const BTREE_WRITE_MS: f64 = 0.01;
const GIN_WRITE_MS: f64 = 0.05;

/// A candidate's measured effect.
#[derive(Debug, Clone, PartialEq)]
struct Effect {
    size_bytes: i64,
    /// Per workload query (policy order): the live time with this index, `None` if no better.
    after_ms: Vec<Option<f64>>,
    /// Why it could not be evaluated, if so.
    unproven: Option<String>,
}

/// The candidates for the over-budget queries.
struct Found {
    candidates: Vec<IndexCandidate>,
    /// `relevant[k][i]`: candidate `k` came from query `i`.
    relevant: Vec<Vec<bool>>,
    /// Per query: why it was not analysed, if so.
    notes: Vec<Option<String>>,
}

/// Runs the advisor: times the workload, proves each over-budget query's candidates in
/// `prover`, and chooses across the workload within `limits`. `target` is what the target's
/// catalog holds; every candidate the prover places is removed before the next is placed.
pub fn advise_with<P: Prover + ?Sized>(
    prover: &mut P,
    target: &TargetCatalog,
    policy: &Policy,
    limits: Limits,
) -> Result<Advice, AdviseError> {
    let before = prover.baselines(policy)?;
    if before.len() != policy.queries.len() {
        return Err(AdviseError::Incomplete {
            timed: before.len(),
            total: policy.queries.len(),
        });
    }
    let found = find_candidates(policy, target, &before)?;
    prover.prepare(policy, &found.candidates)?;
    let (effects, mut rejected) = prove_all(prover, target, policy, &found, &before)?;
    let queries = query_costs(policy, &before);
    let cands = &found.candidates;
    let tables: Vec<String> = cands.iter().map(|c| c.table.clone()).collect();
    let proven: Vec<CandidateEffect> = effects
        .iter()
        .filter(|e| !rejected.iter().any(|r| r.ddl == cands[e.id].ddl(true)))
        .cloned()
        .collect();
    let selection = select::select(&queries, &proven, &tables, limits);
    let mut taken = target.relation_names.clone();
    let proposals = selection
        .chosen
        .iter()
        .map(|&k| {
            let mut p = proposal(&cands[k], &effects[k], &queries);
            // The name must be free among the target's relations and the other proposals, or
            // `IF NOT EXISTS` would silently build nothing.
            p.name = crate::escape::free_name(&p.name, |name| taken.insert(name.to_string()));
            p.ddl = cands[k].ddl_as(true, &p.name);
            p
        })
        .collect();
    rejected.extend(selection.rejected.iter().map(|r| Rejected {
        ddl: cands[r.id].ddl(true),
        reason: r.reason.clone(),
    }));
    Ok(Advice {
        // Asked last: how a lab proved the candidates may depend on them (a sample started).
        evaluation: prover.evaluation(),
        queries: outcomes(&queries, &selection.after_ms, found.notes),
        proposals,
        rejected,
    })
}

/// Proves every candidate, with its write overhead from its table's write rate; those the lab
/// could not model come back rejected too.
fn prove_all<P: Prover + ?Sized>(
    prover: &mut P,
    target: &TargetCatalog,
    policy: &Policy,
    found: &Found,
    before: &[Baseline],
) -> Result<(Vec<CandidateEffect>, Vec<Rejected>), AdviseError> {
    let mut effects = Vec::new();
    let mut rejected = Vec::new();
    for (c, relevant) in found.candidates.iter().zip(&found.relevant) {
        tracing::info!(candidate = %c.name(), "evaluating");
        let effect = prove(prover, policy, c, relevant, before)?;
        if let Some(why) = effect.unproven {
            rejected.push(Rejected {
                ddl: c.ddl(true),
                reason: why,
            });
        }
        let per_row = if c.method == Method::Gin {
            GIN_WRITE_MS
        } else {
            BTREE_WRITE_MS
        };
        effects.push(CandidateEffect {
            id: effects.len(),
            size_bytes: effect.size_bytes,
            write_cost_ms_per_min: target.write_rates.get(&c.table).copied().unwrap_or(0.0)
                * per_row,
            after_ms: effect.after_ms,
        });
    }
    Ok((effects, rejected))
}

/// The candidates from each over-budget query's shape, each once, with the queries it came
/// from; a query whose shape cannot be read gets a note instead.
fn find_candidates(
    policy: &Policy,
    target: &TargetCatalog,
    before: &[Baseline],
) -> Result<Found, AdviseError> {
    let mut found = Found {
        candidates: Vec::new(),
        relevant: Vec::new(),
        notes: vec![None; policy.queries.len()],
    };
    let mut shapes = Vec::new();
    for q in &policy.queries {
        let sql = q
            .params
            .first()
            .map_or_else(|| Ok(q.sql.clone()), |p| bind_literals(&q.sql, p))?;
        shapes.push(shape::shape(&sql, &target.columns));
    }
    // jsonb columns the workload tests for key existence: GIN there keeps `jsonb_ops`.
    let key_exists: HashSet<(String, String)> = shapes
        .iter()
        .flatten()
        .flat_map(|s| &s.uses)
        .filter(|u| u.usage == shape::Use::KeyExists)
        .map(|u| (u.table.clone(), u.column.clone()))
        .collect();
    for ((i, shape), b) in shapes.iter().enumerate().zip(before) {
        if !b.over {
            continue;
        }
        let shape = match shape {
            Ok(s) => s,
            Err(e) => {
                found.notes[i] = Some(format!("not analysed: {e}"));
                continue;
            }
        };
        let ctx = candidates::Context {
            existing: &target.existing,
            rare: target.rare_constants.get(i).map_or(&[][..], Vec::as_slice),
            types: &target.types,
            key_exists: &key_exists,
            default_collation_c: target.default_collation_c,
        };
        for c in candidates::candidates(shape, &ctx) {
            let k = match found.candidates.iter().position(|x| *x == c) {
                Some(k) => k,
                None => {
                    found.candidates.push(c);
                    found.relevant.push(vec![false; policy.queries.len()]);
                    found.candidates.len() - 1
                }
            };
            found.relevant[k][i] = true;
        }
    }
    Ok(found)
}

/// Proves one candidate: the relevant queries' costs without it, then with it in place; then
/// it is removed. A query counts as served only when at least 10% faster (less is noise); its
/// live time with the index is then what the lab's unit makes of the measurement.
fn prove<P: Prover + ?Sized>(
    prover: &mut P,
    policy: &Policy,
    candidate: &IndexCandidate,
    relevant: &[bool],
    before: &[Baseline],
) -> Result<Effect, AdviseError> {
    let without = prover.costs_without(policy, candidate, relevant)?;
    if let Placement::Unmodelled(why) = prover.place(candidate)? {
        return Ok(Effect {
            size_bytes: 0,
            after_ms: vec![None; relevant.len()],
            unproven: Some(why),
        });
    }
    let size_bytes = prover.size_bytes()?;
    // A query that costs nothing without the index cannot get faster with it.
    let measure: Vec<bool> = without.iter().map(|w| w.is_some_and(|w| w > 0.0)).collect();
    let with = prover.costs_with(policy, &measure)?;
    prover.remove()?;
    let unit = prover.unit();
    let after_ms = before
        .iter()
        .zip(without.iter().zip(&with))
        .map(|(live, costs)| match costs {
            (Some(w0), Some(w1)) if *w1 < w0 * 0.9 => Some(match unit {
                CostUnit::LiveMs => *w1,
                CostUnit::Ratio => live.mean_ms * w1 / w0,
            }),
            _ => None,
        })
        .collect();
    Ok(Effect {
        size_bytes,
        after_ms,
        unproven: None,
    })
}

/// The workload as the selection sees it.
fn query_costs(policy: &Policy, before: &[Baseline]) -> Vec<QueryCost> {
    policy
        .queries
        .iter()
        .zip(before)
        .map(|(q, b)| QueryCost {
            name: q.name.clone(),
            weight: q.weight.unwrap_or(1.0),
            budget_ms: policy.budget_for(q).mean_ms,
            before_ms: b.mean_ms,
        })
        .collect()
}

/// Each query before and after the chosen indexes, with its note.
fn outcomes(
    queries: &[QueryCost],
    after_ms: &[f64],
    notes: Vec<Option<String>>,
) -> Vec<QueryOutcome> {
    queries
        .iter()
        .zip(after_ms)
        .zip(notes)
        .map(|((q, after), note)| QueryOutcome {
            name: q.name.clone(),
            budget_ms: q.budget_ms,
            before_ms: q.before_ms,
            after_ms: *after,
            note,
        })
        .collect()
}
