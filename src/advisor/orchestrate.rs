//! The advisor's decisions, over any [`Prover`]: which over-budget queries get candidates,
//! what a lab's measurements mean (at least 10% faster or it is noise; a ratio carried over to
//! live times), each candidate's write cost (the table's write rate, sampled or from the policy,
//! times the maintenance per row the lab timed), each query's weight, which candidates are
//! proposed under which free names, and what is reported. No database I/O but through the
//! prover; what it needs of the target's catalog comes as a [`TargetCatalog`] read beforehand.

use super::candidates::{self, IndexCandidate};
use super::cost::{self, Maintenance, WeightSource, WriteCost, WriteCounters, WriteRate};
use super::error::AdviseError;
use super::prove::{Baseline, CostUnit, Placement, Prover};
use super::select::{self, CandidateEffect, Limits, QueryCost, Selection};
use super::target::TargetCatalog;
use super::written::{outcomes, proposal};
use super::{Advice, Proposal, Rejected, shape};
use crate::policy::{Policy, bind_literals};
use std::collections::{HashMap, HashSet};

/// A candidate's measured effect.
#[derive(Debug, Clone, PartialEq)]
struct Effect {
    size_bytes: i64,
    /// Per workload query (policy order): the live time with this index, `None` if no better.
    after_ms: Vec<Option<f64>>,
    /// Its maintenance per written row; `None` when it could not be placed.
    maintenance: Option<Maintenance>,
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
/// `prover`, samples the tables' write rates meanwhile, and chooses across the workload within
/// `limits`. `target` is what the target's catalog holds; every candidate the prover places is
/// removed before the next is placed.
pub fn advise_with<P: Prover + ?Sized>(
    prover: &mut P,
    target: &TargetCatalog,
    policy: &Policy,
    limits: Limits,
) -> Result<Advice, AdviseError> {
    known_tables(policy, target)?;
    let before = prover.baselines(policy)?;
    if before.len() != policy.queries.len() {
        return Err(AdviseError::Incomplete {
            timed: before.len(),
            total: policy.queries.len(),
        });
    }
    let queries = query_costs(policy, &before, prover)?;
    let found = find_candidates(policy, target, &before)?;
    prover.prepare(policy, &found.candidates)?;
    let first = start_sample(prover, policy, &found.candidates)?;
    let (effects, mut rejected) = prove_all(prover, policy, &found, &before)?;
    let rates = write_rates(prover, policy, first)?;
    let cands = &found.candidates;
    let costs: Vec<Option<WriteCost>> = effects
        .iter()
        .zip(cands)
        .map(|(e, c)| write_cost(e, rates.get(&c.table).copied()))
        .collect();
    let proven: Vec<CandidateEffect> = effects
        .iter()
        .enumerate()
        .filter_map(|(k, e)| Some(candidate_effect(k, cands, e, costs[k].as_ref()?)))
        .collect();
    let selection = select::select(&queries.0, &proven, limits);
    let proposals = proposals(cands, &effects, &costs, &queries.0, &selection, target);
    rejected.extend(selection.rejected.iter().map(|r| Rejected {
        ddl: cands[r.id].ddl(true),
        reason: match r.covered_by {
            Some(j) => format!("{} ({})", r.reason, cands[j].name()),
            None => r.reason.clone(),
        },
    }));
    Ok(Advice {
        // Asked last: how a lab proved the candidates may depend on them (a sample started).
        evaluation: prover.evaluation(),
        queries: outcomes(&queries, &selection.after_ms, found.notes),
        proposals,
        rejected,
    })
}

/// Every table `[advise.writes_per_min]` names is a table the advisor sees.
fn known_tables(policy: &Policy, target: &TargetCatalog) -> Result<(), AdviseError> {
    match policy
        .advise
        .writes_per_min
        .keys()
        .find(|t| !target.columns.contains_key(*t))
    {
        Some(table) => Err(AdviseError::UnknownWriteTable(table.clone())),
        None => Ok(()),
    }
}

/// The workload as the selection sees it, with where each weight came from: the policy's
/// `weight`, else pg_stat_statements' calls per minute (asked only when some query has no
/// weight), else 1.
fn query_costs<P: Prover + ?Sized>(
    policy: &Policy,
    before: &[Baseline],
    prover: &mut P,
) -> Result<(Vec<QueryCost>, Vec<WeightSource>), AdviseError> {
    let stats = if policy.queries.iter().any(|q| q.weight.is_none()) {
        prover.calls_per_min(policy)?
    } else {
        Vec::new()
    };
    Ok(policy
        .queries
        .iter()
        .zip(before)
        .enumerate()
        .map(|(i, (q, b))| {
            let (weight, source) = cost::weight(q.weight, stats.get(i).copied().flatten());
            let cost = QueryCost {
                name: q.name.clone(),
                weight,
                budget_ms: policy.budget_for(q).mean_ms,
                before_ms: b.mean_ms,
            };
            (cost, source)
        })
        .unzip())
}

/// The first read of the write counters, when some candidate's table has no rate in the
/// policy and sampling is on: the sample runs while the candidates are proven.
fn start_sample<P: Prover + ?Sized>(
    prover: &mut P,
    policy: &Policy,
    candidates: &[IndexCandidate],
) -> Result<Option<WriteCounters>, AdviseError> {
    let given = &policy.advise.writes_per_min;
    if policy.advise.write_sample_seconds == 0
        || candidates.iter().all(|c| given.contains_key(&c.table))
    {
        return Ok(None);
    }
    prover.write_counters().map(Some)
}

/// Each table's write rate: the policy's where given, else the delta since `first` over at
/// least `write_sample_seconds` (waiting out what proving did not take), never counters since
/// a statistics reset.
fn write_rates<P: Prover + ?Sized>(
    prover: &mut P,
    policy: &Policy,
    first: Option<WriteCounters>,
) -> Result<HashMap<String, WriteRate>, AdviseError> {
    let mut rates = HashMap::new();
    if let Some(first) = first {
        let wanted = std::time::Duration::from_secs(policy.advise.write_sample_seconds);
        if let Some(rest) = wanted.checked_sub(first.at.elapsed()) {
            std::thread::sleep(rest);
        }
        rates = cost::sampled_rates(&first, &prover.write_counters()?);
    }
    for (table, rows) in &policy.advise.writes_per_min {
        let rate = WriteRate {
            rows_per_min: *rows,
            source: cost::RateSource::Policy,
        };
        rates.insert(table.clone(), rate);
    }
    Ok(rates)
}

/// A proven candidate's write cost from its table's rate; `None` when it was not placed.
fn write_cost(e: &Effect, rate: Option<WriteRate>) -> Option<WriteCost> {
    let maintenance = e.maintenance.clone()?;
    let write_rate = rate.unwrap_or(WriteRate::NONE);
    Some(WriteCost {
        ms_per_min: write_rate.rows_per_min * maintenance.ms_per_row,
        write_rate,
        maintenance,
    })
}

/// Candidate `k` as the selection sees it.
fn candidate_effect(
    k: usize,
    cands: &[IndexCandidate],
    e: &Effect,
    cost: &WriteCost,
) -> CandidateEffect {
    CandidateEffect {
        id: k,
        table: cands[k].table.clone(),
        prefix_of: (0..cands.len())
            .filter(|&j| j != k && cands[k].key_is_prefix_of(&cands[j]))
            .collect(),
        size_bytes: e.size_bytes,
        write_cost_ms_per_min: cost.ms_per_min,
        after_ms: e.after_ms.clone(),
    }
}

/// The chosen candidates as proposals, under names free among the target's relations and
/// each other, each with the queries it serves in the chosen set and its share of the gain.
fn proposals(
    cands: &[IndexCandidate],
    effects: &[Effect],
    costs: &[Option<WriteCost>],
    queries: &[QueryCost],
    selection: &Selection,
    target: &TargetCatalog,
) -> Vec<Proposal> {
    let gains: Vec<f64> = queries
        .iter()
        .zip(&selection.after_ms)
        .map(|(q, after)| q.weight * (q.before_ms - after).max(0.0))
        .collect();
    let total: f64 = gains.iter().sum();
    let mut taken = target.relation_names.clone();
    let mut out = Vec::new();
    for &k in &selection.chosen {
        let Some(cost) = costs[k].clone() else {
            continue;
        };
        let served: Vec<usize> = (0..queries.len())
            .filter(|&q| selection.served_by[q] == Some(k))
            .collect();
        let saved: f64 = served.iter().map(|&q| gains[q]).sum();
        let share = if total > 0.0 {
            saved / total * 100.0
        } else {
            0.0
        };
        let mut p = proposal(&cands[k], &effects[k].after_ms, cost, queries, &served);
        p.size_bytes = effects[k].size_bytes;
        p.time_saved_ms_per_min = (saved * 100.0).round() / 100.0;
        p.gain_share_pct = (share * 10.0).round() / 10.0;
        // The name must be free among the target's relations and the other proposals, or
        // `IF NOT EXISTS` would silently build nothing.
        p.name = crate::escape::free_name(&p.name, |name| taken.insert(name.to_string()));
        p.ddl = cands[k].ddl_as(true, &p.name);
        out.push(p);
    }
    out
}

/// Proves every candidate; those the lab could not model come back rejected too.
fn prove_all<P: Prover + ?Sized>(
    prover: &mut P,
    policy: &Policy,
    found: &Found,
    before: &[Baseline],
) -> Result<(Vec<Effect>, Vec<Rejected>), AdviseError> {
    let mut effects = Vec::new();
    let mut rejected = Vec::new();
    for (c, relevant) in found.candidates.iter().zip(&found.relevant) {
        tracing::info!(candidate = %c.name(), "evaluating");
        match prove(prover, policy, c, relevant, before)? {
            Ok(effect) => effects.push(effect),
            Err(why) => {
                rejected.push(Rejected {
                    ddl: c.ddl(true),
                    reason: why,
                });
                effects.push(Effect {
                    size_bytes: 0,
                    after_ms: vec![None; relevant.len()],
                    maintenance: None,
                });
            }
        }
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
            if target.partitioned.contains(&c.table) {
                found.notes[i] = Some(format!(
                    "not advised: {} is partitioned, and PostgreSQL cannot build an index on it concurrently; list the index in [plan] required_indexes and run `pgwarden plan`, which builds it on each partition and attaches it",
                    crate::escape::inline(&c.table)
                ));
                continue;
            }
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
/// it is removed and its maintenance per row timed. A query counts as served only when at
/// least 10% faster (less is noise); its live time with the index is then what the lab's unit
/// makes of the measurement. `Err(why)` when the lab cannot model it.
fn prove<P: Prover + ?Sized>(
    prover: &mut P,
    policy: &Policy,
    candidate: &IndexCandidate,
    relevant: &[bool],
    before: &[Baseline],
) -> Result<Result<Effect, String>, AdviseError> {
    let without = prover.costs_without(policy, candidate, relevant)?;
    if let Placement::Unmodelled(why) = prover.place(candidate)? {
        return Ok(Err(why));
    }
    let size_bytes = prover.size_bytes()?;
    // A query that costs nothing without the index cannot get faster with it.
    let measure: Vec<bool> = without.iter().map(|w| w.is_some_and(|w| w > 0.0)).collect();
    let with = prover.costs_with(policy, &measure)?;
    prover.remove()?;
    let maintenance = prover.maintenance(candidate)?;
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
    Ok(Ok(Effect {
        size_bytes,
        after_ms,
        maintenance: Some(maintenance),
    }))
}
