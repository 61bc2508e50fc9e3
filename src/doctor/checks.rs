//! The individual checks of `doctor`, each one or two catalog reads.

use super::{Diagnosis, Server};
use crate::db::{ConnectionTarget, DbContext, DbError};
use crate::escape::ident;
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
            format!("no PostgreSQL {major} server binaries on this machine"),
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
                "create one (CREATE SCHEMA ...) or set the search_path of {} (ALTER ROLE {} SET search_path = ...)",
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

/// The history table, and how the migrations folder compares with it.
pub(super) fn history(client: &mut Client, migrations_dir: &Path) -> Result<Diagnosis, DbError> {
    use crate::migrations::history::HISTORY_TABLE;
    const NAME: &str = "history table";
    let row = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL, \
                    coalesce(has_table_privilege(to_regclass($1), 'SELECT, INSERT'), false)",
            &[&HISTORY_TABLE],
        )
        .db_context(|| format!("cannot look for {HISTORY_TABLE}"))?;
    let (exists, usable): (bool, bool) = (row.get(0), row.get(1));
    if exists && !usable {
        return Ok(Diagnosis::limited(
            NAME,
            format!("{HISTORY_TABLE} exists but this role cannot read and write it"),
            format!("GRANT SELECT, INSERT ON {HISTORY_TABLE} TO the deploying role"),
            &["migrate status", "migrate apply", "apply"],
        ));
    }
    let applied = if exists {
        crate::migrations::history::read(client)
            .db_context(|| format!("cannot read {HISTORY_TABLE}"))?
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let files = match crate::migrations::discover(migrations_dir) {
        Ok(found) => {
            let rows = crate::migrations::status::compute(&found, &applied);
            let pending = rows
                .iter()
                .filter(|r| r.state == crate::migrations::MigrationState::Pending)
                .count();
            let drift = rows.iter().filter(|r| r.state.is_drift()).count();
            if drift > 0 {
                format!(
                    "; {pending} pending and {drift} drifted or unusable in {} (see `pgwarden migrate status`)",
                    migrations_dir.display()
                )
            } else {
                format!("; {pending} pending in {}", migrations_dir.display())
            }
        }
        Err(_) => format!("; no migrations folder at {}", migrations_dir.display()),
    };
    Ok(if exists {
        Diagnosis::ok(
            NAME,
            format!("{HISTORY_TABLE}: {} applied{files}", applied.len()),
        )
    } else {
        Diagnosis::ok(
            NAME,
            format!(
                "{HISTORY_TABLE} not created yet (the first `migrate apply` creates it){files}"
            ),
        )
    })
}

/// A connection pooler (or a port mapping) between us and the server.
pub(super) fn pooler(client: &mut Client, target: &ConnectionTarget) -> Result<Diagnosis, DbError> {
    const NAME: &str = "connection pooler";
    let server_port: Option<i32> = client
        .query_one("SELECT inet_server_port()", &[])
        .db_context(|| "cannot read the server's port")?
        .get(0);
    Ok(match (server_port, target.port()) {
        (Some(server), Some(ours)) if server != i32::from(ours) => Diagnosis::note(
            NAME,
            format!(
                "connected to port {ours}, the server listens on {server}: a pooler (PgBouncer?) or a port mapping is in between"
            ),
            "through PgBouncer in transaction mode the migration lock and session settings do not hold: point --database-url straight at the server for `migrate apply` and `apply`",
        ),
        (None, _) => Diagnosis::ok(NAME, "connected over a Unix socket, straight to the server"),
        _ => Diagnosis::ok(
            NAME,
            "none seen: the server listens on the port we connected to",
        ),
    })
}

/// Timeouts set for the role, the database or the server, which every session inherits.
pub(super) fn timeouts(client: &mut Client) -> Result<Diagnosis, DbError> {
    const NAME: &str = "inherited timeouts";
    let rows = client
        .query(
            "SELECT name, setting || coalesce(unit, ''), source FROM pg_settings \
             WHERE name IN ('lock_timeout', 'statement_timeout', 'idle_in_transaction_session_timeout') \
               AND setting <> '0' ORDER BY name",
            &[],
        )
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
        .map(|r| format!("{}.{}", r.get::<_, String>(0), r.get::<_, String>(1)))
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
