//! `watch`'s judgement of production, one sample at a time: what each statement did in the last
//! interval (pg_stat_statements deltas), against its budget (the policy's named queries their
//! own, every other statement above `min_calls` the default) and against its own recent past
//! (a rolling baseline), plus index health. Keeps a bounded state: one snapshot, and per
//! statement with a series a baseline of at most the window's samples.

pub mod alerts;
pub mod health;
pub mod metrics;
pub mod plans;

use crate::db::DbError;
use crate::policy::Policy;
use crate::statements::{self, Counters, Snapshot};
use health::Health;
use postgres::Client;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// One statement's figures for the interval (or since the last reset, for `--once`).
#[derive(Debug, Clone, Serialize)]
pub struct StatementFigures {
    /// The metric label: the policy query's name, else `queryid:<id>`.
    pub label: String,
    /// A policy query (its series stays when an interval has no calls).
    pub named: bool,
    /// The statement text (the policy's SQL for a named query; normalized for others).
    pub text: String,
    /// Calls in the interval.
    pub calls: i64,
    /// Mean execution time over them, ms.
    pub mean_ms: f64,
    /// Rows returned or affected.
    pub rows: i64,
    /// Shared buffer hits.
    pub shared_hit: i64,
    /// Shared blocks read.
    pub shared_read: i64,
    /// The mean-time budget, ms.
    pub budget_ms: f64,
    /// The mean is over the budget.
    pub over_budget: bool,
    /// The median of the interval means in the baseline window, once there are enough.
    pub baseline_ms: Option<f64>,
    /// The mean is `regression_factor` times the baseline and above the floor.
    pub regressed: bool,
    /// The generic plan now, in one line (policy queries always; other statements when they
    /// need attention; `None` when it does not prepare).
    pub plan: Option<String>,
    /// The plan differs from the last one seen for this statement.
    pub plan_changed: bool,
}

/// One sample.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// No interval figures yet: the first sample, or a stats reset or restart just happened.
    pub baseline_only: bool,
    /// The statements judged (the policy's called in the interval, then the top others).
    pub statements: Vec<StatementFigures>,
    /// Policy queries with no entry in pg_stat_statements at all.
    pub unmatched: Vec<String>,
    /// Policy queries that could not be matched, and why (SQL that does not plan here).
    pub match_problems: Vec<String>,
    /// Statements of other roles hidden from this role (it lacks `pg_read_all_stats`): not
    /// judged.
    pub hidden_statements: i64,
    /// Index health at the sample.
    pub health: Health,
    /// `plan`'s findings that need no shadow (INVALID, duplicate, redundant, unused indexes),
    /// read every [`INDEX_FINDINGS_EVERY`] samples; `None` in between.
    pub index_findings: Option<Vec<crate::finding::Finding>>,
    /// How long the sample took, seconds.
    pub duration_seconds: f64,
}

impl Sample {
    /// Whether anything needs attention (`watch --once` exits 1).
    pub fn has_findings(&self) -> bool {
        self.statements.iter().any(|s| s.over_budget || s.regressed)
            || !self.health.invalid_indexes.is_empty()
            || !self.health.long_waits.is_empty()
    }
}

/// Samples between two reads of the index findings (a catalog read: the slower cadence).
pub const INDEX_FINDINGS_EVERY: u64 = 10;

/// Intervals a baseline needs before a regression can be judged.
const BASELINE_MIN_SAMPLES: usize = 3;

/// The state kept between samples.
pub struct Watcher {
    policy: Policy,
    /// Each policy query's identifiers (policy order).
    ids: Vec<Vec<i64>>,
    /// pgwarden's own statements, never judged.
    own: Vec<i64>,
    /// Why some policy queries could not be matched.
    match_problems: Vec<String>,
    previous: Option<Snapshot>,
    baselines: HashMap<String, VecDeque<(Instant, f64)>>,
    /// The last generic plan's fingerprint per statement label.
    plans: HashMap<String, u64>,
    diff: crate::diff::DiffSettings,
    taken: u64,
}

