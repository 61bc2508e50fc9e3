//! Workload sources besides the policy: a SQL file, and `pg_stat_statements`, whose normalized
//! queries get parameter values from the column statistics in `pg_stats` so their plans reflect
//! realistic selectivity (the rarest common value for equality, the upper tail of the histogram
//! for ranges, the rarest common element for containment; `LIMIT 100 OFFSET 0` for paging).

use super::error::AdviseError;
use super::shape::{self, Use};
use crate::db::DbContext;
use crate::policy::{ParamValue, WorkloadQuery};
use postgres::Client;
use std::collections::HashMap;

const STATS: &str = "SELECT most_common_vals::text, most_common_freqs, histogram_bounds::text, \
       most_common_elems::text, most_common_elem_freqs \
     FROM pg_stats WHERE tablename = $1 AND attname = $2 AND schemaname = ANY (current_schemas(false))";

/// Each SELECT of a SQL text (literal values, no placeholders), named `<source>:<line>`.
pub fn from_sql_text(text: &str, source: &str) -> Result<Vec<WorkloadQuery>, AdviseError> {
    let syntax = |cause| AdviseError::WorkloadSyntax {
        file: source.to_string(),
        cause,
    };
    // A byte-order mark (a file saved by some Windows editors) is not SQL.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let split = crate::sql::split(text).map_err(syntax)?;
    if split.statements.is_empty() {
        return Err(AdviseError::WorkloadEmpty(source.to_string()));
    }
    let mut out = Vec::new();
    for s in split.statements {
        if crate::sql::data_changing_keyword(&s.text).is_some() {
            return Err(AdviseError::WorkloadWrites {
                file: source.to_string(),
                line: s.line,
            });
        }
        if !crate::sql::placeholders(&s.text)
            .map_err(syntax)?
            .is_empty()
        {
            return Err(AdviseError::WorkloadParameters {
                file: source.to_string(),
                line: s.line,
            });
        }
        out.push(query(
            format!("{source}:{}", s.line),
            s.text,
            Vec::new(),
            None,
        ));
    }
    Ok(out)
}

pub(super) fn query(
    name: String,
    sql: String,
    params: Vec<Vec<ParamValue>>,
    weight: Option<f64>,
) -> WorkloadQuery {
    WorkloadQuery {
        name,
        sql,
        params,
        weight,
        mean_ms: None,
        p95_ms: None,
        max_cost: None,
        allow_writes: false,
    }
}

/// Values for `$1..$n` of a normalized query, from `pg_stats`; or why there are none, which
/// becomes the statement's note.
pub(super) fn parameter_values(
    client: &mut Client,
    sql: &str,
    columns: &HashMap<String, Vec<String>>,
) -> Result<Vec<ParamValue>, String> {
    let count = crate::policy::placeholder_count(sql).map_err(|e| e.to_string())?;
    if count == 0 {
        return Ok(Vec::new());
    }
    let shape = shape::shape(sql, columns)?;
    let mut values = Vec::with_capacity(count);
    for n in 1..=count {
        // Paging parameters: a typical first page.
        if shape.limit_param == Some(n) {
            values.push(ParamValue::Integer(100));
            continue;
        }
        if shape.offset_param == Some(n) {
            values.push(ParamValue::Integer(0));
            continue;
        }
        let uses: Vec<&shape::ParamUse> = shape.params.iter().filter(|p| p.number == n).collect();
        let u = uses
            .first()
            .ok_or(format!("${n} is not compared with a column"))?;
        let rank = shape
            .params
            .iter()
            .filter(|p| p.table == u.table && p.column == u.column && p.number < n)
            .count();
        let row = client
            .query_opt(STATS, &[&u.table, &u.column])
            .db_context(|| format!("cannot read pg_stats for {}.{}", u.table, u.column))
            .map_err(|e| e.to_string())?
            .ok_or(format!(
                "no statistics for {}.{} (run ANALYZE)",
                u.table, u.column
            ))?;
        let stats = ColumnStats {
            mcv: row
                .get::<_, Option<String>>(0)
                .map(|m| parse_array(&m))
                .unwrap_or_default(),
            freqs: row.get::<_, Option<Vec<f32>>>(1).unwrap_or_default(),
            histogram: row
                .get::<_, Option<String>>(2)
                .map(|h| parse_array(&h))
                .unwrap_or_default(),
            elems: row
                .get::<_, Option<String>>(3)
                .map(|e| parse_array(&e))
                .unwrap_or_default(),
            elem_freqs: row.get::<_, Option<Vec<f32>>>(4).unwrap_or_default(),
        };
        let value = stats.typical_value(&u.usage, rank);
        values.push(value.ok_or(format!(
            "no typical value for {}.{} in pg_stats",
            u.table, u.column
        ))?);
    }
    Ok(values)
}

