//! Choosing indexes across the whole workload, lexicographically: first the number of queries a
//! candidate brings under budget, then the weighted time it saves net of its write cost, then
//! its size (gains within 5%, or within the noise per call of the queries served, are a tie the
//! smaller index wins). Greedy: take the best candidate, repeat against the times with the
//! chosen set, stop when nothing is left that pays. Write cost never vetoes a candidate that
//! brings a query under budget (it is reported beside it) unless the policy's
//! `write_cost_veto` says so. Then prune: an index whose key columns lead a chosen index's and
//! that serves no query measurably better than it, and an index whose removal loses no budget
//! and that no longer makes any query measurably faster or no longer pays for its writes.
//! "Measurably faster" is at least 10% and 1 ms per call; less is noise. Pure.

use serde::Serialize;

/// A workload query as the selection sees it.
#[derive(Debug, Clone)]
pub struct QueryCost {
    /// The query's name in the policy.
    pub name: String,
    /// Calls per minute.
    pub weight: f64,
    /// Mean-time budget in ms (the p95 budget plays no part in the selection).
    pub budget_ms: f64,
    /// Mean time in ms on the live database without any candidate.
    pub before_ms: f64,
}

/// An evaluated candidate.
#[derive(Debug, Clone)]
pub struct CandidateEffect {
    /// Index of the candidate in the advisor's candidate list; rejections use it.
    pub id: usize,
    /// Its table, for the per-table limit.
    pub table: String,
    /// Ids of the candidates whose key columns this one's are a leading prefix of.
    pub prefix_of: Vec<usize>,
    /// Size in bytes, counted against `max_total_bytes`.
    pub size_bytes: i64,
    /// Index maintenance cost from the table's write rate, ms per minute.
    pub write_cost_ms_per_min: f64,
    /// Time of each query with this index alone (same order as the queries); `None` when the
    /// index does not change the query's plan.
    pub after_ms: Vec<Option<f64>>,
}

/// Why a candidate was not chosen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    /// Index of the rejected candidate.
    pub id: usize,
    /// Why it was not chosen, in the report's words.
    pub reason: String,
    /// The chosen candidate that serves its queries as well, when that is the reason.
    pub covered_by: Option<usize>,
}

/// The chosen candidates (in the order chosen) and the rejected ones with reasons.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Ids of the chosen candidates, in the order chosen (pruned ones removed).
    pub chosen: Vec<usize>,
    /// Every candidate not chosen, with why (pruned ones first).
    pub rejected: Vec<Rejection>,
    /// Each query's time with the chosen set (best of the chosen indexes).
    pub after_ms: Vec<f64>,
    /// Per query: the chosen candidate that gives it that time (the first chosen on a tie),
    /// `None` when no chosen index makes it faster.
    pub served_by: Vec<Option<usize>>,
}

/// Limits and rules from the policy.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// At most this many chosen indexes on one table.
    pub max_indexes_per_table: usize,
    /// At most this many bytes of chosen indexes in total (`i64::MAX` for no limit).
    pub max_total_bytes: i64,
    /// Reject a candidate whose write cost exceeds the time it saves even when it brings a
    /// query under budget (for write-heavy tables); by default write cost is only reported.
    pub write_cost_veto: bool,
}

impl Limits {
    /// The policy's `[advise]` limits, each overridden when given (flags).
    pub fn from_policy(
        policy: &crate::policy::AdvisePolicy,
        max_indexes_per_table: Option<usize>,
        max_total_mb: Option<f64>,
    ) -> Self {
        Self {
            max_indexes_per_table: max_indexes_per_table.unwrap_or(policy.max_indexes_per_table),
            max_total_bytes: max_total_mb
                .or(policy.max_total_mb)
                .map_or(i64::MAX, |mb| (mb * 1e6) as i64),
            write_cost_veto: policy.write_cost_veto,
        }
    }
}

/// A query made faster by less than this per call gives no reason for another index: below a
/// millisecond, differences between index variants are mostly noise, and never a budget matter.
const NOISE_MS: f64 = 1.0;

/// `after` is measurably faster than `now`: at least 10% and [`NOISE_MS`].
fn measurably_faster(after: f64, now: f64) -> bool {
    after < now * 0.9 && now - after >= NOISE_MS
}

