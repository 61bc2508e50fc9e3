//! The lab on a copy. [`ShadowLab`]: on a shadow database (a copy, never the target) each
//! candidate is built for real, the queries it could serve are timed with it (the same
//! rolled-back EXPLAIN ANALYZE as `check`), and its size is read; then it is dropped. On a
//! sample, times and sizes are scaled up to the live table sizes. (HypoPG's lab is in
//! `hypothetical`.)

use super::candidates::IndexCandidate;
use super::cost::{Maintenance, WriteCounters};
use super::error::AdviseError;
use super::prove::{Baseline, CostUnit, Placement, Prover};
use super::{live, maintenance};
use crate::check::{CheckMode, check_workload};
use crate::db::{self, DbContext, DbError, quote_ident};
use crate::explain::Verdict;
use crate::policy::{Policy, WorkloadQuery};
use postgres::Client;
use std::collections::HashMap;

/// Times every workload query (as `check` does).
pub(super) fn baselines(
    client: &mut Client,
    policy: &Policy,
) -> Result<Vec<Baseline>, AdviseError> {
    let checks = check_workload(client, policy, CheckMode::Analyze);
    checks
        .into_iter()
        .map(|c| match (c.error, c.verdict) {
            (Some(reason), _) => Err(AdviseError::Unmeasured {
                query: c.name,
                reason,
            }),
            (None, Some(v)) => Ok(Baseline {
                mean_ms: v.mean_ms,
                over: v.verdict == Verdict::Over,
            }),
            (None, None) => Err(AdviseError::NotMeasured(c.name)),
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

/// Candidates a killed run left on the copy (only the lab names indexes so).
const LEFTOVERS: &str = "SELECT n.nspname::text, c.relname::text FROM pg_class c \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('i', 'I') AND c.relname ~ '^pgwarden_candidate_[0-9]+$'";

/// Drops the candidates an interrupted run left on the copy: timed with one of them in place,
/// a query would look already served.
fn drop_leftover_candidates(shadow: &mut Client) -> Result<(), AdviseError> {
    let found = shadow
        .query(LEFTOVERS, &[])
        .db_context(|| "cannot look for candidates a previous run left on the shadow")?;
    for row in found {
        let (schema, name): (String, String) = (row.get(0), row.get(1));
        let qualified = format!("{}.{}", quote_ident(&schema), quote_ident(&name));
        tracing::warn!(index = %qualified, "dropping a candidate an interrupted advise left on the shadow");
        shadow
            .batch_execute(&format!("DROP INDEX IF EXISTS {qualified}"))
            .db_context(|| {
                format!("cannot drop {qualified}, left on the shadow by an interrupted run")
            })?;
    }
    Ok(())
}

/// The connection to a copy: the caller's, or owned (a sample the advisor started itself).
pub enum ShadowClient<'a> {
    /// A connection the caller keeps.
    Borrowed(&'a mut Client),
    /// A connection the lab owns.
    Owned(Box<Client>),
}

impl ShadowClient<'_> {
    fn get(&mut self) -> &mut Client {
        match self {
            ShadowClient::Borrowed(c) => c,
            ShadowClient::Owned(c) => c,
        }
    }
}

/// A copy of the database (never the target) where candidates are built for real.
pub struct ShadowLab<'a> {
    /// The live database, timed only when the copy holds a sample; `None` when another lab
    /// times it (the sample then only answers for its own ratios).
    target: Option<&'a mut Client>,
    shadow: ShadowClient<'a>,
    label: String,
    /// Set when the copy holds a sample: table -> live rows per copied row, for each sampled
    /// table (tables copied whole are absent).
    sample: Option<HashMap<String, f64>>,
    /// The copy's own times of the workload, measured by `baselines`.
    on_copy: Vec<Baseline>,
    /// The live times of the workload (the copy's own when it holds every row).
    live: Vec<Baseline>,
    /// Per workload query: live rows per copied row of the most sampled table it reads (1 when
    /// the copy holds every row it reads).
    scale: Vec<f64>,
    /// The candidate built on the shadow: its name there and its table.
    placed: Option<(String, String)>,
}

impl<'a> ShadowLab<'a> {
    /// A lab on `shadow`, named `label` in the report; `sample` as in [`super::Lab::Shadow`].
    pub fn new(
        target: Option<&'a mut Client>,
        shadow: ShadowClient<'a>,
        label: String,
        sample: Option<HashMap<String, f64>>,
    ) -> Self {
        Self {
            target,
            shadow,
            label,
            sample,
            on_copy: Vec::new(),
            live: Vec::new(),
            scale: Vec::new(),
            placed: None,
        }
    }

    /// The live times, when another lab measured them (a copy started without the target).
    pub fn set_live(&mut self, live: Vec<Baseline>) {
        self.live = live;
    }
}

/// Live rows per copied row of the most sampled table `q` reads: a query's work with an index
/// grows with the rows it matches, which a uniform sample holds that share of. A query whose
/// tables cannot be read gets the largest factor of any sampled table.
fn scale_of(q: &WorkloadQuery, sample: Option<&HashMap<String, f64>>) -> f64 {
    let Some(shares) = sample.filter(|s| !s.is_empty()) else {
        return 1.0;
    };
    let largest = shares.values().copied().fold(1.0, f64::max);
    let sql = q
        .params
        .first()
        .and_then(|p| crate::policy::bind_literals(&q.sql, p).ok())
        .unwrap_or_else(|| q.sql.clone());
    match super::shape::shape(&sql, &HashMap::new()) {
        Ok(shape) => shape
            .tables
            .iter()
            .map(|t| shares.get(t).copied().unwrap_or(1.0))
            .fold(1.0, f64::max),
        Err(_) => largest,
    }
}

impl Prover for ShadowLab<'_> {
    fn evaluation(&self) -> String {
        match &self.sample {
            Some(s) if !s.is_empty() => format!(
                "materialized on {}; each query's time with an index is its time on the sample scaled up by its most sampled table's live rows per copied row, sizes likewise",
                self.label
            ),
            _ => format!("materialized on {}", self.label),
        }
    }

    /// Live milliseconds: times on a sample are scaled up to the live table sizes.
    fn unit(&self) -> CostUnit {
        CostUnit::LiveMs
    }

    /// The live times: the copy's own when it holds every row, else the target's (the copy's
    /// are kept too).
    fn baselines(&mut self, policy: &Policy) -> Result<Vec<Baseline>, AdviseError> {
        drop_leftover_candidates(self.shadow.get())?;
        self.on_copy = baselines(self.shadow.get(), policy)?;
        self.scale = policy
            .queries
            .iter()
            .map(|q| scale_of(q, self.sample.as_ref()))
            .collect();
        self.live = match (&self.sample, self.target.as_deref_mut()) {
            (Some(_), Some(target)) => baselines(target, policy)?,
            _ => self.on_copy.clone(),
        };
        Ok(self.live.clone())
    }

    /// The live times: what a time with the candidate, scaled to the live sizes, compares with.
    fn costs_without(
        &mut self,
        _policy: &Policy,
        _candidate: &IndexCandidate,
        measure: &[bool],
    ) -> Result<Vec<Option<f64>>, AdviseError> {
        Ok(measure
            .iter()
            .zip(&self.live)
            .map(|(m, b)| m.then_some(b.mean_ms))
            .collect())
    }

    fn place(&mut self, candidate: &IndexCandidate) -> Result<Placement, AdviseError> {
        // A name no relation has: the candidate's own name may be taken by an index the shadow
        // already holds, which IF NOT EXISTS would measure and the drop would remove.
        let name: String = self
            .shadow
            .get()
            .query_one(FREE_NAME, &[])
            .db_context(|| "cannot find a free index name on the shadow")?
            .get(0);
        let ddl = candidate
            .ddl_as(false, &name)
            .replacen(" IF NOT EXISTS", "", 1);
        match self.shadow.get().batch_execute(&ddl) {
            Ok(()) => {}
            // The server refused the definition (a function that is not IMMUTABLE, an
            // operator class the type lacks): this candidate cannot exist, the others can.
            Err(e) if e.code().is_some() => {
                return Ok(Placement::Unmodelled(format!(
                    "the server cannot build it ({})",
                    db::describe(&e)
                )));
            }
            Err(e) => {
                return Err(DbError::new(
                    format!("building {} on the shadow", candidate.name()),
                    e,
                )
                .into());
            }
        }
        self.placed = Some((name, candidate.table.clone()));
        Ok(Placement::Placed)
    }

    /// The size on the copy; on a sample, scaled by the table's live rows per copied row.
    fn size_bytes(&mut self) -> Result<i64, AdviseError> {
        let (name, table) = self.placed.as_ref().ok_or(AdviseError::NothingPlaced)?;
        let size: i64 = self
            .shadow
            .get()
            .query_one(
                "SELECT pg_relation_size(to_regclass($1))",
                &[&quote_ident(name)],
            )
            .db_context(|| format!("cannot read the size of {name} on the shadow"))?
            .get(0);
        Ok(live_size(size, self.sample.as_ref(), table))
    }

    /// Times on the copy with the candidate, scaled up to the live sizes on a sample.
    fn costs_with(
        &mut self,
        policy: &Policy,
        measure: &[bool],
    ) -> Result<Vec<Option<f64>>, AdviseError> {
        let measured = check_workload(
            self.shadow.get(),
            &sub_policy(policy, measure),
            CheckMode::Analyze,
        );
        let mut times = measured.into_iter();
        Ok(measure
            .iter()
            .zip(&self.scale)
            .map(|(m, scale)| {
                if !*m {
                    return None;
                }
                Some(times.next()?.verdict?.mean_ms * scale)
            })
            .collect())
    }

    fn session(&mut self) -> Option<&mut Client> {
        Some(self.shadow.get())
    }

    fn remove(&mut self) -> Result<(), AdviseError> {
        if let Some((name, _)) = self.placed.take() {
            let drop = format!("DROP INDEX IF EXISTS {}", quote_ident(&name));
            self.shadow
                .get()
                .batch_execute(&drop)
                .db_context(|| format!("cannot drop {name} from the shadow"))?;
        }
        Ok(())
    }

    fn maintenance(&mut self, candidate: &IndexCandidate) -> Result<Maintenance, AdviseError> {
        let on = match self.sample {
            None => "the shadow copy",
            Some(_) => "the sampled copy",
        };
        maintenance::measure(self.shadow.get(), candidate, on)
    }

    /// The live database's counters; a copy started without the target (the hybrid lab's
    /// sample) is never asked, and has none.
    fn write_counters(&mut self) -> Result<WriteCounters, AdviseError> {
        match self.target.as_deref_mut() {
            Some(target) => live::write_counters(target),
            None => Err(AdviseError::NoLiveDatabase),
        }
    }

    fn calls_per_min(&mut self, policy: &Policy) -> Result<Vec<Option<f64>>, AdviseError> {
        match self.target.as_deref_mut() {
            Some(target) => live::calls_per_min(target, policy),
            None => Err(AdviseError::NoLiveDatabase),
        }
    }
}

