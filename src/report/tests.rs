//! Snapshot tests of every renderer (human tables, JSON, JUnit and lint's CI formats) over
//! hand-built reports: what each command prints is pinned here, without a database.

use super::*;
use crate::advisor::candidates::Method;
use crate::advisor::statement::{Excluded, StatementStatus, StatsStatement, ValueSource};
use crate::advisor::{Advice, Proposal, QueryOutcome, Rejected};
use crate::catalog::InvalidIndex;
use crate::check::{CheckMode, QueryCheck};
use crate::datagen::{GenerateReport, TableLoad};
use crate::diff::Change;
use crate::explain::{Budget, BudgetVerdict, PlanFindings, Verdict};
use crate::finding::{self as rules, Finding, Severity};
use crate::lint::LintFinding;
use crate::lint::locks::StatementLock;
use crate::migrations::plan::RunMode;
use crate::migrations::runner::{
    ApplyReport, MigrationFailure, MigrationRun, RunOutcome, ScriptLine,
};
use crate::migrations::{MigrationState, MigrationStatus};
use std::path::PathBuf;

/// A name holding what breaks each output: a double quote, a newline, SQL comment and statement
/// characters, markup, and a right-to-left override (U+202E) that reorders text on screen.
const HOSTILE: &str = "evil\"name\n--;<x>\u{202e}";

const DATABASE: &str = "postgres://app@db.internal:5432/shop (sslmode=prefer)";
const SUE: &str = "SHARE UPDATE EXCLUSIVE (reads and writes continue)";
const SESSION_SETUP: &str = "SET standard_conforming_strings = on; SET lock_timeout = '5000ms'; \
     SET statement_timeout = '0ms'; \
     SELECT set_config('client_connection_check_interval', '1s', false) \
     WHERE current_setting('server_version_num')::int >= 140000";
const SESSION_SUMMARY: &str = "lock_timeout 5s, statement_timeout none outside transactions, \
     standard_conforming_strings on, client_connection_check_interval 1s (PostgreSQL 14+)";
const NO_TX_REASON: &str = "CREATE INDEX CONCURRENTLY cannot run in a transaction block";

fn human(r: &Report) -> String {
    r.render(Format::Human, &Screen::plain())
}

fn json(r: &Report) -> String {
    r.render(Format::Json, &Screen::plain())
}

fn coloured(r: &Report) -> String {
    let screen = Screen {
        colour: true,
        width: None,
        verbose: 0,
    };
    r.render(Format::Human, &screen)
}

/// Snapshots `{name}_human` and `{name}_json`.
fn assert_human_and_json(name: &str, r: &Report) {
    insta::assert_snapshot!(format!("{name}_human"), human(r));
    insta::assert_snapshot!(format!("{name}_json"), json(r));
}

/// The hostile name must reach a terminal only as visible escapes.
fn assert_no_raw_hostile(text: &str) {
    assert!(!text.contains('\u{202e}'), "raw bidi override in:\n{text}");
    assert!(
        !text.contains("name\n--"),
        "raw newline of a name in:\n{text}"
    );
    assert!(
        text.contains("\\u{202e}"),
        "escaped name missing in:\n{text}"
    );
}

// ---- migrate ----

fn migration(version: i32, name: &str, applied_on: Option<&str>) -> MigrationStatus {
    MigrationStatus {
        version: Some(version),
        name: name.into(),
        path: Some(PathBuf::from(format!("migrations/V{version}__{name}.sql"))),
        applied_on: applied_on.map(String::from),
        state: if applied_on.is_some() {
            MigrationState::Applied
        } else {
            MigrationState::Pending
        },
    }
}

fn status_report() -> StatusReport {
    let modified = MigrationStatus {
        state: MigrationState::Modified {
            applied_checksum: "1580375478519264441".into(),
            applied_name: "idx_tasks_developer_id".into(),
            file_checksum: "9302274402616540226".into(),
        },
        ..migration(3, "idx_tasks_developer_id", Some("2026-01-05T10:02:11Z"))
    };
    let missing = MigrationStatus {
        path: None,
        state: MigrationState::MissingFile,
        ..migration(4, "idx_users_skills", Some("2026-01-05T10:02:12Z"))
    };
    let out_of_order = MigrationStatus {
        state: MigrationState::PendingOutOfOrder,
        ..migration(2, "idx_projects_status", None)
    };
    let unparseable = MigrationStatus {
        version: None,
        name: "add_payments_index".into(),
        path: Some(PathBuf::from("migrations/add_payments_index.sql")),
        applied_on: None,
        state: MigrationState::Unparseable {
            reason: "the name must look like V1__name.sql or U1__name.sql".into(),
        },
    };
    StatusReport {
        database: DATABASE.into(),
        history_table_exists: true,
        migrations: vec![
            migration(1, "base_schema", Some("2026-01-05T10:02:10Z")),
            out_of_order,
            modified,
            missing,
            migration(5, "idx_payments_status", None),
            unparseable,
        ],
        invalid_indexes: vec![
            invalid_index("idx_tasks_developer_id", "tasks", false, false),
            invalid_index("idx_payments_status", "payments", true, false),
            invalid_index("idx_events_created_at", "events", false, true),
        ],
    }
}

