//! Lint output: human (source line and caret), GitHub Actions annotations, SARIF 2.1.0 and
//! JUnit. JSON goes through the common envelope.

use super::junit::escape;
use super::model::*;
use crate::escape::inline;
use crate::finding::Severity;
use serde_json::json;
use std::fmt::Write;

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

pub fn human(r: &LintReport) -> String {
    let mut out = String::new();
    for f in &r.findings {
        let _ = writeln!(
            out,
            "{}:{}:{}: {}[{}]: {}",
            inline(&f.file),
            f.line,
            f.column,
            level(f.severity),
            f.rule,
            inline(&f.message)
        );
        if !f.source.is_empty() {
            let _ = writeln!(out, "    | {}", inline(&f.source));
            let _ = writeln!(
                out,
                "    | {}^",
                " ".repeat(f.column.saturating_sub(1) as usize)
            );
        }
        if let Some(help) = &f.help {
            let _ = writeln!(out, "    = help: {}", inline(help));
        }
    }
    for i in &r.ignored {
        let _ = writeln!(
            out,
            "ignored: {} at {}:{} — {}",
            i.rule,
            inline(&i.file),
            i.line,
            i.reason
                .as_deref()
                .map_or_else(|| "(no reason given)".to_string(), inline)
        );
    }
    if r.database.is_some() && !r.statements.is_empty() {
        out.push_str("\nlocks, statement by statement:\n");
        for s in &r.statements {
            let tables: Vec<String> = s
                .tables
                .iter()
                .zip(&s.rows)
                .map(|(t, rows)| match rows {
                    Some(n) => format!("{t} (~{n:.0} rows)"),
                    None => t.clone(),
                })
                .collect();
            let _ = writeln!(
                out,
                "  {}:{}: {} -- {} on {}",
                inline(&s.file),
                s.line,
                inline(&s.statement),
                s.lock,
                if tables.is_empty() {
                    "-".into()
                } else {
                    inline(&tables.join(", "))
                }
            );
        }
    }
    let count = |s| r.findings.iter().filter(|f| f.severity == s).count();
    let mut skipped = Vec::new();
    if !r.ignored.is_empty() {
        skipped.push(format!("{} ignored inline", r.ignored.len()));
    }
    if r.on_new_tables > 0 {
        skipped.push(format!(
            "{} locking finding(s) on tables created in this run dropped",
            r.on_new_tables
        ));
    }
    let skipped = if skipped.is_empty() {
        String::new()
    } else {
        format!(" ({})", skipped.join(", "))
    };
    let _ = writeln!(
        out,
        "{} file(s) linted{}: {} error(s), {} warning(s), {} note(s){skipped}; failing at {}",
        r.files.len(),
        r.database
            .as_ref()
            .map(|d| format!(" against {d}"))
            .unwrap_or_default(),
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Note),
        level(r.fail_on)
    );
    out
}

/// `::error file=...,line=...,col=...,title=rule::message` lines.
pub fn github(r: &LintReport) -> String {
    use crate::escape::{github_message as escape, github_property as prop};
    r.findings
        .iter()
        .map(|f| {
            let kind = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Note => "notice",
            };
            format!(
                "::{kind} file={},line={},col={},title={}::{}\n",
                prop(&f.file),
                f.line,
                f.column,
                prop(f.rule.as_str()),
                escape(&f.message)
            )
        })
        .collect()
}

/// A SARIF 2.1.0 log with one run.
pub fn sarif(r: &LintReport) -> String {
    let mut rules: Vec<&str> = r
        .findings
        .iter()
        .map(|f| f.rule.as_str())
        .chain(r.ignored.iter().map(|i| i.rule.as_str()))
        .collect();
    rules.sort();
    rules.dedup();
    let result = |rule, severity, message: &str, file: &str, line: u64, column: u64| {
        json!({
            "ruleId": rule,
            "level": level(severity),
            "message": { "text": message },
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": { "uri": crate::escape::uri_reference(file) },
                    "region": { "startLine": line, "startColumn": column }
                }
            }]
        })
    };
    let mut results: Vec<serde_json::Value> = r
        .findings
        .iter()
        .map(|f| result(f.rule, f.severity, &f.message, &f.file, f.line, f.column))
        .collect();
    // Suppressed in source (SARIF 2.1.0 §3.27.23, §3.35): kept as results a viewer can list.
    for i in &r.ignored {
        let mut v = result(i.rule, i.severity, &i.message, &i.file, i.line, i.column);
        let mut suppression = json!({ "kind": "inSource" });
        if let Some(reason) = &i.reason {
            suppression["justification"] = json!(reason);
        }
        v["suppressions"] = json!([suppression]);
        results.push(v);
    }
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "pgwarden",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>()
            }},
            "results": results
        }]
    });
    serde_json::to_string_pretty(&log).unwrap_or_default() + "\n"
}

/// One test case per file; a failure per finding at or above --fail-on.
pub fn junit(r: &LintReport) -> String {
    let failing = |f: &&crate::lint::LintFinding| f.severity >= r.fail_on;
    // One testcase per file: a failure is a file with at least one failing finding.
    let total = r
        .files
        .iter()
        .filter(|file| r.findings.iter().filter(failing).any(|f| &f.file == *file))
        .count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"pgwarden lint\" tests=\"{}\" failures=\"{total}\">\n  <testsuite name=\"migrations\" tests=\"{}\" failures=\"{total}\">\n",
        r.files.len(),
        r.files.len()
    );
    for file in &r.files {
        let mine: Vec<_> = r
            .findings
            .iter()
            .filter(|f| &f.file == file)
            .filter(failing)
            .collect();
        let _ = write!(
            out,
            "    <testcase classname=\"pgwarden.lint\" name=\"{}\"",
            escape(file)
        );
        if mine.is_empty() {
            out.push_str("/>\n");
            continue;
        }
        out.push_str(">\n");
        for f in mine {
            let _ = writeln!(
                out,
                "      <failure type=\"{}\" message=\"{}\">{}:{}:{}: {}</failure>",
                escape(f.rule.as_str()),
                escape(&f.message),
                escape(&f.file),
                f.line,
                f.column,
                escape(&f.message)
            );
        }
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
