//! The index advisor: candidates from each over-budget query's shape, proven on a shadow
//! database (or with HypoPG), then chosen across the whole workload for the most queries under
//! budget at the least size and write overhead. Never changes the target database.
//!
//! The target's catalog is read up front (`target`), the proving goes through one trait
//! (`prove`, with the real labs in `evaluate`), and the decisions over it are `orchestrate`.

pub mod candidates;
mod error;
mod evaluate;
mod orchestrate;
pub mod prove;
pub mod select;
pub mod shape;
mod target;
pub mod workload;
mod written;

pub use error::AdviseError;
pub use orchestrate::advise_with;
pub use target::{TargetCatalog, read_columns};
pub use written::migration_sql;

use crate::policy::Policy;
use candidates::Method;
use evaluate::{HypotheticalLab, ShadowLab};
use postgres::Client;
use select::Limits;
use serde::Serialize;
use std::collections::HashMap;

/// Where candidates are proven.
pub enum Lab<'a> {
    /// A copy of the database (never the target): candidates are built for real.
    Shadow {
        client: &'a mut Client,
        label: String,
        /// Set when the copy holds a sample of the rows: table name -> live rows per copied
        /// row, for each sampled table (tables copied whole are absent).
        sample: Option<HashMap<String, f64>>,
    },
    /// HypoPG in the target: planner costs only, no index is built.
    Hypothetical,
}

/// One proposed index with its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Proposal {
    pub name: String,
    pub table: String,
    pub method: Method,
    pub columns: Vec<String>,
    pub ddl: String,
    pub serves: Vec<String>,
    pub size_bytes: i64,
    pub write_overhead_ms_per_min: f64,
    pub why: String,
}

/// A candidate considered and not proposed.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    pub ddl: String,
    pub reason: String,
}

/// A workload query before and after the proposals.
#[derive(Debug, Clone, Serialize)]
pub struct QueryOutcome {
    pub name: String,
    pub budget_ms: f64,
    pub before_ms: f64,
    pub after_ms: f64,
    pub note: Option<String>,
}

/// The advisor's result.
#[derive(Debug, Clone, Serialize)]
pub struct Advice {
    pub evaluation: String,
    pub queries: Vec<QueryOutcome>,
    pub proposals: Vec<Proposal>,
    pub rejected: Vec<Rejected>,
}

/// Runs the advisor. `target` is only read; `lab` proves the candidates.
pub fn advise(
    target: &mut Client,
    lab: Lab,
    policy: &Policy,
    limits: Limits,
) -> Result<Advice, AdviseError> {
    let catalog = TargetCatalog::read(target, policy)?;
    match lab {
        Lab::Shadow {
            client,
            label,
            sample,
        } => {
            let mut shadow = ShadowLab::new(target, client, label, sample);
            advise_with(&mut shadow, &catalog, policy, limits)
        }
        Lab::Hypothetical => {
            let mut hypopg = HypotheticalLab::new(target)?;
            advise_with(&mut hypopg, &catalog, policy, limits)
        }
    }
}

#[cfg(test)]
mod tests;