fn invalid_index(name: &str, table: &str, building: bool, partitioned: bool) -> InvalidIndex {
    InvalidIndex {
        schema: "public".into(),
        name: name.into(),
        table: table.into(),
        build_in_progress: building,
        partitioned,
    }
}

#[test]
fn migrate_status() {
    let r = Report::MigrateStatus(status_report());
    assert_eq!(r.exit_code(), 1);
    assert_human_and_json("migrate_status", &r);
}

#[test]
fn migrate_status_without_history_table() {
    let r = Report::MigrateStatus(StatusReport {
        database: DATABASE.into(),
        history_table_exists: false,
        migrations: vec![migration(1, "base_schema", None)],
        invalid_indexes: vec![],
    });
    // A pending migration is something to do.
    assert_eq!(r.exit_code(), 1);
    insta::assert_snapshot!("migrate_status_fresh_human", human(&r));
}

/// Lines as the runner writes them: `statements` between the session or transaction setup and
/// the history row (which has a summary for people), wrapped in BEGIN/COMMIT when `in_transaction`.
fn script(version: i32, name: &str, statements: &[&str], in_transaction: bool) -> Vec<ScriptLine> {
    let line = |sql: &str| ScriptLine {
        sql: sql.into(),
        in_transaction,
        summary: None,
    };
    let mut record = line(&format!(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES ({version}, '{name}', '<now, RFC 3339>', '{}')",
        checksum(version)
    ));
    record.summary = Some(format!("then record V{version} in refinery_schema_history"));
    let mut out = Vec::new();
    if in_transaction {
        out.push(line("BEGIN"));
        out.push(line("SET LOCAL statement_timeout = '1800000ms'"));
    }
    out.extend(statements.iter().map(|s| line(s)));
    out.push(record);
    if in_transaction {
        out.push(line("COMMIT"));
    }
    out
}

/// A fixed checksum per version, as refinery would record it.
fn checksum(version: i32) -> u64 {
    4_183_216_470_093_442_601u64.wrapping_mul(version as u64)
}

/// V4 runs in a transaction, V5 outside one; `outcome` is `None` in a dry run.
fn migration_runs(outcomes: Option<(RunOutcome, RunOutcome)>) -> Vec<MigrationRun> {
    let (four, five) = outcomes.map_or((None, None), |(a, b)| (Some(a), Some(b)));
    vec![
        MigrationRun {
            version: 4,
            name: "add_payment_currency_check".into(),
            file: "migrations/V4__add_payment_currency_check.sql".into(),
            mode: RunMode::Transaction,
            script: script(
                4,
                "add_payment_currency_check",
                &[
                    "ALTER TABLE payments ADD CONSTRAINT payments_currency_upper CHECK (currency = upper(currency)) NOT VALID",
                    "ALTER TABLE payments VALIDATE CONSTRAINT payments_currency_upper",
                ],
                true,
            ),
            outcome: four,
        },
        MigrationRun {
            version: 5,
            name: "idx_payments_status".into(),
            file: "migrations/V5__idx_payments_status.sql".into(),
            mode: RunMode::NoTransaction(NO_TX_REASON.into()),
            script: script(
                5,
                "idx_payments_status",
                &[
                    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_payments_status ON payments (status, created_at)",
                ],
                false,
            ),
            outcome: five,
        },
    ]
}

fn apply_report(dry_run: bool) -> ApplyReport {
    let outcomes = (!dry_run).then(|| {
        (
            RunOutcome {
                duration_ms: 38,
                attempts: 1,
                ..RunOutcome::default()
            },
            RunOutcome {
                duration_ms: 41_870,
                attempts: 2,
                recovered_indexes: vec!["public.idx_payments_status".into()],
                adopted_indexes: vec![],
            },
        )
    });
    ApplyReport {
        dry_run,
        database: DATABASE.into(),
        session_setup: SESSION_SETUP.into(),
        session_summary: SESSION_SUMMARY.into(),
        already_applied: 3,
        version_before: None,
        migrations: migration_runs(outcomes),
        failure: None,
        duration_ms: if dry_run { 0 } else { 41_932 },
    }
}

#[test]
fn migrate_apply() {
    let r = Report::MigrateApply(apply_report(false));
    assert_eq!(r.exit_code(), 0);
    assert_human_and_json("migrate_apply", &r);
}

#[test]
fn migrate_apply_dry_run() {
    let r = Report::MigrateApply(apply_report(true));
    assert_eq!(r.exit_code(), 0);
    assert_human_and_json("migrate_apply_dry_run", &r);
    let exact = Screen {
        colour: false,
        width: None,
        verbose: 2,
    };
    insta::assert_snapshot!(
        "migrate_apply_dry_run_exact_human",
        r.render(Format::Human, &exact)
    );
}

#[test]
fn migrate_apply_failed() {
    let mut report = apply_report(false);
    report.migrations.truncate(1);
    report.failure = Some(MigrationFailure {
        version: 5,
        name: "idx_payments_status".into(),
        file: "migrations/V5__idx_payments_status.sql".into(),
        error: "canceling statement due to lock timeout (SQLSTATE 55P03)".into(),
        statements_committed: 0,
    });
    let r = Report::MigrateApply(report);
    assert_eq!(r.exit_code(), 2);
    assert!(r.error_message().is_some_and(|m| m.contains("55P03")));
    assert_human_and_json("migrate_apply_failed", &r);
}

