//! The index advisor: candidates from each over-budget query's shape, proven on a shadow
//! database (or with HypoPG), then chosen across the whole workload: the most queries under
//! budget first, then the most time saved net of write cost, then the least size. Never
//! changes the target database.
//!
//! The target's catalog is read up front (`target`), the proving goes through one trait
//! (`prove`, with the real labs in `evaluate`), and the decisions over it are `orchestrate`.

pub mod candidates;
pub mod cost;
mod error;
mod evaluate;
mod from_stats;
mod generic;
mod generic_lab;
mod hybrid;
mod hypothetical;
mod live;
mod maintenance;
mod orchestrate;
pub mod prove;
pub mod select;
pub mod shape;
pub mod statement;
mod target;
pub mod workload;
mod written;

pub use error::AdviseError;
pub use from_stats::{StatsWorkload, from_stats};
pub use hybrid::{SampleStarter, StartedSample};
pub use orchestrate::advise_with;
pub use target::{TargetCatalog, read_columns};
pub use written::migration_sql;

use crate::policy::Policy;
use candidates::Method;
use evaluate::{ShadowClient, ShadowLab};
use generic_lab::WithGenericPlans;
use hybrid::HybridLab;
use postgres::Client;
use select::Limits;
use serde::Serialize;
use std::collections::HashMap;

/// Where candidates are proven.
pub enum Lab<'a> {
    /// A copy of the database (never the target): candidates are built for real.
    Shadow {
        /// Connection to the copy, where candidates are built, timed and dropped.
        client: &'a mut Client,
        /// How the report names the copy: the redacted `--shadow-url`, or the throwaway copy's
        /// summary.
        label: String,
        /// Set when the copy holds a sample of the rows: table name -> live rows per copied
        /// row, for each sampled table (tables copied whole are absent).
        sample: Option<HashMap<String, f64>>,
    },
    /// HypoPG in the target: planner costs, no index is built in the target; candidates HypoPG
    /// cannot model are proven on a sample copy `starter` makes, when given and able.
    Hypothetical {
        /// Makes a sample copy on demand.
        starter: Option<SampleStarter<'a>>,
    },
}

/// One proposed index with its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Proposal {
    /// The index name: pgwarden's `idx_<table>_<columns>` scheme, made free among the target's
    /// relations and the other proposals.
    pub name: String,
    /// The table it is on, unqualified (the advisor works on the tables in the search path).
    pub table: String,
    /// Btree or GIN.
    pub method: Method,
    /// Key columns in order, as stored (unquoted).
    pub columns: Vec<String>,
    /// `CREATE INDEX CONCURRENTLY IF NOT EXISTS ...` under `name`, ready to run.
    pub ddl: String,
    /// Names of the workload queries whose time with the proposals is this index's (the first
    /// proposed on a tie).
    pub serves: Vec<String>,
    /// Weighted time it saves the queries it serves, ms per minute.
    pub time_saved_ms_per_min: f64,
    /// Its share of the time all proposals save, percent (one decimal).
    pub gain_share_pct: f64,
    /// Size in bytes, measured in the lab (scaled by the sampled share on a sample; HypoPG's
    /// estimate when hypothetical).
    pub size_bytes: i64,
    /// Index maintenance in ms per minute (`write_cost.ms_per_min`), to two decimals.
    pub write_overhead_ms_per_min: f64,
    /// The write rate and maintenance per row it comes from, with their sources.
    pub write_cost: cost::WriteCost,
    /// Evidence per query it made faster in the lab: `name: before -> after (budget ...)`,
    /// joined by `; `.
    pub why: String,
}

impl Proposal {
    /// Why it is proposed although its write overhead exceeds the time it saves (it brings a
    /// query under budget, which write cost does not veto by default); `None` when it does not.
    pub fn write_cost_note(&self) -> Option<String> {
        (self.write_overhead_ms_per_min > self.time_saved_ms_per_min).then(|| {
            format!(
                "its write overhead exceeds the {}/min it saves; proposed because it brings a query under budget ([advise] write_cost_veto = true would reject it)",
                crate::units::ms(self.time_saved_ms_per_min)
            )
        })
    }
}

/// A candidate considered and not proposed.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    /// The candidate's `CREATE INDEX CONCURRENTLY ...` statement.
    pub ddl: String,
    /// Why it was not proposed: the lab could not model it, or the selection's reason.
    pub reason: String,
}

/// A workload query before and after the proposals.
#[derive(Debug, Clone, Serialize)]
pub struct QueryOutcome {
    /// The query's name in the policy (or workload file).
    pub name: String,
    /// Its mean-time budget in ms.
    pub budget_ms: f64,
    /// Mean time in ms measured on the live database, before any proposal.
    pub before_ms: f64,
    /// Expected mean time in ms with the proposals in place (equal to `before_ms` when none helps).
    pub after_ms: f64,
    /// Calls per minute the selection weighed it by.
    pub weight: f64,
    /// Where the weight came from.
    pub weight_source: cost::WeightSource,
    /// Why the query was not analysed (its SQL could not be read as a plain SELECT), if so.
    pub note: Option<String>,
}

/// The advisor's result.
#[derive(Debug, Clone, Serialize)]
pub struct Advice {
    /// How the candidates were proven, in the report's words (materialized on which copy, or
    /// hypothetical).
    pub evaluation: String,
    /// Every workload query in policy order, before and after.
    pub queries: Vec<QueryOutcome>,
    /// The chosen indexes, in the order chosen.
    pub proposals: Vec<Proposal>,
    /// Candidates considered and not proposed, each with its reason.
    pub rejected: Vec<Rejected>,
}

/// Runs the advisor. `target` is only read; `lab` proves the candidates.
pub fn advise(
    target: &mut Client,
    lab: Lab,
    policy: &Policy,
    limits: Limits,
) -> Result<Advice, AdviseError> {
    advise_workload(target, lab, policy, limits, &[])
}

/// Refuses a policy with a query allowed to write: the advisor times every workload query on
/// the target, and never runs a write there.
pub fn refuse_writing_queries(policy: &Policy) -> Result<(), AdviseError> {
    match policy.queries.iter().find(|q| q.allow_writes) {
        Some(q) => Err(AdviseError::PolicyWrites(crate::escape::inline(&q.name))),
        None => Ok(()),
    }
}

/// [`advise`], with the workload queries whose `generic` entry (policy order) holds
/// pg_stat_statements' mean time planned as generic plans (they have no parameter values).
pub fn advise_workload(
    target: &mut Client,
    lab: Lab,
    policy: &Policy,
    limits: Limits,
    generic: &[Option<f64>],
) -> Result<Advice, AdviseError> {
    refuse_writing_queries(policy)?;
    let catalog = TargetCatalog::read(target, policy)?;
    let mut advice = match lab {
        Lab::Shadow {
            client,
            label,
            sample,
        } => {
            let mut shadow =
                ShadowLab::new(Some(target), ShadowClient::Borrowed(client), label, sample);
            let mut lab = WithGenericPlans::new(&mut shadow, generic);
            advise_with(&mut lab, &catalog, policy, limits)
        }
        Lab::Hypothetical { starter } => {
            let mut hypopg = HybridLab::new(target, starter)?;
            let mut lab = WithGenericPlans::new(&mut hypopg, generic);
            advise_with(&mut lab, &catalog, policy, limits)
        }
    }?;
    for (q, g) in advice.queries.iter_mut().zip(generic) {
        if g.is_some() && q.note.is_none() {
            q.note = Some(generic_lab::GENERIC_NOTE.to_string());
        }
    }
    Ok(advice)
}

#[cfg(test)]
mod tests;
