//! The figures the selection weighs besides query times, and where each came from: a table's
//! write rate (sampled from the live statistics over a short interval, or given in the policy,
//! never counted since a statistics reset), an index's maintenance cost per written row
//! (measured on the proving server, or an estimate), and a query's calls per minute (the
//! policy's `weight`, pg_stat_statements, or a default of 1). Pure.

use serde::Serialize;
use std::collections::HashMap;
use std::time::Instant;

/// Where a table's write rate came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RateSource {
    /// The delta of `pg_stat_user_tables`' rows inserted, updated and deleted between two
    /// reads of the live database this many seconds apart.
    Sampled {
        /// Seconds between the two reads.
        seconds: f64,
    },
    /// `[advise.writes_per_min]` in the policy.
    Policy,
    /// Not known: no sample was taken (`write_sample_seconds = 0`) and the policy gives none;
    /// counted as no writes.
    None,
}

/// Rows written per minute to a table, and where the figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WriteRate {
    /// Rows inserted, updated or deleted per minute.
    pub rows_per_min: f64,
    /// Where it came from.
    pub source: RateSource,
}

impl WriteRate {
    /// No known writes.
    pub const NONE: WriteRate = WriteRate {
        rows_per_min: 0.0,
        source: RateSource::None,
    };
}

/// Where an index's maintenance cost per written row came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MaintenanceSource {
    /// Timed on the proving server: a batch of the table's rows inserted into a temporary
    /// copy of its shape with and without the index.
    Measured {
        /// Where: "the shadow", "the throwaway copy", "the throwaway sample".
        on: String,
    },
    /// No server to time on (HypoPG): [`BTREE_ESTIMATE_MS`] or [`GIN_ESTIMATE_MS`].
    Estimate,
    /// Timing failed on the proving server (its words); the estimate is used instead.
    EstimateAfterError {
        /// Why it could not be measured.
        reason: String,
    },
}

/// Estimated maintenance per written row of a btree index, ms, when nothing can be timed:
/// deliberately on the high side of what a btree insertion costs (a few µs), so a hot table is
/// never taken for a quiet one.
pub const BTREE_ESTIMATE_MS: f64 = 0.01;
/// The same for GIN, whose insertions cost several entries per row.
pub const GIN_ESTIMATE_MS: f64 = 0.05;

/// An index's maintenance cost per written row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Maintenance {
    /// ms per row written to the table.
    pub ms_per_row: f64,
    /// Where it came from.
    pub source: MaintenanceSource,
}

/// Where a query's weight (calls per minute) came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightSource {
    /// The policy's `weight`.
    Policy,
    /// Calls per minute in pg_stat_statements since its last reset, matched by query id.
    PgStatStatements,
    /// Neither: one call a minute.
    Default,
}

impl WeightSource {
    /// Short, for a table cell: `policy`, `pg_stat_statements`, `default`.
    pub fn label(self) -> &'static str {
        match self {
            WeightSource::Policy => "policy",
            WeightSource::PgStatStatements => "pg_stat_statements",
            WeightSource::Default => "default",
        }
    }

    /// In words, for the migration's evidence.
    pub fn describe(self) -> &'static str {
        match self {
            WeightSource::Policy => "weight from the policy",
            WeightSource::PgStatStatements => "calls per minute in pg_stat_statements",
            WeightSource::Default => "no weight given: 1 call/min assumed",
        }
    }
}

/// Rows written so far to each table of the live database, and when they were read.
#[derive(Debug, Clone)]
pub struct WriteCounters {
    /// Table -> rows inserted + updated + deleted.
    pub rows: HashMap<String, f64>,
    /// When the counters were read.
    pub at: Instant,
}

