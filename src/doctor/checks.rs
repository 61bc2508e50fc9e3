//! The individual checks of `doctor`, each one or two catalog reads.

use super::{Diagnosis, Server};
use crate::db::{ConnectionTarget, DbContext, DbError, describe};
use crate::escape::ident;
use crate::migrations::history::{AppliedRow, HISTORY_TABLE};
use postgres::Client;
use std::path::Path;

const SERVER: &str = "SELECT version(), current_setting('server_version_num')::int, \
       current_user::text, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)";

/// The server's version and who we are on it.
pub(super) fn server(client: &mut Client) -> Result<Server, DbError> {
    let row = client
        .query_one(SERVER, &[])
        .db_context(|| "cannot read the server's version")?;
    let num: i32 = row.get(1);
    let num = num.max(0) as u32;
    Ok(Server {
        version: row.get(0),
        major: if num >= 100_000 {
            num / 10_000
        } else {
            num / 10_000 * 10 + num / 100 % 100
        },
        user: row.get(2),
        superuser: row.get::<_, Option<bool>>(3).unwrap_or(false),
    })
}

const THROWAWAY_USERS: &[&str] = &["plan", "ci", "advise --throwaway"];

/// Server binaries of the target's major version, for throwaway servers.
pub(super) fn binaries(major: u32, bindir: Option<&Path>) -> Diagnosis {
    const NAME: &str = "server binaries";
    let search = crate::ephemeral::search(bindir);
    match search.choose(Some(major)) {
        Ok(found) => match crate::ephemeral::server_user() {
            Ok(_) => Diagnosis::ok(
                NAME,
                format!(
                    "PostgreSQL {} at {} for throwaway servers",
                    found.major,
                    found.bindir.display()
                ),
            ),
            Err(e) => Diagnosis::limited(
                NAME,
                format!("PostgreSQL {major} at {}", found.bindir.display()),
                e.to_string(),
                THROWAWAY_USERS,
            ),
        },
        Err(e) => Diagnosis::limited(
            NAME,
            format!(
                "no PostgreSQL {} server binaries {}",
                crate::ephemeral::display_major(major),
                match &search.override_dir {
                    Some(dir) => format!("in {} (--pg-bindir / PGWARDEN_PG_BINDIR)", dir.display()),
                    None => "on this machine".into(),
                }
            ),
            e.to_string(),
            THROWAWAY_USERS,
        ),
    }
}

/// The right to create objects where unqualified migrations put them.
pub(super) fn ddl_privilege(client: &mut Client) -> Result<Diagnosis, DbError> {
    const NAME: &str = "DDL privilege";
    let row = client
        .query_one(
            "SELECT current_schema()::text, has_schema_privilege(current_schema(), 'CREATE'), \
                    current_user::text",
            &[],
        )
        .db_context(|| "cannot read the role's privileges")?;
    let (schema, create, user): (Option<String>, Option<bool>, String) =
        (row.get(0), row.get(1), row.get(2));
    Ok(match (schema, create) {
        (None, _) => Diagnosis::limited(
            NAME,
            "no schema of the search_path exists: unqualified names have nowhere to go",
            format!(
                "create one (CREATE SCHEMA ...) or set the search_path of {} (ALTER ROLE {} [IN DATABASE ...] SET search_path = ...: a setting for the role in this database wins over one for the role)",
                user,
                ident(&user)
            ),
            &["migrate apply", "apply"],
        ),
        (Some(s), Some(true)) => Diagnosis::ok(NAME, format!("CREATE on schema {s}")),
        (Some(s), _) => Diagnosis::limited(
            NAME,
            format!("{user} cannot create objects in schema {s}"),
            format!(
                "GRANT CREATE ON SCHEMA {} TO {}, or run migrations as the schema's owner",
                ident(&s),
                ident(&user)
            ),
            &["migrate apply", "apply"],
        ),
    })
}

const HISTORY: &str = "SELECT to_regclass($1)::text, \
       coalesce(has_table_privilege(to_regclass($1), 'SELECT'), false), \
       coalesce(has_table_privilege(to_regclass($1), 'INSERT'), false), \
       (SELECT string_agg(quote_ident(n.nspname) || '.' || quote_ident(c.relname), ', ' ORDER BY 1) \
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE c.relname = $1 AND c.relkind IN ('r', 'p'))";

const HISTORY_USERS: &[&str] = &["migrate status", "migrate apply", "apply"];

