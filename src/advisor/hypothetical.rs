//! HypoPG in the target: planner costs with and without each candidate; HypoPG objects live
//! only in this session, and nothing is built.

use super::candidates::IndexCandidate;
use super::cost::{Maintenance, MaintenanceSource, WriteCounters};
use super::error::AdviseError;
use super::evaluate::baselines;
use super::prove::{Baseline, CostUnit, Placement, Prover};
use super::{live, maintenance};
use crate::check::{CheckError, explain_batch, param_sets};
use crate::db::{self, DbContext, DbError};
use crate::policy::{Policy, WorkloadQuery};
use postgres::Client;

/// Whether HypoPG is installed in the connected database (never installed by pgwarden).
fn hypopg_available(client: &mut Client) -> bool {
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
fn plan_cost(client: &mut Client, q: &WorkloadQuery) -> Result<f64, AdviseError> {
    let explains: Vec<String> = param_sets(q)?
        .iter()
        .map(|sql| format!("EXPLAIN (FORMAT JSON) {sql}"))
        .collect();
    let plans = explain_batch(client, q, 10_000, &explains)?.ok_or(CheckError::PlanningTimeout)?;
    Ok(plans.iter().map(|e| e.plan.total_cost).sum::<f64>() / plans.len().max(1) as f64)
}

/// HypoPG in the target: planner costs only, no index is built.
pub struct HypotheticalLab<'a> {
    target: &'a mut Client,
    /// The hypothesized candidate's size, while one is in place.
    placed: Option<i64>,
}

impl<'a> HypotheticalLab<'a> {
    /// A lab in `target`, or why there is none: HypoPG is not installed there.
    pub fn new(target: &'a mut Client) -> Result<Self, AdviseError> {
        if !hypopg_available(target) {
            return Err(AdviseError::HypoPgMissing);
        }
        Ok(Self {
            target,
            placed: None,
        })
    }

    /// Planner costs of the queries in `measure`, in the target's current session.
    fn plan_costs(
        &mut self,
        policy: &Policy,
        measure: &[bool],
    ) -> Result<Vec<Option<f64>>, AdviseError> {
        let mut costs = Vec::new();
        for (q, m) in policy.queries.iter().zip(measure) {
            costs.push(if *m {
                Some(plan_cost(self.target, q)?)
            } else {
                None
            });
        }
        Ok(costs)
    }
}

impl Prover for HypotheticalLab<'_> {
    fn evaluation(&self) -> String {
        "hypothetical (HypoPG planner costs scaling measured times)".to_string()
    }

    fn unit(&self) -> CostUnit {
        CostUnit::Ratio
    }

    fn baselines(&mut self, policy: &Policy) -> Result<Vec<Baseline>, AdviseError> {
        baselines(self.target, policy)
    }

    fn costs_without(
        &mut self,
        policy: &Policy,
        _candidate: &IndexCandidate,
        measure: &[bool],
    ) -> Result<Vec<Option<f64>>, AdviseError> {
        self.plan_costs(policy, measure)
    }

    fn place(&mut self, candidate: &IndexCandidate) -> Result<Placement, AdviseError> {
        // Whatever the installed HypoPG cannot model (1.3 rejects GIN) is reported as unproven,
        // with HypoPG's own words, rather than assumed from a version number.
        let row = match self.target.query_one(
            "SELECT indexrelid, hypopg_relation_size(indexrelid) FROM hypopg_create_index($1)",
            &[&candidate.ddl(false)],
        ) {
            Ok(row) => row,
            // A lock held on the table (lock_timeout) is not a limit of HypoPG's.
            Err(e) if e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) => {
                return Err(DbError::new(
                    format!("hypothesizing {} (its table is locked)", candidate.name()),
                    e,
                )
                .into());
            }
            // A definition PostgreSQL refuses (a function that is not IMMUTABLE): no build
            // could prove it either.
            Err(e) if e.code() == Some(&postgres::error::SqlState::INVALID_OBJECT_DEFINITION) => {
                return Ok(Placement::Unmodelled(format!(
                    "PostgreSQL cannot index it ({})",
                    db::describe(&e)
                )));
            }
            Err(e) if e.code().is_some() => {
                return Ok(Placement::Unmodelled(format!(
                    "the installed HypoPG cannot model it ({}); pass --throwaway or --shadow-url to prove it with a real build",
                    db::describe(&e)
                )));
            }
            Err(e) => return Err(DbError::new("hypopg", e).into()),
        };
        self.placed = Some(row.get(1));
        Ok(Placement::Placed)
    }

    /// HypoPG's estimate of the hypothesized index's size.
    fn size_bytes(&mut self) -> Result<i64, AdviseError> {
        self.placed.ok_or(AdviseError::NothingPlaced)
    }

    fn costs_with(
        &mut self,
        policy: &Policy,
        measure: &[bool],
    ) -> Result<Vec<Option<f64>>, AdviseError> {
        self.plan_costs(policy, measure)
    }

    fn session(&mut self) -> Option<&mut Client> {
        Some(self.target)
    }

    fn remove(&mut self) -> Result<(), AdviseError> {
        self.placed = None;
        Ok(self
            .target
            .batch_execute("SELECT hypopg_reset()")
            .db_context(|| "cannot reset HypoPG's hypothetical indexes")?)
    }

    /// No server to time on: the documented estimate.
    fn maintenance(&mut self, candidate: &IndexCandidate) -> Result<Maintenance, AdviseError> {
        Ok(maintenance::estimate(
            candidate,
            MaintenanceSource::Estimate,
        ))
    }

    fn write_counters(&mut self) -> Result<WriteCounters, AdviseError> {
        live::write_counters(self.target)
    }

    fn calls_per_min(&mut self, policy: &Policy) -> Result<Vec<Option<f64>>, AdviseError> {
        live::calls_per_min(self.target, policy)
    }
}
