//! Proving candidates on a database. Materialized: on a shadow database (a copy, never the
//! target) each candidate is built for real, the queries it could serve are timed with and
//! without it (the same rolled-back EXPLAIN ANALYZE as `check`), and its size is read; then it
//! is dropped. Hypothetical: with HypoPG in the target, planner costs with and without each
//! candidate scale the measured time; HypoPG objects live only in this session.

use super::candidates::IndexCandidate;
use crate::check::{CheckMode, check_workload, explain_batch, param_sets};
use crate::db::{self, quote_ident};
use crate::explain::Verdict;
use crate::policy::{Policy, WorkloadQuery};
use postgres::Client;

/// Measured times of one query, ms, and whether it was over budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    pub mean_ms: f64,
    pub over: bool,
}

/// A candidate's measured effect.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    pub size_bytes: i64,
    /// Per workload query (policy order): the time with this index, `None` if no better.
    pub after_ms: Vec<Option<f64>>,
    /// Why it could not be evaluated, if so.
    pub unproven: Option<String>,
}

/// Times every workload query (as `check` does).
pub fn baselines(client: &mut Client, policy: &Policy) -> Result<Vec<Baseline>, String> {
    let checks = check_workload(client, policy, CheckMode::Analyze);
    checks
        .into_iter()
        .map(|c| match (c.error, c.verdict) {
            (Some(e), _) => Err(format!("query `{}`: {e}", c.name)),
            (None, Some(v)) => Ok(Baseline {
                mean_ms: v.mean_ms,
                over: v.verdict == Verdict::Over,
            }),
            (None, None) => Err(format!("query `{}` was not measured", c.name)),
        })
        .collect()
}

/// The policy restricted to the queries whose index (in `relevant`) is true.
fn sub_policy(policy: &Policy, relevant: &[bool]) -> Policy {
    let mut p = policy.clone();
    p.queries = policy
        .queries
        .iter()
        .zip(relevant)
        .filter(|(_, r)| **r)
        .map(|(q, _)| q.clone())
        .collect();
    p
}

/// The first `pgwarden_candidate_<n>` that names no relation in the search path.
const FREE_NAME: &str = "SELECT 'pgwarden_candidate_' || n FROM generate_series(1, 1000000) n \
     WHERE to_regclass(quote_ident('pgwarden_candidate_' || n)) IS NULL LIMIT 1";

/// Builds `candidate` on the shadow, times the relevant queries, reads the size, drops it.
pub fn materialized(
    shadow: &mut Client,
    policy: &Policy,
    candidate: &IndexCandidate,
    relevant: &[bool],
    before: &[Baseline],
) -> Result<Effect, String> {
    // A name no relation has: the candidate's own name may be taken by an index the shadow
    // already holds, which IF NOT EXISTS would measure and the drop below would remove.
    let name: String = shadow
        .query_one(FREE_NAME, &[])
        .map_err(|e| db::describe(&e))?
        .get(0);
    let ddl = candidate
        .ddl_as(false, &name)
        .replacen(" IF NOT EXISTS", "", 1);
    shadow.batch_execute(&ddl).map_err(|e| {
        format!(
            "building {} on the shadow: {}",
            candidate.name(),
            db::describe(&e)
        )
    })?;
    let size: i64 = shadow
        .query_one(
            "SELECT pg_relation_size(to_regclass($1))",
            &[&quote_ident(&name)],
        )
        .map_err(|e| db::describe(&e))?
        .get(0);
    let measured = check_workload(shadow, &sub_policy(policy, relevant), CheckMode::Analyze);
    let drop = format!("DROP INDEX IF EXISTS {}", quote_ident(&name));
    shadow.batch_execute(&drop).map_err(|e| db::describe(&e))?;
    let mut times = measured.into_iter();
    let after_ms = relevant
        .iter()
        .zip(before)
        .map(|(r, b)| {
            if !*r {
                return None;
            }
            let ms = times.next()?.verdict?.mean_ms;
            // Noise is not an improvement: count it only when at least 10% faster.
            (ms < b.mean_ms * 0.9).then_some(ms)
        })
        .collect();
    Ok(Effect {
        size_bytes: size,
        after_ms,
        unproven: None,
    })
}