/// The history table this role's sessions would use, and the rows in it (`None` when they
/// cannot be read).
pub(super) fn history(
    client: &mut Client,
) -> Result<(Diagnosis, Option<Vec<AppliedRow>>), DbError> {
    const NAME: &str = "history table";
    let row = client
        .query_one(HISTORY, &[&HISTORY_TABLE])
        .db_context(|| format!("cannot look for {HISTORY_TABLE}"))?;
    let (found, select, insert, anywhere): (Option<String>, bool, bool, Option<String>) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    let Some(found) = found else {
        return Ok(match anywhere {
            Some(elsewhere) => (
                Diagnosis::limited(
                    NAME,
                    format!(
                        "{HISTORY_TABLE} is not on this role's search_path but exists as {elsewhere}: `migrate apply` would create another one and run every migration again"
                    ),
                    "put that schema first on the deploying role's search_path (ALTER ROLE ... [IN DATABASE ...] SET search_path = ...), or deploy as the role that applied the migrations",
                    HISTORY_USERS,
                ),
                None,
            ),
            None => (
                Diagnosis::ok(
                    NAME,
                    format!(
                        "{HISTORY_TABLE} not created yet (the first `migrate apply` creates it)"
                    ),
                ),
                Some(Vec::new()),
            ),
        });
    };
    let missing: Vec<&str> = [("SELECT", select), ("INSERT", insert)]
        .iter()
        .filter(|(_, has)| !has)
        .map(|(p, _)| *p)
        .collect();
    if !missing.is_empty() {
        return Ok((
            Diagnosis::limited(
                NAME,
                format!("this role lacks {} on {found}", missing.join(" and ")),
                format!(
                    "GRANT {} ON {found} TO the deploying role",
                    missing.join(", ")
                ),
                HISTORY_USERS,
            ),
            None,
        ));
    }
    Ok(match crate::migrations::history::read(client) {
        Ok(rows) => {
            let rows = rows.unwrap_or_default();
            (
                Diagnosis::ok(NAME, format!("{found}: {} applied", rows.len())),
                Some(rows),
            )
        }
        Err(e) => (
            Diagnosis::limited(
                NAME,
                format!(
                    "{found} cannot be read as a history table: {}",
                    describe(&e)
                ),
                "compare it with the table `migrate apply` creates (version int4, name, applied_on, checksum) and repair it, or point --database-url at the right database",
                HISTORY_USERS,
            ),
            None,
        ),
    })
}

/// The migrations folder, and how it compares with the history (`applied`, when readable).
pub(super) fn migrations(migrations_dir: &Path, applied: Option<&[AppliedRow]>) -> Diagnosis {
    const NAME: &str = "migrations folder";
    let found = match crate::migrations::discover(migrations_dir) {
        Ok(found) => found,
        Err(e) => {
            return Diagnosis::limited(
                NAME,
                e.to_string(),
                "run from the repository that holds the migrations, or pass --migrations DIR",
                &["migrate", "lint", "plan", "ci"],
            );
        }
    };
    let Some(applied) = applied else {
        return Diagnosis::ok(
            NAME,
            format!(
                "{} file(s) in {} (the history could not be compared)",
                found.files.len(),
                migrations_dir.display()
            ),
        );
    };
    let rows = crate::migrations::status::compute(&found, applied);
    let pending = rows
        .iter()
        .filter(|r| r.state == crate::migrations::MigrationState::Pending)
        .count();
    let drift = rows.iter().filter(|r| r.state.is_drift()).count();
    if drift > 0 {
        return Diagnosis::limited(
            NAME,
            format!(
                "{drift} file(s) in {} drifted from the history or unusable; {pending} pending",
                migrations_dir.display()
            ),
            "see `pgwarden migrate status`: restore the files, or `migrate repair` what was edited on purpose",
            &["migrate apply"],
        );
    }
    Diagnosis::ok(
        NAME,
        format!(
            "{} file(s) in {}, {pending} pending",
            found.files.len(),
            migrations_dir.display()
        ),
    )
}

/// A connection pooler (or a port mapping) between us and the server.
pub(super) fn pooler(client: &mut Client, target: &ConnectionTarget) -> Result<Diagnosis, DbError> {
    const NAME: &str = "connection pooler";
    let server_port: Option<i32> = client
        .query_one("SELECT inet_server_port()", &[])
        .db_context(|| "cannot read the server's port")?
        .get(0);
    const FIX: &str = "through PgBouncer in transaction mode the migration lock and session settings do not hold: point --database-url straight at the server for `migrate apply` and `apply`";
    Ok(match (server_port, target.single_tcp_port()) {
        (Some(server), Some(ours)) if server != i32::from(ours) => Diagnosis::note(
            NAME,
            format!(
                "connected to port {ours}, the server listens on {server}: a pooler (PgBouncer?) or a port mapping is in between"
            ),
            FIX,
        ),
        (None, _) if target.over_tcp() => Diagnosis::note(
            NAME,
            "connected over TCP, but the server sees a Unix-socket session: a pooler (PgBouncer?) or a proxy is in between",
            FIX,
        ),
        (None, _) => Diagnosis::ok(NAME, "connected over a Unix socket, straight to the server"),
        (Some(_), None) => Diagnosis::ok(
            NAME,
            "several hosts named: which one answered is not known, so the ports are not compared",
        ),
        _ => Diagnosis::ok(
            NAME,
            "none seen: the server listens on the port we connected to",
        ),
    })
}

