//! A throwaway copy of a live database, for proving index candidates without touching it: the
//! live schema from `pg_dump --schema-only` (pre-data, then the data, then post-data so the
//! indexes and constraints are built once over loaded tables) and the rows copied table by
//! table with binary `COPY`. All rows when the tables fit the size limit; otherwise each large
//! table gives the same fraction of its pages (`TABLESAMPLE SYSTEM`, repeatable) and foreign
//! keys are added `NOT VALID`, since a sample of a child need not find its parents. The source
//! is only read.

use super::{EphemeralError, EphemeralServer, failed, step_err};
use crate::db::{self, ConnectionTarget, DbContext};
use postgres::Client;
use serde::Serialize;
use std::process::Command;

/// Tables up to this size are always copied whole (lookup tables, small dimensions).
const SMALL_TABLE_BYTES: i64 = 8 << 20;

/// The database name in the throwaway server.
const COPY_DB: &str = "pgwarden_sample";

const TABLES: &str = "/* pgwarden */ SELECT format('%I.%I', n.nspname, c.relname), c.relname::text, \
       pg_table_size(c.oid), \
       array(SELECT quote_ident(a.attname) FROM pg_attribute a WHERE a.attrelid = c.oid \
             AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum) \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
       AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                       AND d.objid = c.oid AND d.deptype = 'e') \
     ORDER BY 1";

/// What was copied.
#[derive(Debug, Clone, Serialize)]
pub struct SampleSummary {
    /// Ordinary tables copied (extension-owned tables left out).
    pub tables: usize,
    /// Total size of the source's tables.
    pub source_bytes: i64,
    /// Share of each large table's pages copied, percent (100 = everything).
    pub percent: f64,
    /// Rows copied, over all tables.
    pub rows: u64,
    /// Schema statements the throwaway server could not run (an extension it lacks, say).
    pub skipped: Vec<String>,
    /// The tables copied as a sample (by name, without schema).
    pub sampled_tables: Vec<String>,
}

impl SampleSummary {
    /// For a sample: each sampled table's live rows per copied row (the inverse of the share of
    /// its pages copied); `None` when every row was copied.
    pub fn sampled_share(&self) -> Option<std::collections::HashMap<String, f64>> {
        (self.percent < 100.0).then(|| {
            self.sampled_tables
                .iter()
                .map(|t| (t.clone(), 100.0 / self.percent))
                .collect()
        })
    }
}

impl std::fmt::Display for SampleSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.percent >= 100.0 {
            "all".to_string()
        } else {
            format!("a {:.1}% sample:", self.percent)
        };
        write!(
            f,
            "a throwaway server with the live schema and {what} {} rows of {} tables",
            self.rows, self.tables
        )?;
        if !self.skipped.is_empty() {
            write!(
                f,
                " ({} schema statements it could not run were skipped: {})",
                self.skipped.len(),
                self.skipped.join("; ")
            )?;
        }
        Ok(())
    }
}

/// A running throwaway server holding the copy; dropping it removes everything.
pub struct SampledCopy {
    /// The throwaway server; dropping it stops it and deletes its files.
    pub server: EphemeralServer,
    /// The copy's database on that server.
    pub target: ConnectionTarget,
    /// What was copied, for the report.
    pub summary: SampleSummary,
}

struct SourceTable {
    name: String,
    relname: String,
    bytes: i64,
    columns: Vec<String>,
}

