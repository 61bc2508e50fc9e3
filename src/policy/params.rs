//! Parameter values of workload queries and their binding as SQL literals.
//!
//! Values are bound as untyped quoted literals (`'open'`, `'42'`, `'{"rust","go"}'`), which
//! PostgreSQL types from context exactly as it types `$1` parameters, so the plan is the custom
//! plan the application's parameters would get, and the measured SQL can be shown as it ran.

use crate::db::quote_literal;
use serde::{Deserialize, Serialize};

/// One parameter value from a policy file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// A TOML boolean, bound as `'true'` or `'false'`.
    Bool(bool),
    /// A TOML integer.
    Integer(i64),
    /// A TOML float, in Rust's shortest round-trip form.
    Float(f64),
    /// A TOML string, bound as a quoted literal.
    Text(String),
    /// A TOML array, bound as a PostgreSQL array literal (`'{"a","b"}'`).
    Array(Vec<ParamValue>),
}

impl ParamValue {
    /// The value as PostgreSQL's text input form (arrays as `{...}`).
    pub fn text_form(&self) -> String {
        match self {
            ParamValue::Bool(b) => b.to_string(),
            ParamValue::Integer(i) => i.to_string(),
            ParamValue::Float(f) => f.to_string(),
            ParamValue::Text(s) => s.clone(),
            ParamValue::Array(items) => {
                let inner: Vec<String> = items.iter().map(ParamValue::array_element).collect();
                format!("{{{}}}", inner.join(","))
            }
        }
    }

    fn array_element(&self) -> String {
        match self {
            ParamValue::Array(_) => self.text_form(),
            other => format!(
                "\"{}\"",
                other.text_form().replace('\\', "\\\\").replace('"', "\\\"")
            ),
        }
    }
}

/// A query's parameters cannot be bound.
#[derive(Debug, thiserror::Error)]
pub enum ParamError {
    /// The SQL does not tokenize, so its `$n` cannot be found.
    #[error(transparent)]
    Tokenize(#[from] crate::sql::SplitError),
    /// `$number` is used but only `given` values are.
    #[error("${number} has no value ({given} given)")]
    Missing {
        /// The placeholder's number (`$2` is 2).
        number: usize,
        /// How many values the parameter set holds.
        given: usize,
    },
}

/// The highest `$n` in `sql`.
pub fn placeholder_count(sql: &str) -> Result<usize, ParamError> {
    let found = crate::sql::placeholders(sql)?;
    Ok(found.iter().map(|(_, n)| *n).max().unwrap_or(0))
}

/// `sql` with each `$n` replaced by the literal of `values[n-1]`; strings, comments and dollar
/// quotes are left alone.
pub fn bind_literals(sql: &str, values: &[ParamValue]) -> Result<String, ParamError> {
    let found = crate::sql::placeholders(sql)?;
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    for (range, n) in found {
        let value = values.get(n.wrapping_sub(1)).ok_or(ParamError::Missing {
            number: n,
            given: values.len(),
        })?;
        out.push_str(&sql[last..range.start]);
        out.push_str(&quote_literal(&value.text_form()));
        last = range.end;
    }
    out.push_str(&sql[last..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_untyped_literals() {
        let sql = "SELECT * FROM t WHERE a = $1 AND b > $2 AND c @> $3 AND d = '$1' -- $2\n";
        let got = bind_literals(
            sql,
            &[
                ParamValue::Text("it's".into()),
                ParamValue::Integer(42),
                ParamValue::Array(vec![
                    ParamValue::Text("rust".into()),
                    ParamValue::Text("c\"q".into()),
                ]),
            ],
        )
        .unwrap();
        assert_eq!(
            got,
            "SELECT * FROM t WHERE a = 'it''s' AND b > '42' AND c @> E'{\"rust\",\"c\\\\\"q\"}' AND d = '$1' -- $2\n"
        );
    }

    #[test]
    fn missing_value_is_an_error() {
        assert!(matches!(
            bind_literals("SELECT $2", &[ParamValue::Bool(true)]),
            Err(ParamError::Missing {
                number: 2,
                given: 1
            })
        ));
        assert_eq!(placeholder_count("SELECT $1, $3, '$9'").unwrap(), 3);
    }
}