/// Rows per minute between two readings; a counter that went down (a reset between the reads)
/// counts from zero. Tables absent from `first` count from zero too (created in between).
pub fn sampled_rates(first: &WriteCounters, second: &WriteCounters) -> HashMap<String, WriteRate> {
    let seconds = second.at.duration_since(first.at).as_secs_f64().max(1e-3);
    second
        .rows
        .iter()
        .map(|(table, &now)| {
            let then = first.rows.get(table).copied().unwrap_or(0.0);
            let delta = if now >= then { now - then } else { now };
            let rate = WriteRate {
                rows_per_min: delta * 60.0 / seconds,
                source: RateSource::Sampled { seconds },
            };
            (table.clone(), rate)
        })
        .collect()
}

/// A query's weight: the policy's, else pg_stat_statements' calls per minute, else 1.
pub fn weight(policy: Option<f64>, stats: Option<f64>) -> (f64, WeightSource) {
    match (policy, stats) {
        (Some(w), _) => (w, WeightSource::Policy),
        (None, Some(w)) => (w, WeightSource::PgStatStatements),
        (None, None) => (1.0, WeightSource::Default),
    }
}

/// A proposal's write cost, with where each figure came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WriteCost {
    /// The table's write rate.
    pub write_rate: WriteRate,
    /// The index's maintenance cost per written row.
    pub maintenance: Maintenance,
    /// `rows_per_min` x `ms_per_row`: ms of maintenance per minute.
    pub ms_per_min: f64,
}

impl WriteCost {
    /// In words: `1200 rows/min (sampled over 10 s) x 3.2 µs/row (measured on the shadow)`.
    pub fn describe(&self) -> String {
        let rate = match self.write_rate.source {
            RateSource::Sampled { seconds } => format!("sampled over {seconds:.0} s"),
            RateSource::Policy => "from the policy".into(),
            RateSource::None => "no write rate known".into(),
        };
        let per_row = match &self.maintenance.source {
            MaintenanceSource::Measured { on } => format!("measured on {on}"),
            MaintenanceSource::Estimate => "an estimate: nothing to time it on".into(),
            MaintenanceSource::EstimateAfterError { .. } => "an estimate: timing it failed".into(),
        };
        format!(
            "{} rows/min ({rate}) x {}/row ({per_row})",
            crate::units::number(self.write_rate.rows_per_min),
            crate::units::ms(self.maintenance.ms_per_row)
        )
    }
}

/// A write cost of `ms_per_min` from a 10 s sample and 2 µs a row measured on the shadow, for
/// report fixtures.
#[cfg(test)]
pub(crate) fn sampled_cost(ms_per_min: f64) -> WriteCost {
    WriteCost {
        write_rate: WriteRate {
            rows_per_min: ms_per_min / 0.002,
            source: RateSource::Sampled { seconds: 10.0 },
        },
        maintenance: Maintenance {
            ms_per_row: 0.002,
            source: MaintenanceSource::Measured {
                on: "the shadow copy".into(),
            },
        },
        ms_per_min,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_sampled_rate_is_the_delta_per_minute_and_a_reset_counts_from_zero() {
        let at = Instant::now();
        let first = WriteCounters {
            rows: [("a".to_string(), 1_000_000.0), ("b".to_string(), 500.0)].into(),
            at,
        };
        let second = WriteCounters {
            rows: [
                ("a".to_string(), 1_000_100.0),
                ("b".to_string(), 20.0),
                ("c".to_string(), 5.0),
            ]
            .into(),
            at: at + Duration::from_secs(10),
        };
        let rates = sampled_rates(&first, &second);
        assert_eq!(rates["a"].rows_per_min, 600.0);
        assert_eq!(rates["b"].rows_per_min, 120.0);
        assert_eq!(rates["c"].rows_per_min, 30.0);
        assert_eq!(rates["a"].source, RateSource::Sampled { seconds: 10.0 });
    }

    #[test]
    fn the_policy_weight_wins_then_pg_stat_statements_then_one_a_minute() {
        assert_eq!(weight(Some(5.0), Some(9.0)), (5.0, WeightSource::Policy));
        assert_eq!(
            weight(None, Some(9.0)),
            (9.0, WeightSource::PgStatStatements)
        );
        assert_eq!(weight(None, None), (1.0, WeightSource::Default));
    }
}
