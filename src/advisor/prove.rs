//! The seam between the advisor's decisions and the labs that prove its candidates: a lab
//! times the workload, puts one candidate at a time in place (built on a copy, or hypothesized
//! with HypoPG), measures the queries it could serve, and removes it. What the measurements
//! mean (what counts as faster, which candidates are proposed) is decided over this trait, in
//! `orchestrate`, so the decisions are unit-tested with a scripted lab.

use super::candidates::IndexCandidate;
use super::cost::{Maintenance, WriteCounters};
use super::error::AdviseError;
use crate::policy::Policy;

/// Measured time of one workload query on the live database, and whether it was over budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// Mean time, ms.
    pub mean_ms: f64,
    /// Over its budget: only such queries get candidates.
    pub over: bool,
}

/// Whether a lab could put a candidate in place.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    /// Built or hypothesized: it stays until [`Prover::remove`].
    Placed,
    /// The lab cannot model it, in the lab's own words (the installed HypoPG and a GIN
    /// index, say); nothing was left in place.
    Unmodelled(String),
}

/// What a lab's query costs are, which says how they carry over to the live database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostUnit {
    /// Times on a copy holding every live row: a time with a candidate is the live time.
    LiveMs,
    /// Proportional to live times (times on a sample of the rows, planner costs): the live
    /// time with a candidate is the live time scaled by the ratio with / without.
    Ratio,
}

/// A lab where the advisor's candidates are proven, with the figures of the live database the
/// advisor weighs them by. Call order: [`Prover::baselines`] and [`Prover::calls_per_min`]
/// once, [`Prover::prepare`] once, then per candidate [`Prover::costs_without`],
/// [`Prover::place`] and, when placed, [`Prover::size_bytes`], [`Prover::costs_with`] and
/// [`Prover::remove`], then [`Prover::maintenance`]; [`Prover::write_counters`] at any time.
/// At most one candidate
/// is in place at a time. `measure` masks are in policy order; the costs returned are too,
/// `None` for a query not measured (or whose measurement failed).
pub trait Prover {
    /// How the candidates are proven, as the report words it.
    fn evaluation(&self) -> String;

    /// The unit of [`Prover::costs_without`] and [`Prover::costs_with`].
    fn unit(&self) -> CostUnit;

    /// Times every workload query of `policy` on the live database (policy order).
    fn baselines(&mut self, policy: &Policy) -> Result<Vec<Baseline>, AdviseError>;

    /// Called once with every candidate, before any is proven: a lab may decide how it will
    /// prove them (the hybrid lab starts a sample for what HypoPG cannot model).
    fn prepare(
        &mut self,
        _policy: &Policy,
        _candidates: &[IndexCandidate],
    ) -> Result<(), AdviseError> {
        Ok(())
    }

    /// Each query's cost in this lab with no candidate in place, for the queries in `measure`,
    /// as the baseline of `candidate` (placed next).
    fn costs_without(
        &mut self,
        policy: &Policy,
        candidate: &IndexCandidate,
        measure: &[bool],
    ) -> Result<Vec<Option<f64>>, AdviseError>;

    /// Puts `candidate` in place: builds it, or hypothesizes it.
    fn place(&mut self, candidate: &IndexCandidate) -> Result<Placement, AdviseError>;

    /// The placed candidate's size, estimated for the live database, bytes.
    fn size_bytes(&mut self) -> Result<i64, AdviseError>;

    /// Each query's cost in this lab with the placed candidate, for the queries in `measure`.
    fn costs_with(
        &mut self,
        policy: &Policy,
        measure: &[bool],
    ) -> Result<Vec<Option<f64>>, AdviseError>;

    /// Removes the placed candidate (drops the build, resets HypoPG).
    fn remove(&mut self) -> Result<(), AdviseError>;

    /// The session the lab plans in, where the candidate in place is visible to a fresh
    /// `PREPARE` (statements without parameter values are planned there as generic plans);
    /// `None` for a lab without one.
    fn session(&mut self) -> Option<&mut postgres::Client> {
        None
    }

    /// The maintenance cost per written row of `candidate` (not in place), timed where the
    /// lab can (see [`super::cost::MaintenanceSource`]).
    fn maintenance(&mut self, candidate: &IndexCandidate) -> Result<Maintenance, AdviseError>;

    /// Rows inserted, updated and deleted so far per table of the live database, read fresh
    /// (not from a statistics snapshot an earlier read in the same transaction cached).
    fn write_counters(&mut self) -> Result<WriteCounters, AdviseError>;

    /// Per workload query (policy order): its calls per minute in the live database's
    /// pg_stat_statements, matched by query id; `None` where unknown (no pg_stat_statements,
    /// no query id, or no row for it).
    fn calls_per_min(&mut self, policy: &Policy) -> Result<Vec<Option<f64>>, AdviseError>;
}