/// Carries an effect measured on a sampled copy over to the live database: each time as the
/// live time scaled by the ratio the copy measured, the size by the table's live rows per
/// copied row. A ratio, not the copy's absolute time, because a sample makes every scan
/// faster, while what an index changes (a scan of all rows to a lookup of a few) survives.
pub fn to_live(
    effect: Effect,
    rows_per_copied: f64,
    live: &[Baseline],
    copy: &[Baseline],
) -> Effect {
    let after_ms = effect
        .after_ms
        .iter()
        .zip(live.iter().zip(copy))
        .map(|(after, (l, c))| {
            after.and_then(|a| (c.mean_ms > 0.0).then(|| l.mean_ms * a / c.mean_ms))
        })
        .collect();
    Effect {
        size_bytes: (effect.size_bytes as f64 * rows_per_copied) as i64,
        after_ms,
        unproven: effect.unproven,
    }
}

/// Whether HypoPG is installed in the connected database (never installed by pgwarden).
pub fn hypopg_available(client: &mut Client) -> bool {
    client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'hypopg')",
            &[],
        )
        .map(|r| r.get(0))
        .unwrap_or(false)
}

/// Mean planner cost over the query's parameter sets, planned the way `check` plans (one
/// rolled-back READ ONLY round trip); HypoPG's session indexes are visible there.
fn plan_cost(client: &mut Client, q: &WorkloadQuery) -> Result<f64, String> {
    let explains: Vec<String> = param_sets(q)?
        .iter()
        .map(|sql| format!("EXPLAIN (FORMAT JSON) {sql}"))
        .collect();
    let plans =
        explain_batch(client, q, 10_000, &explains)?.ok_or("planning took longer than 10 s")?;
    Ok(plans.iter().map(|e| e.plan.total_cost).sum::<f64>() / plans.len().max(1) as f64)
}

/// Evaluates `candidate` with HypoPG: the measured time scaled by the cost ratio.
pub fn hypothetical(
    client: &mut Client,
    policy: &Policy,
    candidate: &IndexCandidate,
    relevant: &[bool],
    before: &[Baseline],
) -> Result<Effect, String> {
    let mut costs_before = Vec::new();
    for (q, r) in policy.queries.iter().zip(relevant) {
        costs_before.push(if *r {
            Some(plan_cost(client, q)?)
        } else {
            None
        });
    }
    // Whatever the installed HypoPG cannot model (1.3 rejects GIN) is reported as unproven,
    // with HypoPG's own words, rather than assumed from a version number.
    let row = match client.query_one(
        "SELECT indexrelid, hypopg_relation_size(indexrelid) FROM hypopg_create_index($1)",
        &[&candidate.ddl(false)],
    ) {
        Ok(row) => row,
        Err(e) if db::sqlstate(&e).is_some() => {
            return Ok(Effect {
                size_bytes: 0,
                after_ms: vec![None; relevant.len()],
                unproven: Some(format!(
                    "the installed HypoPG cannot model it ({}); pass --throwaway or --shadow-url to prove it with a real build",
                    db::describe(&e)
                )),
            });
        }
        Err(e) => return Err(format!("hypopg: {}", db::describe(&e))),
    };
    let size: i64 = row.get(1);
    let mut after_ms = Vec::new();
    for ((q, cost), b) in policy.queries.iter().zip(&costs_before).zip(before) {
        after_ms.push(match cost {
            Some(c0) if *c0 > 0.0 => {
                let c1 = plan_cost(client, q)?;
                (c1 < c0 * 0.9).then_some(b.mean_ms * c1 / c0)
            }
            _ => None,
        });
    }
    client
        .batch_execute("SELECT hypopg_reset()")
        .map_err(|e| db::describe(&e))?;
    Ok(Effect {
        size_bytes: size,
        after_ms,
        unproven: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(ms: f64) -> Baseline {
        Baseline {
            mean_ms: ms,
            over: false,
        }
    }

    #[test]
    fn a_sampled_effect_is_carried_over_as_a_ratio() {
        // A 10% sample: a 100 ms live scan took 10 ms on the copy, 0.1 ms with the index.
        let effect = Effect {
            size_bytes: 1_000,
            after_ms: vec![Some(0.1), None],
            unproven: None,
        };
        let live = to_live(effect, 10.0, &[b(100.0), b(5.0)], &[b(10.0), b(0.5)]);
        assert_eq!(live.size_bytes, 10_000);
        assert!((live.after_ms[0].unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(live.after_ms[1], None);
    }
}
