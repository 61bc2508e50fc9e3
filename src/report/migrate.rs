//! Human output of the `migrate` commands: status, apply (and its dry run), verify, baseline
//! and repair.

use super::Screen;
use super::model::*;
use super::table::table;
use crate::migrations::plan::RunMode;
use crate::migrations::runner::ApplyReport;
use crate::migrations::status::MigrationState;
use std::fmt::Write;

pub(super) fn status(r: &StatusReport, s: &Screen) -> String {
    let rows = r
        .migrations
        .iter()
        .map(|m| {
            vec![
                m.version
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "-".into()),
                m.name.clone(),
                match &m.state {
                    MigrationState::Unparseable { reason } => {
                        format!("{}: {reason}", m.state.label())
                    }
                    MigrationState::Modified {
                        applied_checksum,
                        file_checksum,
                        ..
                    } => format!(
                        "{} (checksum {applied_checksum} applied, {file_checksum} now; see `migrate verify`)",
                        m.state.label()
                    ),
                    state => state.label().to_string(),
                },
                m.applied_on.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut out = format!("database {}\n", r.database);
    out.push_str(&table(s, &["version", "name", "state", "applied on"], rows));
    if !r.invalid_indexes.is_empty() {
        let rows = r
            .invalid_indexes
            .iter()
            .map(|i| {
                let note = if i.build_in_progress {
                    "a build is running now"
                } else if i.partitioned {
                    "partitioned: valid once every partition's index is attached (`plan`/`apply` or the migration completes it)"
                } else {
                    "left by a failed concurrent build; `migrate apply` rebuilds it"
                };
                vec![
                    format!("{}.{}", i.schema, i.name),
                    i.table.clone(),
                    note.into(),
                ]
            })
            .collect();
        out.push_str("INVALID indexes:\n");
        out.push_str(&table(s, &["index", "table", "note"], rows));
    }
    let count = |label: &str| {
        r.migrations
            .iter()
            .filter(|m| m.state.label() == label)
            .count()
    };
    let _ = writeln!(
        out,
        "{} applied, {} pending, {} drifted or unusable, {} invalid index(es){}",
        count("applied"),
        count("pending"),
        r.migrations.len() - count("applied") - count("pending"),
        r.invalid_indexes.len(),
        if r.history_table_exists {
            ""
        } else {
            " (no history table yet)"
        }
    );
    out
}

pub(super) fn apply(r: &ApplyReport, s: &Screen) -> String {
    apply_run(r, s, false)
}

/// `migrate apply`'s output; `nested` under a report that already named the database.
pub(super) fn apply_run(r: &ApplyReport, s: &Screen, nested: bool) -> String {
    let mut out = String::new();
    if r.dry_run {
        let _ = writeln!(out, "-- dry run on {}: nothing was changed", r.database);
        // Generated lines read as what they do; the exact SQL with -vv or in JSON.
        let exact = s.verbose >= 2;
        if exact {
            let _ = writeln!(
                out,
                "\n-- session settings, once per run\n/* session */ {};",
                r.session_setup
            );
        } else {
            let _ = writeln!(
                out,
                "\n-- session settings, once per run: {}",
                r.session_summary
            );
        }
        for m in &r.migrations {
            let how = match &m.mode {
                RunMode::Transaction => "in one transaction".to_string(),
                RunMode::NoTransaction(why) => format!("outside a transaction: {why}"),
            };
            let _ = writeln!(out, "\n-- {} ({how})", m.file);
            for line in &m.script {
                match (&line.summary, exact) {
                    (Some(summary), false) => {
                        let _ = writeln!(out, "-- {}", crate::escape::inline(summary));
                    }
                    _ => {
                        let marker = if line.in_transaction { "tx" } else { "no-tx" };
                        let _ = writeln!(out, "/* {marker} */ {};", line.sql);
                    }
                }
            }
        }
        let _ = writeln!(
            out,
            "\n-- {} migration(s) would be applied; {} already applied",
            r.migrations.len(),
            r.already_applied
        );
        if !exact {
            out.push_str("-- the exact SQL of every line: -vv, or --format json\n");
        }
        return out;
    }
    let rows = r
        .migrations
        .iter()
        .map(|m| {
            let o = m.outcome.clone().unwrap_or_default();
            let mut note = match &m.mode {
                RunMode::Transaction => "transaction".to_string(),
                RunMode::NoTransaction(_) => "no transaction".to_string(),
            };
            if o.attempts > 1 {
                let _ = write!(note, ", {} attempts", o.attempts);
            }
            if !o.recovered_indexes.is_empty() {
                let _ = write!(note, ", rebuilt INVALID {}", o.recovered_indexes.join(", "));
            }
            if !o.adopted_indexes.is_empty() {
                let _ = write!(
                    note,
                    ", adopted {} (already there with this definition)",
                    o.adopted_indexes.join(", ")
                );
            }
            vec![
                m.version.to_string(),
                m.name.clone(),
                crate::units::ms(o.duration_ms as f64),
                note,
            ]
        })
        .collect::<Vec<_>>();
    if !nested {
        let _ = writeln!(out, "database {}", r.database);
    }
    if !rows.is_empty() {
        out.push_str(&table(s, &["version", "name", "duration", "how"], rows));
    }
    match &r.failure {
        Some(f) => {
            // A migration applied and recorded before the run stopped is listed with the rest.
            let applied_too = r.migrations.iter().any(|m| m.version == f.version);
            let before = r.migrations.len() - usize::from(applied_too);
            let what = if applied_too {
                "STOPPED after (applied and recorded)"
            } else {
                "FAILED at"
            };
            let _ = writeln!(
                out,
                "{what} V{}__{}: {before} migration(s) applied before it; see the error on stderr",
                f.version, f.name,
            );
        }
        None => {
            let _ = writeln!(
                out,
                "{} migration(s) applied in {}; {} were already applied",
                r.migrations.len(),
                crate::units::ms(r.duration_ms as f64),
                r.already_applied
            );
        }
    }
    out
}

pub(super) fn verify(r: &VerifyReport) -> String {
    let mut out = format!("database {}\n", r.database);
    for p in &r.problems {
        let _ = writeln!(out, "- {}", p.message);
    }
    let _ = writeln!(
        out,
        "{} applied migration(s) checked, {} problem(s)",
        r.checked,
        r.problems.len()
    );
    out
}

pub(super) fn record(r: &RecordReport, s: &Screen) -> String {
    let mut out = format!("database {}\n", r.database);
    if r.rows.is_empty() {
        let _ = writeln!(out, "{}: nothing to record", r.action);
        return out;
    }
    let rows = r
        .rows
        .iter()
        .map(|row| {
            vec![
                row.version.to_string(),
                row.name.clone(),
                row.old_checksum.clone().unwrap_or_else(|| "-".into()),
                row.new_checksum.clone(),
            ]
        })
        .collect();
    out.push_str(&table(
        s,
        &["version", "name", "recorded checksum", "new checksum"],
        rows,
    ));
    let _ = if r.written {
        writeln!(out, "{}: wrote {} row(s)", r.action, r.rows.len())
    } else {
        writeln!(
            out,
            "{}: would write {} row(s) (nothing written)",
            r.action,
            r.rows.len()
        )
    };
    out
}