impl Watcher {
    /// A watcher for `policy`, whose queries have the identifiers `ids` (see
    /// [`statements::matcher::policy_ids`]); statements in `own` are pgwarden's.
    pub fn new(policy: Policy) -> Self {
        let diff = crate::diff::DiffSettings::from_policy(Some(&policy));
        Watcher {
            ids: vec![Vec::new(); policy.queries.len()],
            policy,
            own: Vec::new(),
            match_problems: Vec::new(),
            previous: None,
            baselines: HashMap::new(),
            plans: HashMap::new(),
            diff,
            taken: 0,
        }
    }

    /// A new session: the policy queries' identifiers `ids` (policy order; empty for one
    /// that could not be matched, with `problems` saying why), pgwarden's own statements
    /// `own`. Baselines and plans are kept; the next sample starts a new interval.
    pub fn connected(&mut self, ids: Vec<Vec<i64>>, own: Vec<i64>, problems: Vec<String>) {
        self.ids = ids;
        self.own = own;
        self.match_problems = problems;
        self.previous = None;
    }

    /// Takes a sample. `cumulative`: judge the counters since the last reset instead of the
    /// interval (`--once`, which has no earlier sample).
    pub fn sample(&mut self, client: &mut Client, cumulative: bool) -> Result<Sample, DbError> {
        let started = Instant::now();
        let snap = statements::snapshot(client, &self.own)?;
        let figures = if cumulative {
            Some(sum_by_query(&snap))
        } else {
            statements::delta(self.previous.as_ref(), &snap)
        };
        let unmatched = self
            .policy
            .queries
            .iter()
            .zip(&self.ids)
            .filter(|(_, ids)| !snap.entries.keys().any(|(id, _, _)| ids.contains(id)))
            .map(|(q, _)| q.name.clone())
            .collect();
        let health = health::read(client, self.policy.watch.lock_wait_alert.as_secs_f64())?;
        let mut statements = match &figures {
            Some(f) => self.judge(f, &snap, !cumulative),
            None => Vec::new(),
        };
        self.read_plans(client, &mut statements);
        let index_findings = if self.taken.is_multiple_of(INDEX_FINDINGS_EVERY) {
            Some(plans::live_findings(client, &self.diff)?)
        } else {
            None
        };
        self.taken += 1;
        tracing::debug!(
            epoch = %snap.epoch,
            entries = snap.entries.len(),
            interval_statements = figures.as_ref().map(HashMap::len),
            judged = statements.len(),
            "sampled"
        );
        let hidden_statements = snap.hidden;
        self.previous = Some(snap);
        Ok(Sample {
            baseline_only: figures.is_none(),
            statements,
            unmatched,
            match_problems: self.match_problems.clone(),
            hidden_statements,
            health,
            index_findings,
            duration_seconds: started.elapsed().as_secs_f64(),
        })
    }

    fn judge(
        &mut self,
        figures: &HashMap<i64, Counters>,
        snap: &Snapshot,
        keep_baseline: bool,
    ) -> Vec<StatementFigures> {
        let policy = &self.policy;
        let mut out = Vec::new();
        let mut claimed: Vec<i64> = Vec::new();
        for (q, ids) in policy.queries.iter().zip(&self.ids) {
            claimed.extend(ids);
            let mut c = Counters::default();
            for id in ids {
                if let Some(f) = figures.get(id) {
                    c = add(c, f);
                }
            }
            if c.calls == 0 {
                continue;
            }
            let budget = q.mean_ms.unwrap_or(policy.budget.mean_ms);
            out.push(figures_for(q.name.clone(), true, q.sql.clone(), &c, budget));
        }
        let mut others: Vec<(&i64, &Counters)> = figures
            .iter()
            .filter(|(id, c)| !claimed.contains(id) && c.calls >= policy.stats.min_calls)
            .filter(|(id, _)| !is_utility(snap.texts.get(id).map_or("", String::as_str)))
            .collect();
        others.sort_by(|a, b| b.1.total_ms.total_cmp(&a.1.total_ms));
        let room = policy.watch.top.saturating_sub(out.len());
        for (id, c) in others.into_iter().take(room) {
            let text = snap.texts.get(id).cloned().unwrap_or_default();
            out.push(figures_for(
                format!("queryid:{id}"),
                false,
                text.split_whitespace().collect::<Vec<_>>().join(" "),
                c,
                policy.budget.mean_ms,
            ));
        }
        if keep_baseline {
            self.regressions(&mut out);
        }
        out
    }

