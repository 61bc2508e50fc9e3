//! The plan a statement gets now, for a statement that needs attention: the generic plan
//! (`plan_cache_mode = force_generic_plan`, parameters NULL), as one line of node labels and a
//! fingerprint that says when it changed. Plans only; runs nothing.

use postgres::{Client, SimpleQueryMessage};
use std::hash::{Hash, Hasher};

/// The prepared statement's name while the plan is read.
const PREPARED: &str = "pgwarden_plan";

/// A generic plan in one line, and its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericPlan {
    /// The nodes, outermost first: `Aggregate > Seq Scan on items`.
    pub summary: String,
    /// Equal for equal plans (node types, relations and indexes).
    pub fingerprint: u64,
}

/// The generic plan of `sql` (with `$n` parameters, as pg_stat_statements normalizes it); `None`
/// when it does not prepare (a parameter whose type cannot be inferred, a utility statement).
pub fn generic_plan(client: &mut Client, sql: &str) -> Option<GenericPlan> {
    let params = crate::policy::placeholder_count(sql).unwrap_or(0);
    let args = if params == 0 {
        String::new()
    } else {
        format!("({})", vec!["NULL"; params].join(", "))
    };
    let batch = format!(
        "BEGIN READ ONLY;\nSET LOCAL plan_cache_mode = force_generic_plan;\n\
         PREPARE {PREPARED} AS {sql};\nEXPLAIN (FORMAT JSON) EXECUTE {PREPARED}{args};\nROLLBACK"
    );
    let result = client.simple_query(&batch);
    if result.is_err() {
        // The batch stopped inside its transaction.
        let _ = client.batch_execute("ROLLBACK");
    }
    let _ = client.batch_execute(&format!("DEALLOCATE {PREPARED}"));
    let messages = result.ok()?;
    let text = messages.into_iter().find_map(|m| match m {
        SimpleQueryMessage::Row(r) => r.get(0).map(String::from),
        _ => None,
    });
    let explain = crate::explain::parse(&text?).ok()?;
    let nodes = explain.plan.walk();
    let summary = nodes
        .iter()
        .map(|n| n.label())
        .collect::<Vec<_>>()
        .join(" > ");
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for n in &nodes {
        (&n.node_type, &n.relation_name, &n.index_name).hash(&mut h);
    }
    Some(GenericPlan {
        summary,
        fingerprint: h.finish(),
    })
}

/// The `plan` findings that need no migrations or shadow: INVALID, duplicate, redundant and
/// unused indexes, read from the live catalog alone.
pub fn live_findings(
    client: &mut Client,
    settings: &crate::diff::DiffSettings,
) -> Result<Vec<crate::finding::Finding>, crate::db::DbError> {
    use crate::db::DbContext;
    use crate::finding as rules;
    let live = crate::catalog::reader::read(client, true)
        .db_context(|| "cannot read the catalog for the index findings")?;
    let (findings, _) = crate::diff::compare(&live, &live, settings);
    Ok(findings
        .into_iter()
        .filter(|f| {
            [
                rules::INVALID_INDEX,
                rules::DUPLICATE_INDEX,
                rules::REDUNDANT_INDEX,
                rules::UNUSED_INDEX,
            ]
            .contains(&f.rule)
        })
        .collect())
}

/// Plans read per sample for statements outside the policy (bounded cost).
const PLANS_PER_SAMPLE: usize = 5;

impl super::Watcher {
    /// The generic plan of each policy query, and of other statements that need attention.
    pub(super) fn read_plans(
        &mut self,
        client: &mut Client,
        statements: &mut [super::StatementFigures],
    ) {
        let mut others = 0;
        for s in statements.iter_mut() {
            let sql = if s.named {
                match self.policy.queries.iter().find(|q| q.name == s.label) {
                    Some(q) => q.sql.clone(),
                    None => continue,
                }
            } else if (s.over_budget || s.regressed) && others < PLANS_PER_SAMPLE {
                others += 1;
                // The whole text, with its line breaks: the sample's copy is cut and collapsed.
                let id = s
                    .label
                    .strip_prefix("queryid:")
                    .and_then(|i| i.parse().ok());
                match id.map(|id| crate::statements::full_text(client, id)) {
                    Some(Ok(Some(text))) => text,
                    _ => continue,
                }
            } else {
                continue;
            };
            if let Some(plan) = generic_plan(client, &sql) {
                let before = self.plans.insert(s.label.clone(), plan.fingerprint);
                s.plan_changed = before.is_some_and(|b| b != plan.fingerprint);
                s.plan = Some(plan.summary);
            }
        }
        let live: Vec<&str> = statements.iter().map(|s| s.label.as_str()).collect();
        let names: Vec<&str> = self
            .policy
            .queries
            .iter()
            .map(|q| q.name.as_str())
            .collect();
        self.plans
            .retain(|k, _| live.contains(&k.as_str()) || names.contains(&k.as_str()));
    }
}
