//! A typed model of `EXPLAIN (FORMAT JSON)` output and what pgwarden reads from it: where the
//! time goes, sequential scans of large tables, row misestimates, rows removed by filters.

mod budget;

pub use budget::{
    Budget, BudgetVerdict, Measurement, Summary, Verdict, judge_cost, judge_summary, judge_times,
};

use serde::{Deserialize, Serialize};

/// One element of the top-level EXPLAIN JSON array.
#[derive(Debug, Clone, Deserialize)]
pub struct Explain {
    /// The root plan node.
    #[serde(rename = "Plan")]
    pub plan: PlanNode,
    /// `Planning Time` in ms (present with ANALYZE, or with SUMMARY).
    #[serde(rename = "Planning Time")]
    pub planning_time: Option<f64>,
    /// `Execution Time` in ms (ANALYZE only).
    #[serde(rename = "Execution Time")]
    pub execution_time: Option<f64>,
}

/// A plan node; fields absent without ANALYZE or BUFFERS are `None`.
#[derive(Debug, Clone, Deserialize)]
pub struct PlanNode {
    /// `Node Type` as PostgreSQL names it (`Seq Scan`, `Hash Join`, `Gather Merge`, ...).
    #[serde(rename = "Node Type")]
    pub node_type: String,
    /// The scanned table (unquoted, not schema-qualified), for scan and modify nodes.
    #[serde(rename = "Relation Name")]
    pub relation_name: Option<String>,
    /// The scanned table's schema; only printed by EXPLAIN VERBOSE, which pgwarden does not ask
    /// for, so normally `None`.
    #[serde(rename = "Schema")]
    pub schema: Option<String>,
    /// The index an index, index-only or bitmap index scan uses (unquoted).
    #[serde(rename = "Index Name")]
    pub index_name: Option<String>,
    /// Planner's estimated total cost of the node, in the planner's arbitrary cost units.
    #[serde(rename = "Total Cost")]
    pub total_cost: f64,
    /// Planner's estimated rows per loop.
    #[serde(rename = "Plan Rows")]
    pub plan_rows: f64,
    /// Time in ms to the node's last row, per loop (ANALYZE with timing).
    #[serde(rename = "Actual Total Time")]
    pub actual_total_time: Option<f64>,
    /// Rows produced per loop (ANALYZE).
    #[serde(rename = "Actual Rows")]
    pub actual_rows: Option<f64>,
    /// How many times the node ran (ANALYZE); under a Gather, one per parallel process.
    #[serde(rename = "Actual Loops")]
    pub actual_loops: Option<f64>,
    /// Rows read but rejected by `filter`, per loop (ANALYZE).
    #[serde(rename = "Rows Removed by Filter")]
    pub rows_removed_by_filter: Option<f64>,
    /// The node's filter condition as PostgreSQL deparses it.
    #[serde(rename = "Filter")]
    pub filter: Option<String>,
    /// Shared buffer hits, this node and its children (BUFFERS).
    #[serde(rename = "Shared Hit Blocks")]
    pub shared_hit_blocks: Option<i64>,
    /// Shared blocks read from outside shared buffers, this node and its children (BUFFERS).
    #[serde(rename = "Shared Read Blocks")]
    pub shared_read_blocks: Option<i64>,
    /// Parallel workers actually started, on Gather and Gather Merge nodes (ANALYZE).
    #[serde(rename = "Workers Launched")]
    pub workers_launched: Option<i64>,
    /// Child nodes, in plan order; empty for a leaf.
    #[serde(rename = "Plans", default)]
    pub plans: Vec<PlanNode>,
}

/// Parses the JSON text PostgreSQL returns for `EXPLAIN (FORMAT JSON)`.
pub fn parse(json: &str) -> Result<Explain, serde_json::Error> {
    let mut all: Vec<Explain> = serde_json::from_str(json)?;
    all.pop()
        .ok_or_else(|| serde::de::Error::custom("EXPLAIN returned an empty array"))
}

impl PlanNode {
    /// Wall time of this node over all its loops, in ms (ANALYZE only). Below a Gather, loops
    /// are parallel workers running at once, so the per-loop time is the wall time.
    pub fn inclusive_ms(&self, parallel: bool) -> f64 {
        let loops = if parallel {
            1.0
        } else {
            self.actual_loops.unwrap_or(1.0)
        };
        self.actual_total_time.unwrap_or(0.0) * loops
    }

    fn starts_parallel(&self) -> bool {
        self.node_type.starts_with("Gather")
    }

    /// Every node with its exclusive time (its own wall time minus its children's).
    pub fn timed_nodes(&self) -> Vec<(&PlanNode, f64)> {
        let mut out = Vec::new();
        self.collect_timed(false, &mut out);
        out
    }

    fn collect_timed<'a>(&'a self, parallel: bool, out: &mut Vec<(&'a PlanNode, f64)>) {
        let below = parallel || self.starts_parallel();
        let children: f64 = self.plans.iter().map(|c| c.inclusive_ms(below)).sum();
        out.push((self, (self.inclusive_ms(parallel) - children).max(0.0)));
        for child in &self.plans {
            child.collect_timed(below, out);
        }
    }