#[test]
fn migrate_verify() {
    let r = Report::MigrateVerify(VerifyReport {
        database: DATABASE.into(),
        checked: 4,
        problems: vec![
            VerifyProblem {
                version: 3,
                name: "idx_tasks_developer_id".into(),
                applied_checksum: Some("1580375478519264441".into()),
                file_checksum: Some("9302274402616540226".into()),
                message: "migration V3__idx_tasks_developer_id.sql was applied with checksum 1580375478519264441 but the file now hashes to 9302274402616540226; restore the file or run `pgwarden migrate repair`".into(),
            },
            VerifyProblem {
                version: 4,
                name: "idx_users_skills".into(),
                applied_checksum: Some("7730154712263849121".into()),
                file_checksum: None,
                message: "migration V4__idx_users_skills is recorded as applied but no file has version 4".into(),
            },
        ],
    });
    assert_eq!(r.exit_code(), 1);
    assert_human_and_json("migrate_verify", &r);
}

#[test]
fn migrate_new() {
    let r = Report::MigrateNew(NewReport {
        version: 6,
        path: PathBuf::from("migrations/V6__add_tasks_status_index.sql"),
    });
    assert_eq!(r.exit_code(), 0);
    assert_human_and_json("migrate_new", &r);
}

fn record_rows() -> Vec<RecordRow> {
    vec![
        RecordRow {
            version: 1,
            name: "base_schema".into(),
            old_checksum: None,
            new_checksum: "4183216470093442601".into(),
        },
        RecordRow {
            version: 3,
            name: "idx_tasks_developer_id".into(),
            old_checksum: Some("1580375478519264441".into()),
            new_checksum: "9302274402616540226".into(),
        },
    ]
}

#[test]
fn migrate_baseline_not_written() {
    let r = Report::MigrateBaseline(RecordReport {
        action: "baseline",
        database: DATABASE.into(),
        rows: record_rows(),
        written: false,
    });
    assert_eq!(r.exit_code(), 2);
    assert_human_and_json("migrate_baseline", &r);
}

#[test]
fn migrate_repair_written() {
    let r = Report::MigrateRepair(RecordReport {
        action: "repair",
        database: DATABASE.into(),
        rows: record_rows(),
        written: true,
    });
    assert_eq!(r.exit_code(), 0);
    assert_human_and_json("migrate_repair", &r);
}

#[test]
fn migrate_repair_nothing_to_record() {
    let r = Report::MigrateRepair(RecordReport {
        action: "repair",
        database: DATABASE.into(),
        rows: vec![],
        written: false,
    });
    assert_eq!(r.exit_code(), 0);
    insta::assert_snapshot!("migrate_repair_empty_human", human(&r));
}

// ---- check ----

fn query(name: &str, sql: &str) -> QueryCheck {
    QueryCheck {
        name: name.into(),
        sql: sql.into(),
        param_sets: 2,
        runs: 10,
        weight: None,
        budget: Budget {
            mean_ms: 100.0,
            p95_ms: None,
        },
        verdict: None,
        findings: PlanFindings::default(),
        error: None,
    }
}

fn verdict(mean_ms: f64, p95_ms: f64, max_ms: f64, reasons: &[&str]) -> Option<BudgetVerdict> {
    Some(BudgetVerdict {
        verdict: if reasons.is_empty() {
            Verdict::Within
        } else {
            Verdict::Over
        },
        mean_ms,
        p95_ms,
        max_ms,
        reasons: reasons.iter().map(|r| r.to_string()).collect(),
    })
}

fn check_queries() -> Vec<QueryCheck> {
    let profile = QueryCheck {
        weight: Some(3000.0),
        verdict: verdict(0.412, 0.598, 0.733, &[]),
        ..query(
            "user_profile",
            "SELECT id, email, display_name, skills, hourly_rate FROM users WHERE id = 1",
        )
    };
    let by_status = QueryCheck {
        param_sets: 3,
        runs: 15,
        weight: Some(300.0),
        budget: Budget {
            mean_ms: 100.0,
            p95_ms: Some(250.0),
        },
        verdict: verdict(
            184.2,
            402.7,
            415.3,
            &["mean 184 ms > budget 100 ms", "p95 403 ms > budget 250 ms"],
        ),
        findings: PlanFindings {
            dominant_node: Some("Parallel Seq Scan on projects".into()),
            dominant_ms: Some(171.418),
            seq_scans: vec!["projects".into()],
            misestimates: vec![],
            rows_removed_by_filter: Some(1_199_850.0),
        },
        ..query(
            "projects_by_status",
            "SELECT count(*) FROM projects WHERE status = 'draft'",
        )
    };
    let payments = QueryCheck {
        error: Some("permission denied for table payments (SQLSTATE 42501)".into()),
        ..query(
            "payments_by_status_in_range",
            "SELECT id, amount, created_at\nFROM payments\nWHERE status = 'failed' AND created_at >= '2026-08-01' AND created_at < '2026-11-01'\nORDER BY created_at\nLIMIT 100",
        )
    };
    let hostile = QueryCheck {
        param_sets: 1,
        runs: 5,
        verdict: verdict(
            1000.0,
            1000.0,
            1000.0,
            &[
                "cut by statement_timeout after 1 s",
                "mean 1 s > budget 100 ms",
            ],
        ),
        findings: PlanFindings {
            misestimates: vec![format!(
                "Seq Scan on {HOSTILE}: estimated 1 rows, got 48210"
            )],
            ..PlanFindings::default()
        },
        ..query(
            HOSTILE,
            &format!("SELECT * FROM {}", crate::escape::ident(HOSTILE)),
        )
    };
    vec![profile, by_status, payments, hostile]
}