/// The value a session starts with (`reset_val`: doctor sets its own) and where it comes
/// from (`pg_db_role_setting` for the role and database, else the server's configuration).
const INHERITED_TIMEOUTS: &str = "WITH mine AS ( \
       SELECT d.setrole <> 0 AS for_role, d.setdatabase <> 0 AS for_db, split_part(c, '=', 1) AS name \
       FROM pg_db_role_setting d, unnest(d.setconfig) c \
       WHERE d.setrole IN (0, (SELECT oid FROM pg_roles WHERE rolname = current_user)) \
         AND d.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))) \
     SELECT s.name, s.reset_val || coalesce(s.unit, ''), \
       coalesce((SELECT CASE WHEN m.for_role AND m.for_db THEN 'database user' \
                             WHEN m.for_role THEN 'user' ELSE 'database' END \
                 FROM mine m WHERE m.name = s.name \
                 ORDER BY m.for_role::int + m.for_db::int DESC LIMIT 1), 'server configuration') \
     FROM pg_settings s \
     WHERE s.name IN ('lock_timeout', 'statement_timeout', 'idle_in_transaction_session_timeout', \
                      'idle_session_timeout', 'transaction_timeout') \
       AND s.reset_val <> '0' ORDER BY s.name";

/// Timeouts set for the role, the database or the server, which every session inherits.
pub(super) fn timeouts(client: &mut Client) -> Result<Diagnosis, DbError> {
    const NAME: &str = "inherited timeouts";
    let rows = client
        .query(INHERITED_TIMEOUTS, &[])
        .db_context(|| "cannot read the timeout settings")?;
    if rows.is_empty() {
        return Ok(Diagnosis::ok(
            NAME,
            "no lock_timeout, statement_timeout or idle_in_transaction_session_timeout set",
        ));
    }
    let set: Vec<String> = rows
        .iter()
        .map(|r| {
            let (name, value, source): (String, String, String) = (r.get(0), r.get(1), r.get(2));
            format!("{name} = {value} (from the {source})")
        })
        .collect();
    Ok(Diagnosis::note(
        NAME,
        set.join(", "),
        "pgwarden sets lock_timeout and statement_timeout for its own sessions (--lock-timeout, --statement-timeout, --build-statement-timeout); an idle_in_transaction_session_timeout shorter than a migration's longest pause would end it",
    ))
}

/// Streaming replicas of this server.
pub(super) fn replicas(client: &mut Client, server: &Server) -> Result<Diagnosis, DbError> {
    const NAME: &str = "replicas";
    let count: i64 = client
        .query_one("SELECT count(*) FROM pg_stat_replication", &[])
        .db_context(|| "cannot read pg_stat_replication")?
        .get(0);
    if count == 0 {
        return Ok(Diagnosis::ok(NAME, "no streaming replica connected"));
    }
    let lag = if super::extensions::can_read_all_stats(client, server)? {
        ""
    } else {
        " (their lag is hidden without pg_read_all_stats)"
    };
    Ok(Diagnosis::note(
        NAME,
        format!("{count} streaming replica(s) connected{lag}"),
        "index scans are counted per server: an index unused here may carry a replica's reads, so weigh `plan`'s unused-index notes against the replicas' statistics",
    ))
}

/// INVALID indexes (failed concurrent builds, or partitioned parents not yet attached).
pub(super) fn invalid_indexes(client: &mut Client) -> Result<Diagnosis, DbError> {
    const NAME: &str = "INVALID indexes";
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE NOT i.indisvalid ORDER BY 1, 2",
            &[],
        )
        .db_context(|| "cannot look for INVALID indexes")?;
    if rows.is_empty() {
        return Ok(Diagnosis::ok(NAME, "none"));
    }
    let names: Vec<String> = rows
        .iter()
        .take(5)
        .map(|r| crate::escape::qualified(&r.get::<_, String>(0), &r.get::<_, String>(1)))
        .collect();
    let more = if rows.len() > 5 {
        format!(" and {} more", rows.len() - 5)
    } else {
        String::new()
    };
    Ok(Diagnosis::note(
        NAME,
        format!("{}{more}", names.join(", ")),
        "`migrate apply` rebuilds those its migrations build; `pgwarden plan` reports the rest with the SQL that fixes them",
    ))
}
