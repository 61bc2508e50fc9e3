//! `[advise]`: limits on what `advise` proposes, and how it weighs write cost.

use serde::Deserialize;
use std::collections::BTreeMap;

/// Limits on what `advise` may propose, and the figures its write cost comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvisePolicy {
    /// At most this many new indexes per table.
    #[serde(default = "default_max_indexes_per_table")]
    pub max_indexes_per_table: usize,
    /// At most this many megabytes of new indexes in total.
    pub max_total_mb: Option<f64>,
    /// `advise --throwaway` copies every row while the tables total at most this many
    /// megabytes, else the same share of each large table (default 1024).
    #[serde(default = "default_throwaway_max_mb")]
    pub throwaway_max_mb: f64,
    /// Reject a candidate whose write cost exceeds the time it saves even when it brings a
    /// query under budget (for write-heavy tables). Default false: write cost is reported
    /// beside such a candidate, and only weighs against candidates that fix no budget.
    #[serde(default)]
    pub write_cost_veto: bool,
    /// Seconds between the two reads of the live table statistics whose difference is each
    /// table's write rate (default 10; 0: no sample, only `writes_per_min` counts).
    #[serde(default = "default_write_sample_seconds")]
    pub write_sample_seconds: u64,
    /// Rows written per minute per table, by table name as stored (`orders = 1200`); a table
    /// given here is not sampled.
    #[serde(default)]
    pub writes_per_min: BTreeMap<String, f64>,
}

impl Default for AdvisePolicy {
    fn default() -> Self {
        Self {
            max_indexes_per_table: default_max_indexes_per_table(),
            max_total_mb: None,
            throwaway_max_mb: default_throwaway_max_mb(),
            write_cost_veto: false,
            write_sample_seconds: default_write_sample_seconds(),
            writes_per_min: BTreeMap::new(),
        }
    }
}

/// The longest write sample: an hour (a longer one is a typo, and `advise` would sit idle).
pub const MAX_WRITE_SAMPLE_SECONDS: u64 = 3600;

impl AdvisePolicy {
    /// What `validate` checks of `[advise]` beyond the numbers checked with the rest.
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.write_sample_seconds > MAX_WRITE_SAMPLE_SECONDS {
            return Err(format!(
                "advise.write_sample_seconds is {}; it must be at most {MAX_WRITE_SAMPLE_SECONDS} (seconds; 0 for no sample)",
                self.write_sample_seconds
            ));
        }
        for (table, rate) in &self.writes_per_min {
            if table.is_empty() {
                return Err("[advise.writes_per_min] has an empty table name; use the table's name as stored, e.g. orders = 1200".into());
            }
            if !(rate.is_finite() && *rate >= 0.0) {
                return Err(format!(
                    "[advise.writes_per_min] `{}` is {rate}; it must be a finite number of rows per minute, 0 or more",
                    crate::escape::inline(table)
                ));
            }
        }
        Ok(())
    }
}

fn default_throwaway_max_mb() -> f64 {
    1024.0
}

fn default_max_indexes_per_table() -> usize {
    3
}

fn default_write_sample_seconds() -> u64 {
    10
}