/// Copies `source`'s schema and its rows (all of them up to `max_bytes` of tables, else a
/// sample of that size) into a new throwaway server.
pub fn sampled_copy(
    source: &ConnectionTarget,
    source_client: &mut Client,
    max_bytes: i64,
    options: &super::EphemeralOptions,
) -> Result<SampledCopy, EphemeralError> {
    let tables: Vec<SourceTable> = source_client
        .query(TABLES, &[])
        .db_context(failed("listing the tables to copy"))?
        .iter()
        .map(|r| SourceTable {
            name: r.get(0),
            relname: r.get(1),
            bytes: r.get(2),
            columns: r.get(3),
        })
        .collect();
    let source_bytes: i64 = tables.iter().map(|t| t.bytes).sum();
    let fraction = if source_bytes <= max_bytes {
        1.0
    } else {
        (max_bytes as f64 / source_bytes as f64).max(0.0001)
    };
    // No autovacuum: the copy is vacuumed and analyzed below, and a worker started later would
    // compete with the timings taken on it.
    let mut options = options.clone();
    options.extra_conf.push("autovacuum = off".into());
    let server = EphemeralServer::start_with(&options)?;
    let target = server.create_database(COPY_DB)?;
    let mut copy = target
        .connect()
        .map_err(|e| step_err("connecting to the throwaway copy", e))?;
    let pg_dump = server.bindir().join("pg_dump");
    let mut skipped = Vec::new();
    // Synchronous commits on the copy (cheap: the server runs without fsync). The server's
    // default is off, and a row whose inserting transaction's commit is not yet flushed cannot
    // get its committed hint bit, so the VACUUM below left the tables copied last without a
    // single all-visible page: index-only scans on them visited the heap, and a count(*) served
    // by an index was predicted 11 times slower than it ran after the build.
    copy.batch_execute("SET synchronous_commit = on")
        .db_context(failed("setting up the throwaway copy"))?;
    same_search_path(source_client, &mut copy)?;
    let pre = dump(&pg_dump, source, "pre-data")?;
    run_schema(&mut copy, &pre, false, &mut skipped)?;
    let mut rows = 0;
    let mut sampled_tables = Vec::new();
    for t in &tables {
        let sample = (fraction < 1.0 && t.bytes > SMALL_TABLE_BYTES).then_some(fraction * 100.0);
        if sample.is_some() {
            sampled_tables.push(t.relname.clone());
        }
        rows += copy_table(source_client, &mut copy, t, sample)?;
    }
    let post = dump(&pg_dump, source, "post-data")?;
    run_schema(&mut copy, &post, fraction < 1.0, &mut skipped)?;
    // VACUUM as well as ANALYZE: rows just loaded are not yet all-visible, so every
    // index-only scan on the copy would visit the heap (a count(*) served by an index timed 19 ms
    // there against 1.7 ms on the live, vacuumed table).
    copy.batch_execute("VACUUM (ANALYZE)")
        .db_context(failed("vacuuming and analyzing the throwaway copy"))?;
    tracing::info!(
        tables = tables.len(),
        rows,
        percent = fraction * 100.0,
        "throwaway copy ready"
    );
    Ok(SampledCopy {
        server,
        target,
        summary: SampleSummary {
            tables: tables.len(),
            source_bytes,
            percent: fraction * 100.0,
            rows,
            skipped,
            sampled_tables,
        },
    })
}

/// The copy's database resolves names as the source session does: its search path (set on
/// the database, the role or the connection) becomes the copy database's, so the workload's
/// unqualified names find the same tables there.
fn same_search_path(source: &mut Client, copy: &mut Client) -> Result<(), EphemeralError> {
    let path: String = source
        .query_one("/* pgwarden */ SELECT current_setting('search_path')", &[])
        .db_context(failed("reading the source's search_path"))?
        .get(0);
    copy.execute("SELECT set_config('search_path', $1, false)", &[&path])
        .db_context(failed("setting the copy's search_path"))?;
    copy.batch_execute(&format!(
        "ALTER DATABASE {} SET search_path FROM CURRENT",
        crate::db::quote_ident(COPY_DB)
    ))
    .db_context(failed("setting the copy's search_path"))?;
    Ok(())
}

