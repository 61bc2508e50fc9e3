//! Budget verdicts: pure functions from measured times (or planner costs) to a verdict.
//! A budget is an upper bound: a mean equal to the budget is within it.

use serde::Serialize;

/// The limits one query is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Budget {
    /// Highest allowed mean time, ms.
    pub mean_ms: f64,
    /// Highest allowed 95th percentile, ms (optional).
    pub p95_ms: Option<f64>,
}

/// Times measured for one query (all parameter sets together).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Measurement {
    /// Execution times in ms of every run that finished, all parameter sets together.
    pub samples_ms: Vec<f64>,
    /// Set when a run was cut by `statement_timeout` after this many ms.
    pub cut_at_ms: Option<f64>,
}

/// Whether a query is within its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every limit held (a value equal to its limit is within).
    Within,
    /// A limit was exceeded or a run was cut by the timeout; `reasons` says which.
    Over,
}

/// The judgement of one query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetVerdict {
    /// Within or over.
    pub verdict: Verdict,
    /// Mean in ms, rounded to the microsecond (in explain mode: the mean planner cost).
    pub mean_ms: f64,
    /// 95th percentile (nearest rank) in ms (in explain mode: of planner costs; from
    /// `pg_stat_statements` an estimate).
    pub p95_ms: f64,
    /// Slowest run in ms (in explain mode: the highest planner cost).
    pub max_ms: f64,
    /// Why it is over (empty when within).
    pub reasons: Vec<String>,
}

/// Judges measured times. A run cut by the timeout is over budget, with the timeout counted
/// as its (lower-bound) time.
pub fn judge_times(budget: &Budget, m: &Measurement) -> BudgetVerdict {
    let mut samples = m.samples_ms.clone();
    if let Some(cut) = m.cut_at_ms {
        samples.push(cut);
    }
    let mean = if samples.is_empty() {
        0.0
    } else {
        samples.iter().sum::<f64>() / samples.len() as f64
    };
    let p95 = percentile(&samples, 0.95);
    let max = samples.iter().copied().fold(0.0, f64::max);
    let cut = m
        .cut_at_ms
        .map(|c| format!("cut by statement_timeout after {}", crate::units::ms(c)));
    judge_summary(budget, Summary { mean, p95, max }, cut, "p95")
}

/// Mean, p95 and max of a query's times, ms.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Mean time, ms.
    pub mean: f64,
    /// 95th percentile time, ms (exact or estimated; the caller's `p95_label` says which).
    pub p95: f64,
    /// Slowest time, ms.
    pub max: f64,
}

/// Judges summarised times; `first_reason` (a timeout, say) makes it over budget on its own;
/// `p95_label` names how p95 was obtained ("p95", "p95 (estimated)").
pub fn judge_summary(
    budget: &Budget,
    t: Summary,
    first_reason: Option<String>,
    p95_label: &str,
) -> BudgetVerdict {
    let mut reasons: Vec<String> = first_reason.into_iter().collect();
    if t.mean > budget.mean_ms {
        let (mean, limit) = crate::units::ms_pair(t.mean, budget.mean_ms);
        reasons.push(format!("mean {mean} > budget {limit}"));
    }
    if let Some(limit) = budget.p95_ms
        && t.p95 > limit
    {
        let (p95, limit) = crate::units::ms_pair(t.p95, limit);
        reasons.push(format!("{p95_label} {p95} > budget {limit}"));
    }
    BudgetVerdict {
        verdict: if reasons.is_empty() {
            Verdict::Within
        } else {
            Verdict::Over
        },
        mean_ms: to_microsecond(t.mean),
        p95_ms: to_microsecond(t.p95),
        max_ms: to_microsecond(t.max),
        reasons,
    }
}

/// Judges planner costs (explain mode): the highest cost over the parameter sets.
pub fn judge_cost(max_cost: f64, costs: &[f64]) -> BudgetVerdict {
    let worst = costs.iter().copied().fold(0.0, f64::max);
    let mean = if costs.is_empty() {
        0.0
    } else {
        costs.iter().sum::<f64>() / costs.len() as f64
    };
    let over = worst > max_cost;
    BudgetVerdict {
        verdict: if over { Verdict::Over } else { Verdict::Within },
        mean_ms: to_microsecond(mean),
        p95_ms: to_microsecond(percentile(costs, 0.95)),
        max_ms: to_microsecond(worst),
        reasons: if over {
            vec![format!("planner cost {worst:.0} > budget {max_cost:.0}")]
        } else {
            Vec::new()
        },
    }
}

/// Nearest-rank percentile; 0 for no samples.
fn percentile(samples: &[f64], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// To the microsecond, the precision EXPLAIN reports (more digits would be float noise).
fn to_microsecond(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Budget = Budget {
        mean_ms: 100.0,
        p95_ms: Some(150.0),
    };

    fn times(samples: &[f64]) -> Measurement {
        Measurement {
            samples_ms: samples.to_vec(),
            cut_at_ms: None,
        }
    }

    #[test]
    fn under_budget_is_within() {
        let v = judge_times(&BUDGET, &times(&[10.0, 20.0, 30.0]));
        assert_eq!(v.verdict, Verdict::Within);
        assert_eq!(v.mean_ms, 20.0);
        assert!(v.reasons.is_empty());
    }

    #[test]
    fn exactly_at_the_budget_is_within_and_just_above_is_over() {
        assert_eq!(
            judge_times(&BUDGET, &times(&[100.0, 100.0])).verdict,
            Verdict::Within
        );
        let v = judge_times(&BUDGET, &times(&[100.0, 100.02]));
        assert_eq!(v.verdict, Verdict::Over);
        assert_eq!(v.reasons[0], "mean 100.010 ms > budget 100.000 ms");
    }

    #[test]
    fn mean_over_multiple_parameter_sets() {
        // One fast parameter set and one slow one: the mean over both decides.
        let v = judge_times(&BUDGET, &times(&[5.0, 5.0, 5.0, 250.0, 260.0, 255.0]));
        assert_eq!(v.verdict, Verdict::Over);
        assert_eq!(v.mean_ms, 130.0);
        assert_eq!(v.max_ms, 260.0);
        assert_eq!(v.p95_ms, 260.0);
    }

    #[test]
    fn p95_budget_catches_a_tail_the_mean_hides() {
        let mut s = vec![10.0; 19];
        s.push(400.0);
        let v = judge_times(&BUDGET, &times(&s));
        assert_eq!(v.mean_ms, 29.5);
        assert_eq!(v.verdict, Verdict::Within, "p95 of 20 samples is the 19th");
        s.push(400.0);
        let v = judge_times(&BUDGET, &times(&s));
        assert_eq!(v.verdict, Verdict::Over);
        assert!(v.reasons.iter().any(|r| r.starts_with("p95")));
    }

    #[test]
    fn a_timed_out_run_is_over_budget_not_a_crash() {
        let v = judge_times(
            &BUDGET,
            &Measurement {
                samples_ms: vec![],
                cut_at_ms: Some(1000.0),
            },
        );
        assert_eq!(v.verdict, Verdict::Over);
        assert!(v.reasons[0].contains("statement_timeout after 1 s"));
        assert_eq!(v.mean_ms, 1000.0);
    }

    #[test]
    fn cost_verdicts() {
        assert_eq!(judge_cost(1000.0, &[10.0, 999.0]).verdict, Verdict::Within);
        let v = judge_cost(1000.0, &[10.0, 1500.0]);
        assert_eq!(v.verdict, Verdict::Over);
        assert!(v.reasons[0].contains("1500"));
    }
}
