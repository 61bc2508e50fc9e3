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

/// `shared_preload_libraries` is hidden from roles without `pg_read_all_settings` (pg_settings
/// leaves the row out): then whether a library is preloaded is unknown (NULL).
const EXTENSION: &str = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = $1), \
       EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = $1), \
       (SELECT $1 = ANY (string_to_array(replace(setting, ' ', ''), ',')) FROM pg_settings \
         WHERE name = 'shared_preload_libraries')";

/// Whether `name` is installed in this database, available to install, and preloaded
/// (`None`: this role may not see the setting).
fn extension_state(client: &mut Client, name: &str) -> Result<(bool, bool, Option<bool>), DbError> {
    let row = client
        .query_one(EXTENSION, &[&name])
        .db_context(|| format!("cannot look for the extension {name}"))?;
    Ok((row.get(0), row.get(1), row.get(2)))
}

fn can_read_all_stats(client: &mut Client, server: &Server) -> Result<bool, DbError> {
    if server.superuser {
        return Ok(true);
    }
    Ok(client
        .query_one(
            "SELECT pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')",
            &[],
        )
        .db_context(|| "cannot read the role's memberships")?
        .get(0))
}

/// pg_stat_statements: installed, preloaded, readable by this role.
pub(super) fn pg_stat_statements(
    client: &mut Client,
    server: &Server,
) -> Result<Diagnosis, DbError> {
    const NAME: &str = "pg_stat_statements";
    let (installed, available, preloaded) = extension_state(client, NAME)?;
    // A hidden setting: an installed extension answers only when its library is preloaded;
    // an uninstalled one leaves it unknown.
    let preloaded = preloaded.or_else(|| {
        installed.then(|| {
            client
                .simple_query("SELECT 1 FROM pg_stat_statements LIMIT 1")
                .is_ok()
        })
    });
    let readable = can_read_all_stats(client, server)?;
    let affects = ["check --mode stats", "advise --from-stats"];
    let mut fixes = Vec::new();
    if !available {
        fixes.push(format!(
            "install the server's contrib package (Debian/Ubuntu: postgresql-contrib or postgresql-{})",
            server.major
        ));
    }
    match preloaded {
        Some(false) => fixes.push(
            "add pg_stat_statements to shared_preload_libraries and restart the server".into(),
        ),
        Some(true) => {}
        None => fixes.push(
            "make sure pg_stat_statements is in shared_preload_libraries (this role cannot see that setting without pg_read_all_settings)".into(),
        ),
    }
    if !installed {
        fixes.push("CREATE EXTENSION pg_stat_statements".into());
    }
    if !readable {
        fixes.push(format!(
            "GRANT pg_read_all_stats TO {} (other roles' statements are hidden without it)",
            ident(&server.user)
        ));
    }
    if fixes.is_empty() {
        return Ok(Diagnosis::ok(
            NAME,
            "installed, preloaded, every role's statements readable",
        ));
    }
    let state = |yes: bool| if yes { "yes" } else { "no" };
    let mut d = Diagnosis::note(
        NAME,
        format!(
            "installed: {}, preloaded: {}, other roles' statements readable: {}",
            state(installed),
            preloaded.map_or("unknown", state),
            state(readable)
        ),
        fixes.join("; "),
    );
    d.affects = affects.iter().map(|s| s.to_string()).collect();
    Ok(d)
}

/// An optional extension: installed here, or only available, or not on the server at all.
pub(super) fn extension(
    client: &mut Client,
    name: &str,
    purpose: &str,
) -> Result<Diagnosis, DbError> {
    let (installed, available, preloaded) = extension_state(client, name)?;
    // Unknown to this role: assume preloaded rather than advise a restart on a guess.
    let preloaded = preloaded.unwrap_or(true);
    let needs_preload = name == "pg_qualstats";
    Ok(if installed && (preloaded || !needs_preload) {
        Diagnosis::ok(name, format!("installed: {purpose}"))
    } else if installed {
        Diagnosis::note(
            name,
            format!("installed but not preloaded: {purpose}"),
            format!("add {name} to shared_preload_libraries and restart the server"),
        )
    } else if available {
        Diagnosis::note(
            name,
            format!("available, not installed in this database: {purpose}"),
            if needs_preload && !preloaded {
                format!(
                    "add {name} to shared_preload_libraries, restart the server, then CREATE EXTENSION {name}"
                )
            } else {
                format!("CREATE EXTENSION {name}")
            },
        )
    } else {
        Diagnosis::note(
            name,
            format!("not on this server: {purpose}"),
            format!(
                "install it on the server (Debian/Ubuntu: postgresql-<major>-{})",
                name.replace('_', "-")
            ),
        )
    })
}

/// Memberships that widen what pgwarden can show.
pub(super) fn roles(client: &mut Client, server: &Server) -> Result<Vec<Diagnosis>, DbError> {
    let signal: bool = server.superuser
        || client
            .query_one(
                "SELECT pg_has_role(current_user, 'pg_signal_backend', 'MEMBER')",
                &[],
            )
            .db_context(|| "cannot read the role's memberships")?
            .get(0);
    let mut out = Vec::new();
    out.push(if can_read_all_stats(client, server)? {
        Diagnosis::ok("pg_read_all_stats", "other sessions' queries are visible")
    } else {
        Diagnosis::note(
            "pg_read_all_stats",
            "other sessions' queries and replica lag are hidden: a session blocking a migration is shown without its query",
            format!("GRANT pg_read_all_stats TO {}", ident(&server.user)),
        )
    });
    out.push(if signal {
        Diagnosis::ok("pg_signal_backend", "may cancel other sessions")
    } else {
        Diagnosis::note(
            "pg_signal_backend",
            "cannot cancel other roles' sessions (pgwarden only reports a lock blocker; cancelling it is yours to do)",
            format!("GRANT pg_signal_backend TO {}", ident(&server.user)),
        )
    });
    Ok(out)
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
    let lag = if can_read_all_stats(client, server)? {
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