/// One column's row of `pg_stats`.
struct ColumnStats {
    mcv: Vec<String>,
    freqs: Vec<f32>,
    histogram: Vec<String>,
    elems: Vec<String>,
    elem_freqs: Vec<f32>,
}

impl ColumnStats {
    /// A value for a placeholder used as `usage`; `rank` counts earlier placeholders on the
    /// same column (so `>= $2 AND < $3` get consecutive histogram bounds).
    fn typical_value(&self, usage: &Use, rank: usize) -> Option<ParamValue> {
        match usage {
            Use::Contains => rarest(&self.elems, &self.elem_freqs).map(|e| {
                ParamValue::Text(format!(
                    "{{\"{}\"}}",
                    e.replace('\\', "\\\\").replace('"', "\\\"")
                ))
            }),
            Use::Range => {
                let at = (self.histogram.len() * 9 / 10 + rank)
                    .min(self.histogram.len().saturating_sub(1));
                self.histogram.get(at).cloned().map(ParamValue::Text)
            }
            _ => rarest(&self.mcv, &self.freqs)
                .or_else(|| self.histogram.get(self.histogram.len() / 2).cloned())
                .map(ParamValue::Text),
        }
    }
}

/// The least frequent of the most common values.
fn rarest(values: &[String], freqs: &[f32]) -> Option<String> {
    values
        .iter()
        .zip(freqs)
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(v, _)| v.clone())
}

/// Parses PostgreSQL's text form of a one-dimensional array: `{a,"b c","d\"e"}`.
pub fn parse_array(text: &str) -> Vec<String> {
    let inner = text.trim().trim_start_matches('{').trim_end_matches('}');
    let mut out = Vec::new();
    let (mut cur, mut quoted, mut chars) = (String::new(), false, inner.chars());
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' => cur.extend(chars.next()),
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    if !inner.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_text_is_parsed() {
        assert_eq!(
            parse_array("{a,\"b c\",\"d\\\"e\"}"),
            vec!["a", "b c", "d\"e"]
        );
        assert!(parse_array("{}").is_empty());
    }

    #[test]
    fn rarest_common_value() {
        let v = vec![
            "completed".to_string(),
            "draft".to_string(),
            "open".to_string(),
        ];
        assert_eq!(rarest(&v, &[0.7, 0.03, 0.08]).as_deref(), Some("draft"));
    }

    #[test]
    fn sql_files_become_named_queries() {
        let q = from_sql_text("SELECT 1;\n\nSELECT * FROM t WHERE a = 2;", "w.sql").unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(q[1].name, "w.sql:3");
        assert!(matches!(
            from_sql_text("SELECT 1;\nDELETE FROM t;", "w.sql"),
            Err(AdviseError::WorkloadWrites { line: 2, .. })
        ));
        let params = from_sql_text("SELECT * FROM t WHERE a = $1;", "w.sql").unwrap_err();
        assert!(matches!(
            params,
            AdviseError::WorkloadParameters { line: 1, .. }
        ));
        assert!(
            params.to_string().starts_with("w.sql:1: ") && params.to_string().contains("params")
        );
        // A byte-order mark is not a statement; a file of nothing but comments is an error.
        let bom = from_sql_text("\u{feff}SELECT * FROM t WHERE a = 2;", "w.sql").unwrap();
        assert_eq!(bom[0].sql, "SELECT * FROM t WHERE a = 2");
        let empty = from_sql_text("-- nothing yet\n", "w.sql").unwrap_err();
        assert!(
            matches!(empty, AdviseError::WorkloadEmpty(_)) && empty.to_string().contains("w.sql"),
            "{empty}"
        );
    }
}