    /// Rows produced over all loops.
    pub fn total_actual_rows(&self) -> Option<f64> {
        self.actual_rows
            .map(|r| r * self.actual_loops.unwrap_or(1.0))
    }

    /// This node and all below it, depth first.
    pub fn walk(&self) -> Vec<&PlanNode> {
        let mut out = vec![self];
        for child in &self.plans {
            out.extend(child.walk());
        }
        out
    }

    /// "Seq Scan on payments" and the like.
    pub fn label(&self) -> String {
        match (&self.relation_name, &self.index_name) {
            (Some(rel), Some(idx)) => format!("{} using {idx} on {rel}", self.node_type),
            (Some(rel), None) => format!("{} on {rel}", self.node_type),
            _ => self.node_type.clone(),
        }
    }
}

/// What a plan says about why a query is slow.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PlanFindings {
    /// The node with the most exclusive time, and that time in ms, from one warm run with
    /// per-node timing (`check` runs it after the warm-ups).
    pub dominant_node: Option<String>,
    /// The dominant node's exclusive time in ms, rounded to the microsecond; `None` without ANALYZE
    /// timing.
    pub dominant_ms: Option<f64>,
    /// Tables read by sequential scans that produced or filtered many rows.
    pub seq_scans: Vec<String>,
    /// Nodes whose actual rows differ from the estimate by 10x or more.
    pub misestimates: Vec<String>,
    /// The most rows any node threw away with a filter.
    pub rows_removed_by_filter: Option<f64>,
}

/// Rows a sequential scan must touch before it is worth naming.
const LARGE_SCAN_ROWS: f64 = 10_000.0;
/// Planner cost of a sequential scan worth naming when no actual rows are known (about a
/// thousand pages or a hundred thousand rows).
const LARGE_SCAN_COST: f64 = 1_000.0;
/// Estimate error ratio worth naming.
const MISESTIMATE_FACTOR: f64 = 10.0;

/// Reads the findings from a plan (ANALYZE gives times and actual rows; a plain plan gives
/// only estimated seq scans).
pub fn findings(plan: &PlanNode) -> PlanFindings {
    let nodes = plan.walk();
    let mut out = PlanFindings::default();
    if let Some((top, ms)) = plan
        .timed_nodes()
        .into_iter()
        .filter(|(n, _)| n.actual_total_time.is_some())
        .max_by(|a, b| a.1.total_cmp(&b.1))
    {
        out.dominant_node = Some(top.label());
        out.dominant_ms = Some(to_microsecond(ms));
    }
    for n in &nodes {
        // With ANALYZE, rows read are known; without, a high scan cost stands in for a large table.
        let large = match n.total_actual_rows() {
            Some(rows) => {
                rows + n.rows_removed_by_filter.unwrap_or(0.0) * n.actual_loops.unwrap_or(1.0)
                    >= LARGE_SCAN_ROWS
            }
            None => n.total_cost >= LARGE_SCAN_COST,
        };
        if n.node_type.ends_with("Seq Scan") && large {
            let rel = n.relation_name.clone().unwrap_or_default();
            if !out.seq_scans.contains(&rel) {
                out.seq_scans.push(rel);
            }
        }
        if let Some(actual) = n.total_actual_rows() {
            let loops = n.actual_loops.unwrap_or(1.0).max(1.0);
            let estimated = (n.plan_rows * loops).max(1.0);
            let ratio = actual.max(1.0) / estimated;
            if !(1.0 / MISESTIMATE_FACTOR..=MISESTIMATE_FACTOR).contains(&ratio) {
                out.misestimates.push(format!(
                    "{}: estimated {} rows, got {}",
                    n.label(),
                    estimated.round(),
                    actual.round()
                ));
            }
        }
        if let Some(removed) = n.rows_removed_by_filter {
            let removed = removed * n.actual_loops.unwrap_or(1.0);
            if removed > out.rows_removed_by_filter.unwrap_or(0.0) {
                out.rows_removed_by_filter = Some(removed);
            }
        }
    }
    out
}

impl PlanFindings {
    /// One sentence for a table cell.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let (Some(node), Some(ms)) = (&self.dominant_node, self.dominant_ms) {
            // Node times come from one warm run with per-node timing, not from the mean.
            parts.push(format!(
                "{node} takes {} in a warm run with per-node timing",
                crate::units::ms(ms)
            ));
        }
        if !self.seq_scans.is_empty() {
            parts.push(format!("seq scan of {}", self.seq_scans.join(", ")));
        }
        if let Some(r) = self
            .rows_removed_by_filter
            .filter(|r| *r >= LARGE_SCAN_ROWS)
        {
            parts.push(format!("{r:.0} rows removed by filter"));
        }
        if let Some(m) = self.misestimates.first() {
            parts.push(format!("misestimate: {m}"));
        }
        parts.join("; ")
    }
}

/// To the microsecond, the precision EXPLAIN reports (more digits would be float noise).
fn to_microsecond(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests;
