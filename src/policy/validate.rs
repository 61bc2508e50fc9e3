//! What a policy must hold beyond its shape: a supported version, finite positive numbers, one
//! statement per workload query, parameter sets that fit the placeholders.

use super::{POLICY_VERSION, Policy, WorkloadQuery, params};

pub(super) fn validate(p: &Policy) -> Result<(), String> {
    if p.version != POLICY_VERSION {
        return Err(format!(
            "version {} is not supported; this pgwarden reads version {POLICY_VERSION}",
            p.version
        ));
    }
    positive_numbers(p)?;
    p.advise.validate()?;
    lint(&p.lint)?;
    if p.budget.mean_ms <= 0.0 || p.check.runs == 0 || p.check.timeout_factor < 1.0 {
        return Err(
            "budget.mean_ms must be > 0, check.runs >= 1 and check.timeout_factor >= 1".into(),
        );
    }
    let w = &p.watch;
    if w.interval.is_zero()
        || !(w.regression_factor > 1.0 && w.regression_factor.is_finite())
        || !(w.floor_ms >= 0.0 && w.floor_ms.is_finite())
        || w.top == 0
        || w.baseline_window < w.interval
    {
        return Err(
            "[watch] needs interval > 0, regression_factor > 1, floor_ms >= 0, top >= 1 and baseline_window >= interval".into(),
        );
    }
    replicas(p)?;
    for sink in &p.alerts {
        let url = match sink {
            crate::policy::AlertSink::Webhook { url } => url,
            crate::policy::AlertSink::Pagerduty {
                routing_key_env,
                url,
            } => {
                if routing_key_env.is_empty()
                    || !routing_key_env
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    return Err(format!(
                        "[[alert]] pagerduty: routing_key_env `{}` must name an environment variable (letters, digits, _); the key itself never goes in a policy file",
                        crate::escape::inline(routing_key_env)
                    ));
                }
                url
            }
        };
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.contains(char::is_whitespace)
        {
            return Err(format!(
                "[[alert]] url `{}` must be an http:// or https:// URL",
                crate::escape::inline(url)
            ));
        }
    }
    for ddl in &p.plan.required_indexes {
        let ok = crate::sql::split(ddl)
            .is_ok_and(|f| matches!(f.statements.as_slice(), [only] if only.index_build.is_some()));
        if !ok {
            return Err(format!(
                "[plan] required_indexes entry `{}` must be exactly one named CREATE INDEX statement",
                crate::escape::inline(ddl)
            ));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for q in &p.queries {
        if !seen.insert(q.name.as_str()) {
            return Err(format!(
                "query `{}` is defined twice; names must be unique",
                q.name
            ));
        }
        one_statement(q)?;
        let expected =
            params::placeholder_count(&q.sql).map_err(|e| format!("query `{}`: {e}", q.name))?;
        if expected > 0 && q.params.is_empty() {
            return Err(format!(
                "query `{}` uses ${expected} but has no `params` sets",
                q.name
            ));
        }
        if let Some(set) = q.params.iter().find(|set| set.len() != expected) {
            return Err(format!(
                "query `{}` takes {expected} parameter(s) but a `params` set has {}",
                q.name,
                set.len()
            ));
        }
    }
    Ok(())
}

/// `[lint]`: every `disable` entry is a rule id, `small_table_rows` is at least 1.
fn lint(l: &super::LintPolicy) -> Result<(), String> {
    for id in &l.disable {
        id.parse::<crate::rules::RuleId>()
            .map_err(|e| format!("[lint] disable: {e}"))?;
    }
    match l.small_table_rows {
        Some(n) if n < 1 => Err(format!(
            "[lint] small_table_rows is {n}; it must be a row count of 1 or more (default 10000)"
        )),
        _ => Ok(()),
    }
}

/// Every number of the policy is finite, and a budget, ratio or size is above zero: TOML
/// accepts `nan` and `inf`, with which every comparison would pass.
fn positive_numbers(p: &Policy) -> Result<(), String> {
    let mut numbers: Vec<(String, Option<f64>)> = vec![
        ("budget.mean_ms".into(), Some(p.budget.mean_ms)),
        ("budget.p95_ms".into(), p.budget.p95_ms),
        ("budget.max_cost".into(), Some(p.budget.max_cost)),
        ("check.timeout_factor".into(), Some(p.check.timeout_factor)),
        ("plan.bloat_ratio".into(), p.plan.bloat_ratio),
        ("plan.bloat_min_mb".into(), p.plan.bloat_min_mb),
        ("advise.max_total_mb".into(), p.advise.max_total_mb),
        (
            "advise.throwaway_max_mb".into(),
            Some(p.advise.throwaway_max_mb),
        ),
    ];
    for q in &p.queries {
        let name = crate::escape::inline(&q.name);
        numbers.push((format!("query `{name}` weight"), q.weight));
        numbers.push((format!("query `{name}` mean_ms"), q.mean_ms));
        numbers.push((format!("query `{name}` p95_ms"), q.p95_ms));
        numbers.push((format!("query `{name}` max_cost"), q.max_cost));
    }
    if let Some(days) = p.plan.unused_after_days
        && !(days.is_finite() && days >= 0.0)
    {
        return Err(format!(
            "plan.unused_after_days is {days}; it must be a finite number of days, 0 or more"
        ));
    }
    match numbers
        .into_iter()
        .find(|(_, v)| v.is_some_and(|v| !(v.is_finite() && v > 0.0)))
    {
        Some((what, v)) => Err(format!(
            "{what} is {}; it must be a finite number above zero",
            v.unwrap_or_default()
        )),
        None => Ok(()),
    }?;
    // A budget is at most a day: larger ones overflow the statement timeout derived from them.
    let day_ms = 86_400_000.0;
    let budgets = [Some(p.budget.mean_ms), p.budget.p95_ms]
        .into_iter()
        .chain(p.queries.iter().flat_map(|q| [q.mean_ms, q.p95_ms]));
    if let Some(ms) = budgets.flatten().find(|ms| *ms > day_ms) {
        return Err(format!(
            "a budget of {ms} ms is more than a day ({day_ms} ms); budgets are in milliseconds"
        ));
    }
    Ok(())
}

/// A workload query is exactly one statement that can run inside check's rolled-back
/// transaction: a second statement (`SELECT 1; COMMIT; DELETE ...`) would run outside it.
/// Comments around the statement are fine.
fn one_statement(q: &WorkloadQuery) -> Result<(), String> {
    let name = crate::escape::inline(&q.name);
    let split = crate::sql::split(&q.sql).map_err(|e| format!("query `{name}`: {e}"))?;
    match split.statements.as_slice() {
        [] => Err(format!("query `{name}` holds no SQL statement")),
        [only] if only.tx != crate::sql::TxRequirement::Transactional => Err(format!(
            "query `{name}` is `{}`, which cannot run inside check's rolled-back transaction; remove it from the workload",
            crate::escape::inline(only.text.split_whitespace().next().unwrap_or_default())
        )),
        [_] => Ok(()),
        [_, second, ..] => Err(format!(
            "query `{name}` holds {} statements (the second at line {}: `{}`); a workload query must be exactly one statement, so split it into separate [[query]] entries",
            split.statements.len(),
            second.line,
            crate::escape::inline(&second.text.chars().take(60).collect::<String>())
        )),
    }
}

/// `[[replica]]` entries: a name each, unique, and an environment variable's name.
fn replicas(p: &Policy) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for r in &p.replicas {
        if r.name.trim().is_empty() || r.name.chars().any(char::is_control) {
            return Err("[[replica]] name must be non-empty printable text".into());
        }
        if !seen.insert(r.name.as_str()) || r.name == "primary" {
            return Err(format!(
                "[[replica]] name `{}` is used twice (or is `primary`, the target's name); give each replica its own name",
                crate::escape::inline(&r.name)
            ));
        }
        let valid_env = !r.url_env.is_empty()
            && r.url_env
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_env {
            return Err(format!(
                "[[replica]] `{}`: url_env must name an environment variable (letters, digits, _), such as REPLICA1_URL; the URL itself never goes in a policy file",
                crate::escape::inline(&r.name)
            ));
        }
    }
    Ok(())
}
