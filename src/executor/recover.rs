//! Recovery of half-built indexes: a failed or killed `CREATE INDEX CONCURRENTLY` leaves an
//! INVALID index that a later `IF NOT EXISTS` build would silently accept.

use crate::catalog::{NullsNotDistinct, index_meaning_sql};
use crate::db::quote_literal;
use crate::sql::IndexBuild;
use postgres::{Client, SimpleQueryMessage};
use std::time::{Duration, Instant};

/// A query returning the qualified, quoted name of an INVALID index that `build` would create.
/// Literal SQL (one round trip with the simple protocol); values are quoted literals. The
/// index is looked up by its qualified name in the table's schema (two index probes), not by
/// scanning `pg_index`: it runs after every concurrent build, so it must stay cheap to plan
/// and to run on a catalog of thousands of indexes.
pub fn invalid_index_query(build: &IndexBuild) -> String {
    format!(
        "SELECT s.name FROM (SELECT (SELECT relnamespace::regnamespace::text FROM pg_class            WHERE oid = to_regclass({})) || '.' || quote_ident({}) AS name) s          WHERE EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(s.name)            AND NOT indisvalid AND indrelid = to_regclass({})) AND (SELECT relkind FROM pg_class WHERE oid = to_regclass(s.name)) = 'i'",
        quote_literal(&build.table),
        quote_literal(&build.index_name),
        quote_literal(&build.table)
    )
}

/// The qualified name of an INVALID index that `build` would create, if there is one.
pub fn find_invalid(
    client: &mut Client,
    build: &IndexBuild,
) -> Result<Option<String>, postgres::Error> {
    let messages = client.simple_query(&invalid_index_query(build))?;
    Ok(messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
        _ => None,
    }))
}

/// Drops (concurrently) an INVALID index that `build` would create; returns what it dropped.
pub fn drop_invalid(
    client: &mut Client,
    build: &IndexBuild,
) -> Result<Vec<String>, postgres::Error> {
    let Some(name) = find_invalid(client, build)? else {
        return Ok(Vec::new());
    };
    tracing::warn!(index = %name, "found an INVALID index left by a failed concurrent build; dropping it to build it again");
    client.batch_execute(&drop_invalid_sql(&name))?;
    Ok(vec![name])
}

/// The statement that removes an INVALID index (shown in dry runs, run by recovery).
pub fn drop_invalid_sql(qualified_name: &str) -> String {
    format!("DROP INDEX CONCURRENTLY IF EXISTS {qualified_name}")
}

/// What a rerun finds under the name of an index its statement creates (the statement failed
/// with "already exists"): what an interrupted run left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    /// VALID (or a partitioned index waiting for its partitions) with the statement's
    /// definition: adopt it, as if the statement had run.
    Same,
    /// INVALID, and no build of it is running: drop it and build again.
    Invalid,
    /// Another definition under that name: never adopted.
    Differs {
        /// What exists under that name: its definition, or the kind of relation it is.
        existing: String,
        /// The statement's definition (as PostgreSQL deparses it when it could be compared).
        statement: String,
    },
}

/// Facts about an index by qualified name: valid, partitioned, the pid building it now, and
/// its definition.
const INDEX_STATE: &str = "SELECT i.indisvalid, c.relkind = 'I', \
       (SELECT p.pid FROM pg_stat_progress_create_index p WHERE p.index_relid = c.oid LIMIT 1), \
       pg_get_indexdef(c.oid) \
     FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE c.oid = to_regclass($1)";

/// A definition key that means the same in any database and on any table with the same
/// columns: method, uniqueness, key count, each column or expression as deparsed, the rest of
/// its meaning ([`index_meaning_sql`]) and the predicate. `$1` is the index's regclass text.
fn key_of_sql() -> String {
    format!(
        "SELECT am.amname::text, i.indisunique::text, i.indnkeyatts::text, \
           array(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnatts) k)::text, \
           {}, coalesce(pg_get_expr(i.indpred, i.indrelid, true), '') \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam \
         WHERE i.indexrelid = to_regclass($1)",
        index_meaning_sql(NullsNotDistinct::AnyVersion)
    )
}

/// Whether index `$1` is on table `$2`.
const ON_TABLE: &str = "SELECT EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass($1) AND indrelid = to_regclass($2))";