fn check_report() -> CheckReport {
    CheckReport {
        mode: CheckMode::Analyze,
        database: DATABASE.into(),
        policy: "policies/default.toml".into(),
        queries: check_queries(),
        over_budget: 2,
        errors: 1,
        notes: vec![],
        replicas: vec![],
    }
}

#[test]
fn check() {
    let r = Report::Check(check_report());
    assert_eq!(r.exit_code(), 2);
    assert_no_raw_hostile(&human(&r));
    assert_human_and_json("check", &r);
}

#[test]
fn check_fits_80_columns() {
    let screen = Screen {
        colour: false,
        width: Some(80),
        verbose: 0,
    };
    let out = Report::Check(check_report()).render(Format::Human, &screen);
    let widest = out.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    // The header line names the database and policy and is not a table row.
    let table_widest = out
        .lines()
        .filter(|l| l.starts_with(['┌', '│', '├', '└']))
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0);
    assert!(
        table_widest <= 80,
        "table is {table_widest} wide (line max {widest})"
    );
    insta::assert_snapshot!("check_width_80_human", out);
}

#[test]
fn check_junit() {
    let out = super::junit(&check_report());
    assert!(roxmltree::Document::parse(&out).is_ok(), "not XML:\n{out}");
    insta::assert_snapshot!("check_junit", out);
}

#[test]
fn check_explain_mode_shows_costs() {
    let cost = QueryCheck {
        budget: Budget {
            mean_ms: 10_000.0,
            p95_ms: None,
        },
        verdict: verdict(
            48_213.5,
            48_213.5,
            48_213.5,
            &["cost 48213.5 > max_cost 10000"],
        ),
        findings: PlanFindings {
            seq_scans: vec!["tasks".into()],
            ..PlanFindings::default()
        },
        ..query(
            "developer_tasks",
            "SELECT id, title, status, due_date FROM tasks WHERE developer_id = 4242 ORDER BY due_date",
        )
    };
    let r = Report::Check(CheckReport {
        mode: CheckMode::Explain,
        database: DATABASE.into(),
        policy: "policies/default.toml".into(),
        queries: vec![cost],
        over_budget: 1,
        errors: 0,
        notes: vec![],
        replicas: vec![],
    });
    assert_eq!(r.exit_code(), 1);
    insta::assert_snapshot!("check_explain_human", human(&r));
}

#[test]
fn check_stats_mode_with_a_note() {
    let from_stats = QueryCheck {
        param_sets: 1,
        runs: 18_422,
        verdict: verdict(3.84, 11.2, 95.1, &[]),
        ..query(
            "queryid 4611270215395466235",
            "SELECT id, title FROM tasks WHERE project_id = $1",
        )
    };
    let r = Report::Check(CheckReport {
        mode: CheckMode::Stats,
        database: DATABASE.into(),
        policy: "policies/default.toml".into(),
        queries: vec![from_stats],
        over_budget: 0,
        errors: 0,
        notes: crate::check::stats::hidden_note(3).into_iter().collect(),
        replicas: vec![],
    });
    assert_eq!(r.exit_code(), 0);
    assert_human_and_json("check_stats", &r);
}

// ---- advise ----

fn advice() -> Advice {
    let mut advice = Advice {
        evaluation: "hypothetical (HypoPG planner costs scaling measured times)".into(),
        queries: vec![
            outcome("projects_by_status", 184.2, 0.87, None),
            outcome("developer_tasks", 142.6, 0.324, None),
            outcome(
                "users_with_skill",
                311.0,
                296.4,
                Some("no candidate index helps enough: the query reads most of users"),
            ),
            outcome("user_profile", 0.412, 0.412, None),
        ],
        proposals: vec![
            proposal(
                ("projects", &["status"]),
                2_351_104,
                0.42,
                "projects_by_status: 184 ms -> 870 µs (budget 100 ms)",
            ),
            proposal(
                ("tasks", &["developer_id", "due_date"]),
                38_641_664,
                3.17,
                "developer_tasks: 143 ms -> 324 µs (budget 100 ms)",
            ),
        ],
        rejected: vec![
            Rejected {
                ddl: r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "pgw_users_skills" ON "users" USING gin ("skills")"#
                    .into(),
                reason: "users_with_skill: 311 ms -> 296 ms, still over budget".into(),
            },
            Rejected {
                ddl: r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "pgw_tasks_developer_id" ON "tasks" ("developer_id")"#
                    .into(),
                reason: "stopped paying once better indexes were chosen".into(),
            },
        ],
    };
    // 60 calls a minute each: 184.2 -> 0.87 ms and 142.6 -> 0.324 ms.
    for (p, saved, share) in [(0, 10_999.8, 56.3), (1, 8_536.56, 43.7)] {
        advice.proposals[p].time_saved_ms_per_min = saved;
        advice.proposals[p].gain_share_pct = share;
    }
    advice
}

