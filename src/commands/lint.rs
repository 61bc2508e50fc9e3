//! `pgwarden lint`: which files, what the database adds (table sizes, applied checksums), and
//! the verdict against --fail-on.

use crate::db::DbContext;
use crate::finding::Severity;
use crate::lint::{self, EDITED_APPLIED_MIGRATION, LintContext, LintFinding, TableSize};
use crate::migrations::{MigrationState, discover, history, status};
use crate::policy::Policy;
use crate::report::LintFormat;
use crate::report::model::LintReport;
use crate::settings::Settings;
use anyhow::Context;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn sql_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
        let entry = entry.with_context(|| format!("cannot read {}", path.display()))?;
        if entry.path().extension().is_some_and(|e| e == "sql") {
            out.push(entry.into_path());
        }
    }
    // In the order the runner applies them (V2 before V10): a table an earlier file creates is
    // new to the later ones.
    out.sort_by_cached_key(|p| (run_order(p), p.clone()));
    Ok(out)
}

/// `V<n>__name.sql` sorts by n (then by name); other files after them.
fn run_order(path: &Path) -> (u64, u64) {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.strip_prefix(['V', 'U'])
        .and_then(|rest| rest.split_once("__"))
        .and_then(|(n, _)| n.parse().ok())
        .map_or((1, 0), |n| (0, n))
}

/// What `lint` was asked.
#[derive(Debug, Clone)]
pub struct LintOptions {
    /// Files or directories (empty: the migrations not yet applied, or all without a database).
    pub paths: Vec<PathBuf>,
    /// Lint every migration, applied or not.
    pub all: bool,
    /// Lowest severity that fails the run.
    pub fail_on: Severity,
    /// Lint's own output format, when asked for.
    pub output_format: Option<LintFormat>,
}

/// `lint`: `args.paths`, else the migrations not yet applied (every one with `args.all` or without
/// a database), weighed by live table sizes when a database is given.
pub fn lint(
    settings: &Settings,
    policy: Option<&Policy>,
    args: &LintOptions,
) -> anyhow::Result<LintReport> {
    let mut ctx = LintContext::default();
    if let Some(p) = policy {
        ctx.disabled = p.lint.disabled_rules();
        if let Some(rows) = p.lint.small_table_rows {
            ctx.small_table_rows = u64::try_from(rows).unwrap_or(ctx.small_table_rows);
        }
        if let Some(pattern) = &p.lint.index_name_pattern {
            ctx.index_name_pattern = Some(regex::Regex::new(pattern).with_context(|| {
                format!(
                    "policy [lint] index_name_pattern `{pattern}` is not a valid regular expression"
                )
            })?);
        }
    }
    let mut findings = Vec::new();
    let mut database = None;
    let mut files: Vec<PathBuf> = Vec::new();
    for p in &args.paths {
        files.extend(sql_files(p)?);
    }
    let connected = if settings.database_given() {
        let target = settings.target()?;
        let mut client = target.connect()?;
        ctx.tables = Some(table_sizes(&mut client)?);
        database = Some(target.redacted());
        Some(client)
    } else {
        None
    };
    if args.paths.is_empty() {
        let found = discover(&settings.migrations_dir)?;
        let applied = match connected {
            Some(mut client) => history::read(&mut client)
                .db_context(|| format!("cannot read {}", history::HISTORY_TABLE))?
                .unwrap_or_default(),
            None => Vec::new(),
        };
        for row in status::compute(&found, &applied) {
            let Some(path) = row.path.clone() else {
                continue;
            };
            match row.state {
                MigrationState::Applied if !args.all => {}
                MigrationState::Modified {
                    ref applied_checksum,
                    ref file_checksum,
                    ..
                } => {
                    findings.push(LintFinding {
                        rule: EDITED_APPLIED_MIGRATION,
                        severity: Severity::Error,
                        file: path.display().to_string(),
                        line: 1,
                        column: 1,
                        message: format!("this migration was applied with checksum {applied_checksum} and now hashes to {file_checksum}: the database will not see the edit"),
                        help: Some("restore the file and put the change in a new migration".into()),
                        source: String::new(),
                    });
                    files.push(path);
                }
                _ => files.push(path),
            }
        }
    }
    let mut statements = Vec::new();
    let (mut ignored, mut on_new_tables) = (Vec::new(), 0);
    for file in &files {
        let sql = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let name = file.display().to_string();
        let linted = lint::lint_file(&name, &sql, &ctx);
        findings.extend(linted.findings);
        ignored.extend(linted.ignored);
        on_new_tables += linted.on_new_tables;
        ctx.new_tables = linted.new_tables;
        statements.extend(lint::statement_locks(&name, &sql, &ctx));
    }
    let fail_on = args.fail_on;
    Ok(LintReport {
        files: files.iter().map(|f| f.display().to_string()).collect(),
        findings,
        ignored,
        on_new_tables,
        statements,
        fail_on,
        database,
        output_format: args.output_format,
    })
}

/// Every table on the search path: its row estimate (`None` if never analyzed) and sizes.
const TABLE_SIZES: &str = "SELECT c.relname::text, \
       CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::float8 END, \
       coalesce(pg_table_size(c.oid), 0)::float8, coalesce(pg_total_relation_size(c.oid), 0)::float8 \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY (current_schemas(false))";

fn table_sizes(client: &mut postgres::Client) -> anyhow::Result<HashMap<String, TableSize>> {
    let rows = client
        .query(TABLE_SIZES, &[])
        .db_context(|| "cannot read table sizes")?;
    Ok(rows
        .iter()
        .map(|r| {
            let size = TableSize {
                rows: r.get(1),
                table_bytes: r.get(2),
                total_bytes: r.get(3),
            };
            (r.get(0), size)
        })
        .collect())
}