/// One section of the source's schema as SQL.
fn dump(
    pg_dump: &std::path::Path,
    source: &ConnectionTarget,
    section: &str,
) -> Result<String, EphemeralError> {
    let step = format!("reading the schema of {} with pg_dump", source.redacted());
    let out = Command::new(pg_dump)
        .args([
            "--schema-only",
            "--section",
            section,
            "--no-owner",
            "--no-privileges",
            "--no-publications",
            "--no-subscriptions",
            "--no-security-labels",
            "--no-tablespaces",
        ])
        .env_clear()
        .envs(source.libpq_env())
        .output()
        .map_err(|e| step_err(&step, format!("cannot run {}: {e}", pg_dump.display())))?;
    if !out.status.success() {
        let detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let fix = if detail.contains("permission denied") {
            "grant the user SELECT on every table (pg_dump locks each one it reads)"
        } else if detail.contains("version mismatch") {
            "point PGWARDEN_PG_BINDIR at binaries at least as new as the server"
        } else {
            "check that pg_dump can read this database"
        };
        return Err(step_err(
            &step,
            format!("{detail}; {fix}, or pass --shadow-url with a copy you made"),
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| step_err(&step, e))
}

/// Runs a schema section statement by statement. A statement the throwaway server cannot run
/// (an extension it does not have) is skipped and listed; what depends on it then fails
/// where it is used, by name.
fn run_schema(
    copy: &mut Client,
    sql: &str,
    foreign_keys_not_valid: bool,
    skipped: &mut Vec<String>,
) -> Result<(), EphemeralError> {
    let sql = without_psql_meta_commands(sql);
    let split =
        crate::sql::split(&sql).map_err(|e| step_err("reading pg_dump's output", e.to_string()))?;
    for statement in split.statements {
        let mut text = statement.text;
        if foreign_keys_not_valid && is_foreign_key(&text) {
            text.push_str(" NOT VALID");
        }
        if let Err(e) = copy.batch_execute(&text) {
            let first_line = text.lines().next().unwrap_or_default().to_string();
            tracing::warn!(statement = %first_line, error = %db::describe(&e), "skipped in the throwaway copy");
            skipped.push(format!("{first_line} ({})", db::describe(&e)));
        }
    }
    Ok(())
}

/// pg_dump (15.14 and later) wraps its output in psql's `\restrict KEY` / `\unrestrict KEY`
/// meta-commands, which are not SQL; left in, they would swallow the statement after them.
fn without_psql_meta_commands(sql: &str) -> String {
    sql.lines()
        .filter(|line| {
            let mut words = line.split_whitespace();
            let meta = matches!(words.next(), Some("\\restrict" | "\\unrestrict"));
            !(meta && words.next().is_some() && words.next().is_none())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_foreign_key(statement: &str) -> bool {
    let upper = statement.to_ascii_uppercase();
    upper.starts_with("ALTER TABLE") && upper.contains(" FOREIGN KEY ")
}

/// Copies one table's rows (or a sample of its pages); returns the rows copied.
fn copy_table(
    source: &mut Client,
    copy: &mut Client,
    table: &SourceTable,
    sample_percent: Option<f64>,
) -> Result<u64, EphemeralError> {
    let columns = table.columns.join(", ");
    let sample = sample_percent
        .map(|p| format!(" TABLESAMPLE SYSTEM ({p}) REPEATABLE (42)"))
        .unwrap_or_default();
    let out_sql = format!(
        "{} COPY (SELECT {columns} FROM ONLY {}{sample}) TO STDOUT (FORMAT binary)",
        db::OWN_STATEMENT_MARKER,
        table.name
    );
    let in_sql = format!("COPY {} ({columns}) FROM STDIN (FORMAT binary)", table.name);
    let step = format!("copying table {}", table.name);
    let mut reader = source
        .copy_out(&out_sql)
        .db_context(failed(&step))
        .map_err(EphemeralError::CopyOut)?;
    let mut writer = copy.copy_in(&in_sql).db_context(failed(&step))?;
    std::io::copy(&mut reader, &mut writer).map_err(|e| step_err(&step, e))?;
    drop(reader);
    Ok(writer.finish().db_context(failed(&step))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_run_on_the_source_carry_the_marker() {
        // `advise --from-stats` leaves out entries whose text carries it.
        assert!(TABLES.starts_with(db::OWN_STATEMENT_MARKER));
    }

    #[test]
    fn psql_restrict_lines_are_removed_and_nothing_else() {
        let dump = "\\restrict abc123\n\nSET statement_timeout = 0;\nCREATE FUNCTION f() RETURNS text AS $$\n\\restrict in a body\n$$ LANGUAGE sql;\n\\unrestrict abc123\n";
        let cleaned = without_psql_meta_commands(dump);
        assert!(!cleaned.contains("restrict abc123"));
        assert!(cleaned.starts_with("\nSET statement_timeout = 0;"));
        assert!(cleaned.contains("\\restrict in a body"));
    }

    #[test]
    fn only_foreign_key_constraints_are_relaxed() {
        assert!(is_foreign_key(
            "ALTER TABLE ONLY public.tasks\n    ADD CONSTRAINT tasks_developer_id_fkey FOREIGN KEY (developer_id) REFERENCES public.users(id)"
        ));
        assert!(!is_foreign_key(
            "ALTER TABLE ONLY public.tasks\n    ADD CONSTRAINT tasks_pkey PRIMARY KEY (id)"
        ));
        assert!(!is_foreign_key(
            "CREATE INDEX idx ON public.t USING btree (foreign_key_id)"
        ));
    }

    #[test]
    fn the_summary_says_whether_it_is_a_sample() {
        let mut s = SampleSummary {
            tables: 4,
            source_bytes: 10,
            percent: 100.0,
            rows: 1000,
            skipped: Vec::new(),
            sampled_tables: vec!["docs".into()],
        };
        assert_eq!(s.sampled_share(), None);
        assert!(s.to_string().contains("and all 1000 rows of 4 tables"));
        s.percent = 12.5;
        assert!(s.to_string().contains("a 12.5% sample: 1000 rows"));
        assert_eq!(s.sampled_share().unwrap()["docs"], 8.0);
    }
}