    /// Judges each statement against its baseline, then adds this interval to it.
    fn regressions(&mut self, statements: &mut [StatementFigures]) {
        let w = &self.policy.watch;
        let now = Instant::now();
        for s in statements.iter_mut() {
            let history = self.baselines.entry(s.label.clone()).or_default();
            while history
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > w.baseline_window)
            {
                history.pop_front();
            }
            if history.len() >= BASELINE_MIN_SAMPLES {
                let mut means: Vec<f64> = history.iter().map(|(_, m)| *m).collect();
                means.sort_by(f64::total_cmp);
                let median = means[means.len() / 2];
                s.baseline_ms = Some(median);
                s.regressed = s.mean_ms > w.regression_factor * median && s.mean_ms > w.floor_ms;
            }
            history.push_back((now, s.mean_ms));
        }
        // Bounded: the policy's queries, and the statements of this sample.
        let names: Vec<&str> = self
            .policy
            .queries
            .iter()
            .map(|q| q.name.as_str())
            .chain(statements.iter().map(|s| s.label.as_str()))
            .collect();
        self.baselines.retain(|k, _| names.contains(&k.as_str()));
    }
}

fn add(mut a: Counters, b: &Counters) -> Counters {
    a.calls += b.calls;
    a.total_ms += b.total_ms;
    a.rows += b.rows;
    a.shared_hit += b.shared_hit;
    a.shared_read += b.shared_read;
    a
}

fn sum_by_query(snap: &Snapshot) -> HashMap<i64, Counters> {
    let mut out: HashMap<i64, Counters> = HashMap::new();
    for ((id, _, _), c) in &snap.entries {
        let e = out.entry(*id).or_default();
        *e = add(*e, c);
    }
    out
}

fn figures_for(
    label: String,
    named: bool,
    text: String,
    c: &Counters,
    budget_ms: f64,
) -> StatementFigures {
    let mean = c.mean_ms();
    StatementFigures {
        label,
        named,
        text,
        calls: c.calls,
        mean_ms: mean,
        rows: c.rows,
        shared_hit: c.shared_hit,
        shared_read: c.shared_read,
        budget_ms,
        over_budget: mean > budget_ms,
        baseline_ms: None,
        regressed: false,
        plan: None,
        plan_changed: false,
    }
}

/// Statements that are not the application's queries, never judged against a query budget:
/// transaction control, settings, DDL and maintenance (CREATE, ANALYZE, VACUUM, COPY, ...),
/// and reads of the statistics themselves (pgwarden's and other monitors').
fn is_utility(text: &str) -> bool {
    let t = text.trim_start().to_ascii_uppercase();
    [
        "BEGIN",
        "START TRANSACTION",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        "SET ",
        "RESET",
        "SHOW",
        "EXPLAIN",
        "PREPARE",
        "DEALLOCATE",
        "DISCARD",
        "CREATE",
        "ALTER",
        "DROP",
        "TRUNCATE",
        "ANALYZE",
        "VACUUM",
        "CLUSTER",
        "REINDEX",
        "REFRESH",
        "COPY",
        "CALL",
        "DO ",
        "GRANT",
        "REVOKE",
        "COMMENT",
        "LOCK",
        "CHECKPOINT",
        "LISTEN",
        "NOTIFY",
        "UNLISTEN",
    ]
    .iter()
    .any(|k| t.starts_with(k))
        || t.contains("PG_STAT_STATEMENTS")
}

/// Why `watch` could not take a sample.
pub type SampleError = DbError;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utility_statements_are_not_judged() {
        assert!(is_utility("  begin"));
        assert!(is_utility("SELECT * FROM pg_stat_statements"));
        assert!(!is_utility("SELECT id FROM users WHERE id = $1"));
    }
}