fn outcome(name: &str, before_ms: f64, after_ms: f64, note: Option<&str>) -> QueryOutcome {
    QueryOutcome {
        name: name.into(),
        budget_ms: 100.0,
        before_ms,
        after_ms,
        weight: 60.0,
        weight_source: crate::advisor::cost::WeightSource::PgStatStatements,
        note: note.map(String::from),
    }
}

/// A btree proposal on `on` (table, columns) serving the query `why` starts with.
fn proposal(on: (&str, &[&str]), size_bytes: i64, overhead_ms_per_min: f64, why: &str) -> Proposal {
    let (table, columns) = on;
    let name = format!("pgw_{table}_{}", columns.join("_"));
    let list: Vec<String> = columns.iter().map(|c| crate::escape::ident(c)).collect();
    Proposal {
        ddl: format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({})",
            crate::escape::ident(&name),
            crate::escape::ident(table),
            list.join(", ")
        ),
        name,
        table: table.into(),
        method: Method::Btree,
        columns: columns.iter().map(|c| c.to_string()).collect(),
        serves: why.split(':').take(1).map(String::from).collect(),
        time_saved_ms_per_min: 0.0,
        gain_share_pct: 0.0,
        size_bytes,
        write_overhead_ms_per_min: overhead_ms_per_min,
        write_cost: crate::advisor::cost::sampled_cost(overhead_ms_per_min),
        why: why.into(),
    }
}

/// Three top statements of pg_stat_statements: values from pg_stats, a generic plan, and a
/// skipped one whose text is hostile (`*/`, a newline, an escape sequence).
fn stats_statements() -> Vec<StatsStatement> {
    let statement = |queryid: &str,
                     name: &str,
                     values: Option<ValueSource>,
                     reason: Option<&str>| StatsStatement {
        queryid: queryid.into(),
        name: name.into(),
        text: name.into(),
        calls_per_minute: 12.5,
        mean_exec_ms: 48.2,
        status: if values.is_some() {
            StatementStatus::Advised
        } else {
            StatementStatus::Skipped
        },
        values,
        reason: reason.map(String::from),
    };
    vec![
        statement(
            "-9034407304256753156",
            "SELECT id FROM tasks WHERE developer_id = $1",
            Some(ValueSource::PgStats),
            None,
        ),
        statement(
            "1896462662318399730",
            "SELECT id FROM orders WHERE placed_at > now() - $1::interval",
            Some(ValueSource::GenericPlan),
            Some(
                "no parameter values ($1 is not compared with a column): planned as a generic plan",
            ),
        ),
        statement(
            "42",
            "SELECT '*/ DROP TABLE x;\n--' \u{1b}[31m FROM t WHERE a = $1",
            None,
            Some("no parameter values, and its generic plan failed: syntax error"),
        ),
    ]
}

fn advise_report() -> AdviseReport {
    AdviseReport {
        database: DATABASE.into(),
        advice: advice(),
        workload: "policies/default.toml".into(),
        skipped: vec!["refund_payment: changes data (UPDATE)".into()],
        statements: Vec::new(),
        excluded: None,
        migration: Some(PathBuf::from("migrations/V6__pgwarden_advise.sql")),
        duration_ms: 8_412,
    }
}

#[test]
fn advise() {
    // As from `--from-stats`: the statements read, one with a hostile text.
    let mut report = advise_report();
    report.statements = stats_statements();
    report.excluded = Some(Excluded {
        pgwarden: 3,
        not_select: 12,
        no_table: 40,
    });
    let r = Report::Advise(report);
    assert_eq!(r.exit_code(), 1);
    assert_human_and_json("advise", &r);
}

#[test]
fn advise_nothing_to_propose() {
    let mut report = advise_report();
    report.advice.proposals.clear();
    report.advice.rejected.clear();
    report.advice.queries.truncate(1);
    report.advice.queries[0].before_ms = 0.87;
    report.migration = None;
    let r = Report::Advise(report);
    assert_eq!(r.exit_code(), 0);
    insta::assert_snapshot!("advise_none_human", human(&r));
}

// ---- plan and apply ----

fn finding(rule: &'static str, severity: Severity, object: &str, message: String) -> Finding {
    Finding {
        rule,
        severity,
        object: object.into(),
        message,
        help: "see `pgwarden plan --help`".into(),
    }
}

fn plan_findings() -> Vec<Finding> {
    let hostile = format!("public.{HOSTILE}");
    vec![
        finding(
            rules::MISSING_INDEX,
            Severity::Error,
            "public.idx_payments_status",
            "index public.idx_payments_status is in the migrations but not in the database".into(),
        ),
        finding(
            rules::INVALID_INDEX,
            Severity::Error,
            "public.idx_tasks_developer_id",
            "index public.idx_tasks_developer_id is INVALID (a failed concurrent build): it costs writes and serves no query".into(),
        ),
        finding(
            rules::UNEXPECTED_INDEX,
            Severity::Warning,
            &hostile,
            format!("index {hostile} is in the database but in no migration"),
        ),
        finding(
            rules::UNUSED_INDEX,
            Severity::Note,
            "public.users_country_idx",
            "index public.users_country_idx has not been scanned in 31 days".into(),
        ),
    ]
}

