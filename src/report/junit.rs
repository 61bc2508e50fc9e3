//! JUnit XML for `check --junit FILE`: one test case per query; over budget is a failure,
//! a query that could not be measured an error.

use super::model::*;
use crate::explain::Verdict;
use std::fmt::Write;

pub(super) use crate::escape::xml as escape;

/// The report as a JUnit `<testsuites>` document.
pub fn junit(r: &CheckReport) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"pgwarden check\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
        r.queries.len(),
        r.over_budget,
        r.errors
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"query budget ({})\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
        escape(&r.database),
        r.queries.len(),
        r.over_budget,
        r.errors
    );
    for q in &r.queries {
        let time = q.verdict.as_ref().map_or(0.0, |v| v.mean_ms / 1000.0);
        let _ = write!(
            out,
            "    <testcase classname=\"pgwarden.check\" name=\"{}\" time=\"{time:.4}\"",
            escape(&q.name)
        );
        match (&q.error, &q.verdict) {
            (Some(e), _) => {
                let _ = writeln!(
                    out,
                    ">\n      <error message=\"{}\"/>\n    </testcase>",
                    escape(e)
                );
            }
            (None, Some(v)) if v.verdict == Verdict::Over => {
                let msg = v.reasons.join("; ");
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    escape(&msg),
                    escape(&format!(
                        "{}\nwhy: {}\nsql: {}",
                        msg,
                        q.findings.summary(),
                        q.sql
                    ))
                );
            }
            _ => {
                let _ = writeln!(out, "/>");
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
