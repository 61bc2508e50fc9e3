//! Generic plans for statements whose parameters get no values: `PREPARE` under
//! `plan_cache_mode = force_generic_plan`, then `EXPLAIN EXECUTE` with NULLs (a generic plan
//! ignores the values; `EXPLAIN (GENERIC_PLAN)` exists only from PostgreSQL 16). Prepared
//! anew per measurement, in the lab's session: a plan is cached, and only a fresh PREPARE sees
//! the candidate in place (built, or HypoPG's hypothetical index in the same session).
//!
//! pg_stat_statements normalizes a typed constant (`interval '1 day'`) to `interval $2`, which
//! PREPARE rejects; [`typed_constants`] writes it `$2::interval`.

use super::error::AdviseError;
use crate::check::CheckError;
use crate::sql::SplitError;
use postgres::{Client, SimpleQueryMessage};

/// Type names that may stand before a constant (`interval '1 day'`), longest first, as words.
const TYPE_NAMES: &[&[&str]] = &[
    &["timestamp", "with", "time", "zone"],
    &["timestamp", "without", "time", "zone"],
    &["time", "with", "time", "zone"],
    &["time", "without", "time", "zone"],
    &["double", "precision"],
    &["character", "varying"],
    &["interval"],
    &["timestamptz"],
    &["timestamp"],
    &["timetz"],
    &["time"],
    &["date"],
    &["numeric"],
    &["decimal"],
    &["bigint"],
    &["integer"],
    &["int"],
    &["int2"],
    &["int4"],
    &["int8"],
    &["smallint"],
    &["real"],
    &["float4"],
    &["float8"],
    &["boolean"],
    &["bool"],
    &["text"],
    &["varchar"],
    &["uuid"],
    &["jsonb"],
    &["json"],
    &["inet"],
    &["cidr"],
    &["bytea"],
    &["money"],
];

/// The prepared statement's name while a generic plan is read; deallocated right after.
const PREPARED: &str = "pgwarden_generic";

/// `sql` with each typed constant `<type> $n` written `$n::<type>`; everything else, strings
/// and comments included, is left as it is.
pub fn typed_constants(sql: &str) -> Result<String, SplitError> {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut last = 0;
    for (range, _) in crate::sql::placeholders(sql)? {
        let before = &sql[last..range.start];
        let placeholder = &sql[range.clone()];
        match type_before(before) {
            Some((keep, type_name)) => {
                out.push_str(&before[..keep]);
                out.push_str(placeholder);
                out.push_str("::");
                out.push_str(&type_name);
            }
            None => {
                out.push_str(before);
                out.push_str(placeholder);
            }
        }
        last = range.end;
    }
    out.push_str(&sql[last..]);
    Ok(out)
}

/// When `before` ends with a type name (then white space), the length of what precedes the
/// name and the name; the name must start a word.
fn type_before(before: &str) -> Option<(usize, String)> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '$' || c == '"' || c == '.';
    'names: for words in TYPE_NAMES {
        let mut rest = before;
        for (i, word) in words.iter().rev().enumerate() {
            let trimmed = rest.trim_end();
            if i == 0 && trimmed.len() == rest.len() {
                // The placeholder must be apart from the name (`interval $1`).
                continue 'names;
            }
            let at = match trimmed.len().checked_sub(word.len()) {
                Some(at) if trimmed.is_char_boundary(at) => at,
                _ => continue 'names,
            };
            if !trimmed[at..].eq_ignore_ascii_case(word) {
                continue 'names;
            }
            rest = &trimmed[..at];
            if i + 1 < words.len() && rest.trim_end().len() == rest.len() {
                continue 'names;
            }
        }
        if rest.chars().next_back().is_some_and(is_word) {
            continue;
        }
        return Some((rest.len(), words.join(" ")));
    }
    None
}

/// The planner's total cost of `sql`'s generic plan in `client`'s session (where a HypoPG
/// index, or a build, is in place), in a READ ONLY transaction that is rolled back. `sql` must
/// be one statement (the caller checked it) with typed constants rewritten.
pub fn generic_cost(client: &mut Client, sql: &str) -> Result<f64, AdviseError> {
    let count = crate::policy::placeholder_count(sql)?;
    let execute = if count == 0 {
        format!("EXPLAIN (FORMAT JSON) EXECUTE {PREPARED}")
    } else {
        format!(
            "EXPLAIN (FORMAT JSON) EXECUTE {PREPARED}({})",
            vec!["NULL"; count].join(", ")
        )
    };
    let batch = format!(
        "BEGIN READ ONLY;\nSET LOCAL plan_cache_mode = force_generic_plan;\n\
         SET LOCAL statement_timeout = '10s';\nPREPARE {PREPARED} AS {sql};\n{execute};\n\
         DEALLOCATE {PREPARED};\nROLLBACK"
    );
    let messages = match client.simple_query(&batch) {
        Ok(m) => m,
        Err(e) => {
            // Prepared statements outlive a rollback: drop it (it may not exist).
            let _ = client.batch_execute("ROLLBACK");
            let _ = client.batch_execute(&format!("DEALLOCATE {PREPARED}"));
            return Err(CheckError::Query(e).into());
        }
    };
    let plan = messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(crate::explain::parse),
            _ => None,
        })
        .ok_or(CheckError::PlanningTimeout)?
        .map_err(CheckError::Plan)?;
    Ok(plan.plan.total_cost)
}

/// Whether `sql` is one read-only statement, so that it can go into a batch: pg_stat_statements
/// text is input pgwarden did not write.
pub fn single_read_only(sql: &str) -> bool {
    crate::sql::split(sql).is_ok_and(|s| s.statements.len() == 1)
        && crate::sql::data_changing_keyword(sql).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_constants_become_casts() {
        let cases = [
            (
                "SELECT id FROM orders WHERE placed_at > now() - interval $2",
                "SELECT id FROM orders WHERE placed_at > now() - $2::interval",
            ),
            (
                "SELECT 1 FROM t WHERE d >= DATE $1 AND ts < timestamp with time zone $2",
                "SELECT 1 FROM t WHERE d >= $1::date AND ts < $2::timestamp with time zone",
            ),
            (
                "SELECT 1 FROM t WHERE x = numeric\n  $1",
                "SELECT 1 FROM t WHERE x = $1::numeric",
            ),
        ];
        for (sql, want) in cases {
            assert_eq!(typed_constants(sql).unwrap(), want, "{sql}");
        }
    }

    #[test]
    fn other_placeholders_strings_and_comments_are_left_alone() {
        let unchanged = [
            "SELECT id FROM t WHERE a = $1 ORDER BY b LIMIT $2 OFFSET $3",
            "SELECT id FROM t WHERE a IN ($1, $2) AND b LIKE $3",
            // A column that is named like a type: the placeholder is not its constant.
            "SELECT id FROM t WHERE t.date = $1 AND my_interval > $2",
            "SELECT 'interval $1', $1 FROM t -- date $2",
            "SELECT \"interval\" $1",
            "SELECT intervals $1",
            "SELECT interval$1",
        ];
        for sql in unchanged {
            assert_eq!(typed_constants(sql).unwrap(), sql, "{sql}");
        }
    }

    #[test]
    fn only_one_read_only_statement_goes_into_a_batch() {
        assert!(single_read_only("SELECT 1 FROM t WHERE a = $1"));
        assert!(!single_read_only("SELECT 1; COMMIT"));
        assert!(!single_read_only(
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d"
        ));
    }
}