/// The name of the probe table and index that recovery builds in a rolled-back transaction.
const PROBE_TABLE: &str = "pg_temp.pgwarden_probe";
const PROBE_INDEX: &str = "pgwarden_probe_index";

/// Decides what to do with a relation of the statement's index name, if there is one (`None`:
/// there is none). A build of it still running (the backend of a killed client) is waited for,
/// naming its pid, up to `wait`. A relation that is not an index is never taken for it.
pub fn existing(
    client: &mut Client,
    build: &IndexBuild,
    statement: &str,
    wait: Duration,
) -> Result<Option<Existing>, postgres::Error> {
    // One round trip where nothing is there (the usual case): the name and its relation's kind.
    let (name, kind) = name_and_kind(client, build)?;
    let Some(name) = name else {
        return Ok(None);
    };
    match kind.as_deref() {
        None => return Ok(None),
        Some("i" | "I") => {}
        Some(other) => {
            return Ok(Some(Existing::Differs {
                existing: format!("a relation of kind '{other}' (not an index) named {name}"),
                statement: statement.to_string(),
            }));
        }
    }
    let Some((name, valid, partitioned, definition)) = wait_for_index(client, name, wait)? else {
        return Ok(None);
    };
    // An index of that name on another table is never this statement's, valid or not.
    let on_table: bool = client.query_one(ON_TABLE, &[&name, &build.table])?.get(0);
    if !on_table {
        return Ok(Some(Existing::Differs {
            existing: definition,
            statement: statement.to_string(),
        }));
    }
    if !valid && !partitioned {
        return Ok(Some(Existing::Invalid));
    }
    let (same, wanted) = match compare_with_probe(client, build, statement, &name) {
        Ok(compared) => compared,
        // The probe is a temporary table: without the TEMP privilege nothing can be compared.
        Err(e) if e.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) => {
            if build.if_not_exists {
                tracing::warn!(index = %crate::escape::inline(&name), "cannot compare the existing index with the statement (no TEMP privilege); IF NOT EXISTS accepts it, as PostgreSQL would");
                return Ok(Some(Existing::Same));
            }
            (
                false,
                "(not compared: this role may not create the temporary table the comparison needs; GRANT TEMP ON DATABASE to it)".to_string(),
            )
        }
        Err(e) => return Err(e),
    };
    Ok(Some(if same {
        Existing::Same
    } else {
        Existing::Differs {
            existing: definition,
            statement: wanted,
        }
    }))
}

/// The qualified, quoted name of the index `build` creates (in its table's schema), and the
/// kind of the relation of that name, if any; no row when the table is not there. Literal SQL
/// with quoted values: one round trip before every `IF NOT EXISTS` build.
fn name_and_kind_sql(build: &IndexBuild) -> String {
    format!(
        "SELECT q.name, (SELECT relkind::text FROM pg_class WHERE oid = to_regclass(q.name)) \
         FROM (SELECT quote_ident(n.nspname) || '.' || quote_ident({}) AS name \
           FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace WHERE t.oid = to_regclass({})) q",
        quote_literal(&build.index_name),
        quote_literal(&build.table)
    )
}

/// [`name_and_kind_sql`]'s answer: the qualified name (`None` without the table) and the kind.
fn name_and_kind(
    client: &mut Client,
    build: &IndexBuild,
) -> Result<(Option<String>, Option<String>), postgres::Error> {
    let messages = client.simple_query(&name_and_kind_sql(build))?;
    Ok(messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some((
                row.get(0).map(str::to_string),
                row.get(1).map(str::to_string),
            )),
            _ => None,
        })
        .unwrap_or_default())
}

/// The index `build` creates, once no build of it is running (waiting up to `wait`, naming the
/// pid that builds it): its qualified name, validity, whether it is partitioned, definition.
/// `None` when there is no such index.
pub fn wait_for_build(
    client: &mut Client,
    build: &IndexBuild,
    wait: Duration,
) -> Result<Option<(String, bool, bool, String)>, postgres::Error> {
    match name_and_kind(client, build)?.0 {
        Some(name) => wait_for_index(client, name, wait),
        None => Ok(None),
    }
}

