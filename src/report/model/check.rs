//! The report of `check`.

use crate::check::{CheckMode, QueryCheck};
use serde::Serialize;

/// The result of `check`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// How the queries were judged.
    pub mode: CheckMode,
    /// The target's connection string, password redacted.
    pub database: String,
    /// The policy file, as given (or the built-in default's name).
    pub policy: String,
    /// One result per workload query, in policy order (per statement in stats mode).
    pub queries: Vec<QueryCheck>,
    /// Queries judged over budget.
    pub over_budget: usize,
    /// Queries that could not be measured.
    pub errors: usize,
    /// What the reader should know about what was not judged (e.g. hidden statements).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// `check --mode stats` on each replica (`--replica`, `[[replica]]`): statements are
    /// counted per server, so each is judged on its own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<ReplicaCheck>,
}

/// One replica's part of `check --mode stats`.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaCheck {
    /// The replica's name.
    pub server: String,
    /// Its statements judged, as for the primary; `None` when it could not be read.
    pub report: Option<CheckReport>,
    /// Why it could not be read.
    pub error: Option<String>,
}

impl CheckReport {
    /// A figure of this report as people read it: a duration, or in explain mode a planner
    /// cost (no unit; scientific past a million).
    pub fn figure(&self, v: f64) -> String {
        if self.mode == CheckMode::Explain {
            crate::units::number(v)
        } else {
            crate::units::ms(v)
        }
    }

    /// 2 when a query (or a replica) could not be measured, 1 when one is over budget on any
    /// server, else 0.
    pub fn exit_code(&self) -> u8 {
        let own = if self.errors > 0 {
            2
        } else {
            u8::from(self.over_budget > 0)
        };
        self.replicas
            .iter()
            .map(|r| r.report.as_ref().map_or(2, CheckReport::exit_code))
            .fold(own, u8::max)
    }
}