fn change(sign: char, object: &str, statement: String, reason: &str) -> Change {
    Change {
        rule: match sign {
            '+' => rules::MISSING_INDEX,
            '~' => rules::INVALID_INDEX,
            _ => rules::UNEXPECTED_INDEX,
        },
        sign,
        object: object.into(),
        statements: vec![statement],
        reason: reason.into(),
        lock: SUE,
        estimate_seconds: if sign == '-' { 0.0 } else { 12.4 },
        is_drop: sign == '-',
    }
}

fn plan_changes() -> Vec<Change> {
    let hostile = crate::escape::qualified("public", HOSTILE);
    vec![
        change(
            '+',
            "public.idx_payments_status",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"idx_payments_status\" ON \"public\".\"payments\" USING btree (status, created_at)".into(),
            "in the migrations, missing in the database",
        ),
        change(
            '~',
            "public.idx_tasks_developer_id",
            "REINDEX INDEX CONCURRENTLY \"public\".\"idx_tasks_developer_id\"".into(),
            "INVALID after a failed concurrent build",
        ),
        change(
            '-',
            &format!("public.{HOSTILE}"),
            format!("DROP INDEX CONCURRENTLY IF EXISTS {hostile}"),
            "not in the migrations",
        ),
    ]
}

fn plan_report() -> PlanReport {
    PlanReport {
        database: DATABASE.into(),
        desired_from: "migrations/ (replayed on a throwaway server)".into(),
        findings: plan_findings(),
        changes: plan_changes(),
        output: Some(PathBuf::from("plan.sql")),
        servers: Vec::new(),
    }
}

#[test]
fn plan() {
    let r = Report::Plan(plan_report());
    assert_eq!(r.exit_code(), 1);
    assert_no_raw_hostile(&human(&r));
    assert_human_and_json("plan", &r);
    let out = coloured(&r);
    assert!(
        out.contains("\x1b[32m+ CREATE INDEX"),
        "no green build:\n{out}"
    );
    assert!(out.contains("\x1b[31m- DROP INDEX"), "no red drop:\n{out}");
    insta::assert_snapshot!("plan_colour_human", out);
}

#[test]
fn plan_without_changes() {
    let r = Report::Plan(PlanReport {
        database: DATABASE.into(),
        desired_from: "migrations/ (replayed on a throwaway server)".into(),
        findings: vec![],
        changes: vec![],
        output: None,
        servers: Vec::new(),
    });
    assert_eq!(r.exit_code(), 0);
    insta::assert_snapshot!("plan_clean_human", human(&r));
}

fn apply_changes_report(dry_run: bool) -> ApplyChangesReport {
    let plan = plan_report();
    let (accepted, skipped) = if dry_run {
        (plan.changes.clone(), vec![])
    } else {
        let drop = &plan.changes[2];
        (
            plan.changes[..2].to_vec(),
            vec![(
                drop.object.clone(),
                "a drop: pass --allow-drop, or answer yes at a terminal".to_string(),
            )],
        )
    };
    let run = (!dry_run).then(|| ApplyReport {
        already_applied: 5,
        version_before: None,
        migrations: vec![MigrationRun {
            version: 6,
            name: "pgwarden_apply".into(),
            file: "migrations/V6__pgwarden_apply.sql".into(),
            mode: RunMode::NoTransaction(NO_TX_REASON.into()),
            script: script(
                6,
                "pgwarden_apply",
                &[
                    "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"idx_payments_status\" ON \"public\".\"payments\" USING btree (status, created_at)",
                    "REINDEX INDEX CONCURRENTLY \"public\".\"idx_tasks_developer_id\"",
                ],
                false,
            ),
            outcome: Some(RunOutcome {
                duration_ms: 24_816,
                attempts: 1,
                recovered_indexes: vec![],
                adopted_indexes: vec!["public.idx_payments_status".into()],
            }),
        }],
        duration_ms: 24_830,
        ..apply_report(false)
    });
    ApplyChangesReport {
        plan,
        accepted,
        skipped,
        migration: (!dry_run).then(|| PathBuf::from("migrations/V6__pgwarden_apply.sql")),
        run: run.map(Box::new),
        dry_run,
    }
}

#[test]
fn apply() {
    let r = Report::Apply(apply_changes_report(false));
    assert_eq!(r.exit_code(), 1);
    assert!(!human(&r).contains('\u{202e}'));
    assert_human_and_json("apply", &r);
    insta::assert_snapshot!("apply_colour_human", coloured(&r));
}

/// Guards the `skipped OBJECT: why` line against a name that holds a newline.
#[test]
fn apply_skipped_line_keeps_a_hostile_name_on_one_line() {
    assert_no_raw_hostile(&human(&Report::Apply(apply_changes_report(false))));
}

#[test]
fn apply_dry_run() {
    let r = Report::Apply(apply_changes_report(true));
    assert_eq!(r.exit_code(), 1);
    assert_human_and_json("apply_dry_run", &r);
}

// ---- lint ----

fn lint_finding(
    rule: &str,
    severity: Severity,
    file: &str,
    line: u64,
    source: &str,
) -> LintFinding {
    LintFinding {
        rule: rule.parse().unwrap(),
        severity,
        file: file.into(),
        line,
        column: 1,
        message: String::new(),
        help: None,
        source: source.into(),
    }
}