/// Each query's time with `chosen` in place.
fn current_with(queries: &[QueryCost], chosen: &[&CandidateEffect]) -> Vec<f64> {
    queries
        .iter()
        .enumerate()
        .map(|(q, query)| {
            chosen
                .iter()
                .filter_map(|c| c.after_ms[q])
                .fold(query.before_ms, f64::min)
        })
        .collect()
}

/// What a candidate adds to the times `current`.
struct Score {
    newly_within: usize,
    /// Weighted time saved, ms per minute, counting only measurable gains.
    gain: f64,
    write: f64,
    /// Calls per minute of the queries this candidate speeds up.
    served_weight: f64,
    size: i64,
}

impl Score {
    fn net(&self) -> f64 {
        self.gain - self.write
    }
}

fn score(queries: &[QueryCost], current: &[f64], c: &CandidateEffect) -> Score {
    let mut s = Score {
        newly_within: 0,
        gain: 0.0,
        write: c.write_cost_ms_per_min,
        served_weight: 0.0,
        size: c.size_bytes,
    };
    for (q, query) in queries.iter().enumerate() {
        let now = current[q];
        if let Some(after) = c.after_ms[q].filter(|a| measurably_faster(*a, now)) {
            s.gain += query.weight * (now - after);
            s.served_weight += query.weight;
            if now > query.budget_ms && after <= query.budget_ms {
                s.newly_within += 1;
            }
        }
    }
    s
}

/// Whether a candidate scoring `s` may be chosen: it must make some query measurably faster;
/// one that brings a query under budget is taken whatever its write cost (unless `veto`), any
/// other must save more time than its writes cost.
fn pays(s: &Score, veto: bool) -> bool {
    if s.gain <= 0.0 {
        return false;
    }
    if s.newly_within > 0 {
        return !(veto && s.write > s.gain);
    }
    s.net() > 0.0
}

/// `a` better than `b`? Lexicographic: queries brought under budget, then net gain (within 5%,
/// or the noise per call of the queries served, is a tie: two timings of the same plan on a
/// busy server differ by that much), then the smaller size.
fn better(a: &Score, b: &Score) -> bool {
    if a.newly_within != b.newly_within {
        return a.newly_within > b.newly_within;
    }
    let scale = a.net().abs().max(b.net().abs()).max(1e-9);
    let noise = NOISE_MS * a.served_weight.max(b.served_weight);
    if (a.net() - b.net()).abs() > (0.05 * scale).max(noise) {
        return a.net() > b.net();
    }
    a.size < b.size
}

/// Whether `short`, whose key columns lead `long`'s, serves some query measurably better than
/// `long` does (a query `long` leaves alone counts at its time without either).
fn prefix_matters(queries: &[QueryCost], short: &CandidateEffect, long: &CandidateEffect) -> bool {
    queries.iter().enumerate().any(|(q, query)| {
        short.after_ms[q]
            .is_some_and(|s| measurably_faster(s, long.after_ms[q].unwrap_or(query.before_ms)))
    })
}

/// The chosen index `c`'s key columns lead, and that serves `c`'s queries as well.
fn covering(
    queries: &[QueryCost],
    chosen: &[&CandidateEffect],
    c: &CandidateEffect,
) -> Option<usize> {
    chosen
        .iter()
        .find(|x| x.id != c.id && c.prefix_of.contains(&x.id) && !prefix_matters(queries, c, x))
        .map(|x| x.id)
}

/// Greedy selection with pruning.
pub fn select(queries: &[QueryCost], candidates: &[CandidateEffect], limits: Limits) -> Selection {
    let mut chosen: Vec<&CandidateEffect> = Vec::new();
    while let Some(c) = next_choice(queries, candidates, &chosen, limits) {
        chosen.push(c);
    }
    let mut rejected = prune(queries, &mut chosen);
    let final_ms = current_with(queries, &chosen);
    let pruned: Vec<usize> = rejected.iter().map(|r| r.id).collect();
    for c in candidates
        .iter()
        .filter(|c| !chosen.iter().any(|x| x.id == c.id) && !pruned.contains(&c.id))
    {
        let covered_by = covering(queries, &chosen, c);
        let reason = not_chosen(queries, &final_ms, c, &chosen, limits, covered_by);
        rejected.push(Rejection {
            id: c.id,
            covered_by: covered_by.filter(|_| reason == PREFIX_REASON),
            reason,
        });
    }
    let served_by = queries
        .iter()
        .enumerate()
        .map(|(q, query)| {
            chosen
                .iter()
                .find(|c| c.after_ms[q].is_some_and(|a| a == final_ms[q] && a < query.before_ms))
                .map(|c| c.id)
        })
        .collect();
    Selection {
        chosen: chosen.iter().map(|c| c.id).collect(),
        rejected,
        after_ms: final_ms,
        served_by,
    }
}