/// [`wait_for_build`] for the index of qualified name `name`.
fn wait_for_index(
    client: &mut Client,
    name: String,
    wait: Duration,
) -> Result<Option<(String, bool, bool, String)>, postgres::Error> {
    let started = Instant::now();
    let mut announced = false;
    loop {
        let Some(row) = client.query_opt(INDEX_STATE, &[&name])? else {
            return Ok(None);
        };
        let running: Option<i32> = row.get(2);
        match running {
            Some(pid) if started.elapsed() < wait => {
                if !announced {
                    tracing::warn!(index = %name, pid, "a build of this index is still running (an interrupted run's?); waiting for it (--lock-wait)");
                    announced = true;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            _ => return Ok(Some((name, row.get(0), row.get(1), row.get(3)))),
        }
    }
}

/// Builds the statement's index on an empty copy of the table's columns (a temporary table, in
/// a transaction that is rolled back) and compares its key with the existing index's: PostgreSQL
/// itself normalizes both definitions. Returns whether they match and the probe's definition.
fn compare_with_probe(
    client: &mut Client,
    build: &IndexBuild,
    statement: &str,
    existing: &str,
) -> Result<(bool, String), postgres::Error> {
    // Built in a transaction: CONCURRENTLY removed; ON ONLY kept.
    let probe = crate::sql::rewrite_index_build(build, statement, PROBE_INDEX, PROBE_TABLE);
    let mut tx = client.transaction()?;
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = '60s'; CREATE TEMP TABLE {PROBE_TABLE} (LIKE {}); {probe}",
        build.table
    ))?;
    let probe_name = format!("pg_temp.{PROBE_INDEX}");
    let key_sql = key_of_sql();
    let key =
        |tx: &mut postgres::Transaction, name: &str| -> Result<Vec<String>, postgres::Error> {
            let row = tx.query_one(key_sql.as_str(), &[&name])?;
            Ok((0..row.len()).map(|k| row.get::<_, String>(k)).collect())
        };
    let on_table: bool = tx.query_one(ON_TABLE, &[&existing, &build.table])?.get(0);
    let same = on_table && key(&mut tx, existing)? == key(&mut tx, &probe_name)?;
    let shown: String = tx
        .query_one("SELECT pg_get_indexdef(to_regclass($1))", &[&probe_name])?
        .get(0);
    tx.rollback()?;
    // The probe lives in this session's pg_temp_N schema: show the statement's own names.
    let shown = regex::Regex::new(r"pg_temp(_\d+)?\.pgwarden_probe\b")
        .map(|re| re.replace(&shown, build.table.as_str()).into_owned())
        .unwrap_or(shown)
        .replace(PROBE_INDEX, &crate::escape::ident(&build.index_name));
    Ok((same, shown))
}

/// INVALID `<name>_ccnew[N]` / `<name>_ccold[N]` indexes on the table of index `$1`, with no
/// build running: what an interrupted `REINDEX INDEX CONCURRENTLY` of it leaves behind.
const REINDEX_LEFTOVERS: &str = "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) \
     FROM (SELECT bc.relname, bi.indrelid FROM pg_class bc JOIN pg_index bi ON bi.indexrelid = bc.oid \
           WHERE bc.oid = to_regclass($1)) b \
     JOIN pg_index i ON i.indrelid = b.indrelid JOIN pg_class c ON c.oid = i.indexrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE NOT i.indisvalid AND left(c.relname, length(b.relname)) = b.relname \
       AND substr(c.relname, length(b.relname) + 1) ~ '^_cc(new|old)[0-9]*$' \
       AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = c.oid)";

/// Drops (concurrently) what an interrupted `REINDEX INDEX CONCURRENTLY index` left behind, so
/// its rerun leaves no INVALID copy; returns what it dropped.
pub fn drop_reindex_leftovers(
    client: &mut Client,
    index: &str,
) -> Result<Vec<String>, postgres::Error> {
    let names: Vec<String> = client
        .query(REINDEX_LEFTOVERS, &[&index])?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for name in &names {
        tracing::warn!(index = %name, "dropping what an interrupted REINDEX CONCURRENTLY left behind");
        client.batch_execute(&drop_invalid_sql(name))?;
    }
    Ok(names)
}