fn lint_report() -> LintReport {
    let bad = "migrations/V6__add_tasks_status_index.sql";
    let hostile_file = format!("migrations/V7__{HOSTILE}.sql");
    // As the linter reads it: the source is the statement's first line; the lock summary has
    // its white space collapsed.
    let hostile_sql = format!(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON tasks (status)",
        crate::escape::ident(HOSTILE)
    );
    let hostile_source = hostile_sql.lines().next().unwrap_or_default().to_string();
    let findings = vec![
        LintFinding {
            message: "During normal index creation, table updates are blocked, but reads are still allowed.".into(),
            help: Some("Use `concurrently` to avoid blocking writes.".into()),
            ..lint_finding(
                "require-concurrent-index-creation",
                Severity::Error,
                bad,
                3,
                "CREATE INDEX tasks_status_idx ON tasks (status);",
            )
        },
        LintFinding {
            column: 19,
            message: "Adding a new column that is `NOT NULL` and has no default value to an existing table effectively makes it required.".into(),
            help: Some("Make the field nullable or add a non-VOLATILE DEFAULT".into()),
            ..lint_finding(
                "adding-required-field",
                Severity::Warning,
                bad,
                5,
                "ALTER TABLE tasks ADD COLUMN priority int NOT NULL;",
            )
        },
        LintFinding {
            message: format!(
                "index name `{HOSTILE}` does not match the policy's pattern `^idx_[a-z0-9_]+$`"
            ),
            help: Some("rename it to follow the pattern".into()),
            ..lint_finding(
                crate::lint::INDEX_NAME_PATTERN.as_str(),
                Severity::Warning,
                &hostile_file,
                2,
                &hostile_source,
            )
        },
        LintFinding {
            message: "IF NOT EXISTS accepts an INVALID index left by a failed build; pgwarden's migrate apply drops and rebuilds it first, other runners do not".into(),
            help: Some("run it through `pgwarden migrate apply`".into()),
            ..lint_finding(
                crate::lint::CONCURRENT_IF_NOT_EXISTS.as_str(),
                Severity::Note,
                &hostile_file,
                2,
                &hostile_source,
            )
        },
    ];
    let lock = |file: &str, line, statement: &str, lock, rows| StatementLock {
        file: file.into(),
        line,
        statement: statement.split_whitespace().collect::<Vec<_>>().join(" "),
        lock,
        tables: vec!["tasks".into()],
        rows: vec![rows],
    };
    let statements = vec![
        lock(
            bad,
            3,
            "CREATE INDEX tasks_status_idx ON tasks (status)",
            "SHARE (blocks writes)",
            Some(2_400_000.0),
        ),
        lock(
            bad,
            5,
            "ALTER TABLE tasks ADD COLUMN priority int NOT NULL",
            "ACCESS EXCLUSIVE (blocks reads and writes)",
            Some(2_400_000.0),
        ),
        lock(
            &hostile_file,
            2,
            &hostile_sql,
            "SHARE UPDATE EXCLUSIVE (reads and writes continue)",
            None,
        ),
    ];
    LintReport {
        files: vec![
            bad.into(),
            hostile_file.clone(),
            "migrations/V8__clean.sql".into(),
        ],
        findings,
        ignored: vec![crate::lint::IgnoredFinding {
            rule: "require-concurrent-index-creation".parse().unwrap(),
            severity: Severity::Warning,
            file: hostile_file.clone(),
            line: 4,
            column: 1,
            message: "During normal index creation, table updates are blocked, but reads are still allowed.".into(),
            reason: Some(format!("the table is empty in production {HOSTILE}")),
            ignore_line: 3,
        }],
        on_new_tables: 2,
        statements,
        fail_on: Severity::Warning,
        database: Some(DATABASE.into()),
        output_format: None,
    }
}

#[test]
fn lint_every_format() {
    let mut report = lint_report();
    assert_eq!(Report::Lint(report.clone()).exit_code(), 1);
    for (format, name) in [
        (LintFormat::Human, "lint_human"),
        (LintFormat::Json, "lint_json"),
        (LintFormat::Github, "lint_github"),
        (LintFormat::Sarif, "lint_sarif"),
        (LintFormat::Junit, "lint_junit"),
    ] {
        report.output_format = Some(format);
        // `output_format` wins over `--format`: both give the same text.
        let r = Report::Lint(report.clone());
        let out = human(&r);
        assert_eq!(out, json(&r), "{name}");
        if matches!(format, LintFormat::Human | LintFormat::Github) {
            assert!(
                !out.contains('\u{202e}'),
                "raw bidi override in {name}:\n{out}"
            );
        }
        if format == LintFormat::Junit {
            assert!(roxmltree::Document::parse(&out).is_ok(), "not XML:\n{out}");
        }
        insta::assert_snapshot!(name, out);
    }
}

/// Guards the lock lines of lint's human output against a file name that holds a newline.
#[test]
fn lint_lock_lines_keep_a_hostile_file_name_on_one_line() {
    let out = human(&Report::Lint(lint_report()));
    assert!(
        !out.contains("name\n--"),
        "raw newline of a name in:\n{out}"
    );
}