/// The best candidate to add to `chosen`, if any pays within the limits.
fn next_choice<'a>(
    queries: &[QueryCost],
    candidates: &'a [CandidateEffect],
    chosen: &[&'a CandidateEffect],
    limits: Limits,
) -> Option<&'a CandidateEffect> {
    let current = current_with(queries, chosen);
    let total: i64 = chosen.iter().map(|c| c.size_bytes).sum();
    let mut best: Option<(&CandidateEffect, Score)> = None;
    for c in candidates
        .iter()
        .filter(|c| !chosen.iter().any(|x| x.id == c.id))
    {
        let on_table = chosen.iter().filter(|x| x.table == c.table).count();
        if on_table >= limits.max_indexes_per_table
            || total.saturating_add(c.size_bytes) > limits.max_total_bytes
            || covering(queries, chosen, c).is_some()
        {
            continue;
        }
        let s = score(queries, &current, c);
        if pays(&s, limits.write_cost_veto) && best.as_ref().is_none_or(|(_, b)| better(&s, b)) {
            best = Some((c, s));
        }
    }
    best.map(|(c, _)| c)
}

/// Drops, latest choice first, each chosen index that a longer chosen one makes redundant, or
/// whose removal loses no query's budget while it no longer makes any query measurably faster
/// or costs more in writes than the time it still saves. Returns the pruned ones.
fn prune(queries: &[QueryCost], chosen: &mut Vec<&CandidateEffect>) -> Vec<Rejection> {
    let mut rejected = Vec::new();
    let mut i = chosen.len();
    while i > 0 {
        i -= 1;
        let c = chosen[i];
        if let Some(long) = covering(queries, chosen, c) {
            rejected.push(Rejection {
                id: c.id,
                reason: PREFIX_REASON.into(),
                covered_by: Some(long),
            });
            chosen.remove(i);
            continue;
        }
        let without: Vec<&CandidateEffect> =
            chosen.iter().filter(|x| x.id != c.id).copied().collect();
        let without_ms = current_with(queries, &without);
        let with_ms = current_with(queries, chosen);
        let within = |ms: &[f64]| {
            queries
                .iter()
                .zip(ms)
                .filter(|(q, m)| **m <= q.budget_ms)
                .count()
        };
        let s = score(queries, &without_ms, c);
        if within(&without_ms) == within(&with_ms) && (s.gain <= 0.0 || s.net() <= 0.0) {
            rejected.push(Rejection {
                id: c.id,
                reason: "stopped paying once better indexes were chosen".into(),
                covered_by: None,
            });
            chosen.remove(i);
        }
    }
    rejected
}

const PREFIX_REASON: &str = "its key columns lead those of a chosen index that serves its queries as well (within 10% or 1 ms)";

/// Why `c` was not chosen, against the final times `final_ms` of `chosen`.
fn not_chosen(
    queries: &[QueryCost],
    final_ms: &[f64],
    c: &CandidateEffect,
    chosen: &[&CandidateEffect],
    limits: Limits,
    covered_by: Option<usize>,
) -> String {
    let s = score(queries, final_ms, c);
    let overhead = || {
        format!(
            "its write overhead ({}/min) exceeds the time it saves ({}/min)",
            crate::units::ms(s.write),
            crate::units::ms(s.gain)
        )
    };
    if c.after_ms.iter().all(Option::is_none) {
        "the planner does not use it for any workload query".to_string()
    } else if s.gain <= 0.0 && chosen.is_empty() {
        "no workload query gets 10% and 1 ms faster with it (smaller gains are noise)".to_string()
    } else if covered_by.is_some() {
        PREFIX_REASON.to_string()
    } else if s.gain <= 0.0 {
        "the chosen indexes already do as well or better".to_string()
    } else if s.newly_within > 0 && limits.write_cost_veto && s.write > s.gain {
        format!(
            "{} and the policy's write_cost_veto is on, though it would bring {} quer{} under budget",
            overhead(),
            s.newly_within,
            if s.newly_within == 1 { "y" } else { "ies" }
        )
    } else if s.newly_within == 0 && s.net() <= 0.0 {
        overhead()
    } else {
        "over the policy's limit on indexes per table or total size".to_string()
    }
}

#[cfg(test)]
mod tests;
