//! A lab wrapped so that it also proves statements without parameter values (from
//! `--from-stats`): the wrapped lab sees only the other queries; these are planned as generic
//! plans in its session ([`super::generic`]). Such a statement's time before is
//! pg_stat_statements' mean; with a candidate, that mean scaled by the generic plan's cost with
//! / without. The decisions over the lab (`orchestrate`) do not know the difference.

use super::candidates::IndexCandidate;
use super::cost::{Maintenance, WriteCounters};
use super::error::AdviseError;
use super::generic::generic_cost;
use super::prove::{Baseline, CostUnit, Placement, Prover};
use crate::policy::Policy;

/// What the report says of a query planned as a generic plan.
pub const GENERIC_NOTE: &str = "no parameter values: time before from pg_stat_statements, with the proposals predicted from the generic plan's planner cost";

/// `inner`, with the queries whose `generic` entry holds pg_stat_statements' mean time (ms)
/// planned as generic plans.
pub struct WithGenericPlans<'a, P: Prover + ?Sized> {
    inner: &'a mut P,
    /// Per workload query (policy order): `Some(mean ms)` when it is planned generically.
    generic: Vec<Option<f64>>,
    /// Per workload query: its generic plan's cost with no candidate in place.
    without: Vec<Option<f64>>,
}

impl<'a, P: Prover + ?Sized> WithGenericPlans<'a, P> {
    /// `generic` is per workload query, in policy order (missing entries: not generic).
    pub fn new(inner: &'a mut P, generic: &[Option<f64>]) -> Self {
        Self {
            inner,
            generic: generic.to_vec(),
            without: Vec::new(),
        }
    }

    fn mean_of(&self, i: usize) -> Option<f64> {
        self.generic.get(i).copied().flatten()
    }

    /// The policy without the generic queries, as the wrapped lab sees it.
    fn inner_policy(&self, policy: &Policy) -> Policy {
        let mut p = policy.clone();
        p.queries = policy
            .queries
            .iter()
            .enumerate()
            .filter(|(i, _)| self.mean_of(*i).is_none())
            .map(|(_, q)| q.clone())
            .collect();
        p
    }

    fn inner_mask(&self, measure: &[bool]) -> Vec<bool> {
        measure
            .iter()
            .enumerate()
            .filter(|(i, _)| self.mean_of(*i).is_none())
            .map(|(_, m)| *m)
            .collect()
    }

    /// The wrapped lab's costs for its queries, and generic plan costs for the others (what
    /// `cost` makes of each plan's cost), back in policy order.
    fn costs(
        &mut self,
        policy: &Policy,
        measure: &[bool],
        without: Option<&IndexCandidate>,
    ) -> Result<Vec<Option<f64>>, AdviseError> {
        let (inner_policy, mask) = (self.inner_policy(policy), self.inner_mask(measure));
        let inner = match without {
            None => self.inner.costs_with(&inner_policy, &mask)?,
            Some(candidate) => self.inner.costs_without(&inner_policy, candidate, &mask)?,
        };
        let mut inner = inner.into_iter();
        let unit = self.inner.unit();
        self.without.resize(policy.queries.len(), None);
        let mut out = Vec::with_capacity(policy.queries.len());
        for (i, (q, m)) in policy.queries.iter().zip(measure).enumerate() {
            let Some(mean) = self.mean_of(i) else {
                out.push(inner.next().flatten());
                continue;
            };
            if !*m {
                out.push(None);
                continue;
            }
            let cost = match self.inner.session() {
                Some(session) => generic_cost(session, &q.sql).ok(),
                None => None,
            };
            if without.is_some() {
                self.without[i] = cost;
            }
            out.push(match (unit, cost) {
                (CostUnit::Ratio, cost) => cost,
                (CostUnit::LiveMs, Some(c)) if without.is_some() => Some(mean).filter(|_| c > 0.0),
                (CostUnit::LiveMs, Some(c)) => {
                    self.without[i].filter(|w| *w > 0.0).map(|w| mean * c / w)
                }
                (CostUnit::LiveMs, None) => None,
            });
        }
        Ok(out)
    }
}

impl<P: Prover + ?Sized> Prover for WithGenericPlans<'_, P> {
    fn evaluation(&self) -> String {
        let inner = self.inner.evaluation();
        if self.generic.iter().any(Option::is_some) {
            format!(
                "{inner}; statements without parameter values: predicted from generic-plan planner cost"
            )
        } else {
            inner
        }
    }

    fn unit(&self) -> CostUnit {
        self.inner.unit()
    }

    fn baselines(&mut self, policy: &Policy) -> Result<Vec<Baseline>, AdviseError> {
        let mut inner = self
            .inner
            .baselines(&self.inner_policy(policy))?
            .into_iter();
        let mut out = Vec::with_capacity(policy.queries.len());
        for (i, q) in policy.queries.iter().enumerate() {
            out.push(match self.mean_of(i) {
                Some(mean) => Baseline {
                    mean_ms: mean,
                    over: mean > policy.budget_for(q).mean_ms,
                },
                None => inner.next().ok_or(AdviseError::Incomplete {
                    timed: i,
                    total: policy.queries.len(),
                })?,
            });
        }
        Ok(out)
    }

    fn prepare(
        &mut self,
        policy: &Policy,
        candidates: &[IndexCandidate],
    ) -> Result<(), AdviseError> {
        self.inner.prepare(&self.inner_policy(policy), candidates)
    }

    fn costs_without(
        &mut self,
        policy: &Policy,
        candidate: &IndexCandidate,
        measure: &[bool],
    ) -> Result<Vec<Option<f64>>, AdviseError> {
        self.costs(policy, measure, Some(candidate))
    }

    fn place(&mut self, candidate: &IndexCandidate) -> Result<Placement, AdviseError> {
        self.inner.place(candidate)
    }

    fn size_bytes(&mut self) -> Result<i64, AdviseError> {
        self.inner.size_bytes()
    }

    fn costs_with(
        &mut self,
        policy: &Policy,
        measure: &[bool],
    ) -> Result<Vec<Option<f64>>, AdviseError> {
        self.costs(policy, measure, None)
    }

    fn remove(&mut self) -> Result<(), AdviseError> {
        self.inner.remove()
    }

    fn session(&mut self) -> Option<&mut postgres::Client> {
        self.inner.session()
    }

    fn maintenance(&mut self, candidate: &IndexCandidate) -> Result<Maintenance, AdviseError> {
        self.inner.maintenance(candidate)
    }

    fn write_counters(&mut self) -> Result<WriteCounters, AdviseError> {
        self.inner.write_counters()
    }

    /// The wrapped lab's figures for its queries; a generic statement's weight already comes
    /// from pg_stat_statements, so it has none here.
    fn calls_per_min(&mut self, policy: &Policy) -> Result<Vec<Option<f64>>, AdviseError> {
        let mut inner = self
            .inner
            .calls_per_min(&self.inner_policy(policy))?
            .into_iter();
        Ok((0..policy.queries.len())
            .map(|i| match self.mean_of(i) {
                Some(_) => None,
                None => inner.next().flatten(),
            })
            .collect())
    }
}