#[test]
fn lint_without_output_format_follows_format() {
    let plain = Report::Lint(lint_report());
    let chosen = |format| {
        let mut report = lint_report();
        report.output_format = Some(format);
        Report::Lint(report)
    };
    assert_eq!(human(&plain), human(&chosen(LintFormat::Human)));
    assert_eq!(json(&plain), json(&chosen(LintFormat::Json)));
    assert_ne!(human(&plain), json(&plain));
}

// ---- ci, data generate, demo ----

#[test]
fn ci() {
    let r = Report::Ci(CiReport {
        sections: vec![
            DemoSection {
                title: "lint".into(),
                report: Report::Lint(lint_report()),
            },
            DemoSection {
                title: "migrate status".into(),
                report: Report::MigrateStatus(status_report()),
            },
            DemoSection {
                title: "check".into(),
                report: Report::Check(check_report()),
            },
            DemoSection {
                title: "plan".into(),
                report: Report::Plan(plan_report()),
            },
        ],
    });
    assert_eq!(r.exit_code(), 2);
    assert_human_and_json("ci", &r);
}

#[test]
fn data_generate() {
    let load = |table: &str, rows: i64, duration_ms: u128| TableLoad {
        table: table.into(),
        rows,
        duration_ms,
    };
    let r = Report::DataGenerate(GenerateReport {
        database: DATABASE.into(),
        scale: 0.5,
        tables: vec![
            load("users", 100_000, 1_284),
            load("projects", 600_000, 6_903),
            load("tasks", 1_200_000, 14_502),
            load("payments", 750_000, 9_117),
        ],
        fast_path: false,
        duration_ms: 31_922,
    });
    assert_eq!(r.exit_code(), 0);
    assert_human_and_json("data_generate", &r);
}

#[test]
fn demo() {
    let mut after = check_report();
    after.queries.truncate(2);
    after.queries[1].verdict = verdict(0.87, 1.12, 1.4, &[]);
    after.queries[1].findings = PlanFindings::default();
    after.over_budget = 0;
    after.errors = 0;
    let comparison = |query: &str, before_ms: f64, after_ms: f64, before: Verdict| Comparison {
        query: query.into(),
        before_ms,
        before: Some(before),
        after_ms,
        after: Some(Verdict::Within),
    };
    let r = Report::Demo(DemoReport {
        sections: vec![
            DemoSection {
                title: "1. check the workload against its budgets".into(),
                report: Report::Check(check_report()),
            },
            DemoSection {
                title: "2. advise indexes".into(),
                report: Report::Advise(advise_report()),
            },
            DemoSection {
                title: "3. apply the advised migration".into(),
                report: Report::MigrateApply(apply_report(false)),
            },
            DemoSection {
                title: "4. check again".into(),
                report: Report::Check(after),
            },
        ],
        comparison: vec![
            comparison("user_profile", 0.412, 0.409, Verdict::Within),
            comparison("projects_by_status", 184.2, 0.87, Verdict::Over),
            Comparison {
                after: Some(Verdict::Over),
                ..comparison("users_with_skill", 311.0, 296.4, Verdict::Over)
            },
        ],
    });
    assert_eq!(r.exit_code(), 2);
    assert_human_and_json("demo", &r);
}

fn apply_plan_report(verdict: PlanVerdict) -> ReviewedApplyReport {
    let refused = verdict == PlanVerdict::Refused;
    let plan = apply_changes_report(false);
    let differences = if refused {
        vec![
            crate::reviewed::Difference {
                kind: "index",
                object: "public.payments_status".into(),
                change: "definition changed".into(),
            },
            crate::reviewed::Difference {
                kind: "migration",
                object: "V7".into(),
                change: "applied since (add_x)".into(),
            },
        ]
    } else {
        vec![]
    };
    ReviewedApplyReport {
        plan_file: Some(PathBuf::from("plan.json")),
        plan_id: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
        made_on: "postgres://app@staging:5432/shop (sslmode=prefer)".into(),
        made_at: "2025-01-02T03:04:05Z".into(),
        database: "postgres://app@db-7:5432/shop (sslmode=prefer)".into(),
        verdict,
        verified: Verified {
            tables: 1,
            indexes: 3,
            migrations: 5,
        },
        differences,
        changes: plan.accepted.clone(),
        migration: (!refused).then(|| PathBuf::from("migrations/V6__pgwarden_plan.sql")),
        migration_reused: !refused,
        run: if refused { None } else { plan.run },
        dry_run: false,
    }
}

/// `apply --plan`: applied (with the migration reused) and refused, naming each difference.
#[test]
fn apply_plan() {
    let r = Report::ApplyPlan(apply_plan_report(PlanVerdict::Matches));
    assert_eq!(r.exit_code(), 0);
    assert_human_and_json("apply_plan", &r);
    let r = Report::ApplyPlan(apply_plan_report(PlanVerdict::Refused));
    assert_eq!(r.exit_code(), 2);
    let message = r.error_message().unwrap();
    assert!(
        message.contains("index public.payments_status: definition changed"),
        "{message}"
    );
    assert!(
        message.contains("migration V7: applied since (add_x)"),
        "{message}"
    );
    assert_human_and_json("apply_plan_refused", &r);
}