/// A size measured on the copy, for the live database: when the copy holds a sample, scaled by
/// the table's live rows per copied row (a table copied whole is absent from `sample`).
fn live_size(size: i64, sample: Option<&HashMap<String, f64>>, table: &str) -> i64 {
    match sample {
        Some(shares) => {
            let rows_per_copied = shares.get(table).copied().unwrap_or(1.0);
            (size as f64 * rows_per_copied) as i64
        }
        None => size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_on_a_sample_is_scaled_by_its_most_sampled_table() {
        let q = |sql: &str| WorkloadQuery {
            name: "q".into(),
            sql: sql.into(),
            params: vec![vec![crate::policy::ParamValue::Integer(7)]],
            weight: None,
            mean_ms: None,
            p95_ms: None,
            max_cost: None,
            allow_writes: false,
        };
        let sample: HashMap<String, f64> =
            [("orders".to_string(), 4.0), ("events".to_string(), 10.0)].into();
        let join =
            q("SELECT 1 FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.id = $1");
        assert_eq!(scale_of(&join, Some(&sample)), 4.0);
        assert_eq!(
            scale_of(&q("SELECT 1 FROM customers WHERE id = $1"), Some(&sample)),
            1.0
        );
        assert_eq!(
            scale_of(&q("VACUUM orders"), Some(&sample)),
            10.0,
            "unreadable: the largest"
        );
        assert_eq!(scale_of(&join, None), 1.0);
    }

    #[test]
    fn a_size_on_a_sample_is_scaled_by_the_sampled_share() {
        // A 10% sample of `orders`; `users` was copied whole.
        let sample: HashMap<String, f64> = [("orders".to_string(), 10.0)].into();
        assert_eq!(live_size(1_000, Some(&sample), "orders"), 10_000);
        assert_eq!(live_size(1_000, Some(&sample), "users"), 1_000);
        assert_eq!(live_size(1_000, None, "orders"), 1_000);
    }
}
