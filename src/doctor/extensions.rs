//! `doctor`'s checks of the extensions and role memberships pgwarden can use.

use super::{Diagnosis, Server};
use crate::db::{DbContext, DbError};
use crate::escape::ident;
use postgres::Client;

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

pub(super) fn can_read_all_stats(client: &mut Client, server: &Server) -> Result<bool, DbError> {
    if server.superuser {
        return Ok(true);
    }
    Ok(client
        .query_one(
            "SELECT pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')",
            &[],
        )
        .db_context(|| "cannot read the role's memberships")?
        .get(0))
}

/// Whether the installed pg_stat_statements answers (it does only when its library is
/// preloaded), read in the schema the extension lives in.
fn probe_preloaded(client: &mut Client) -> Result<bool, DbError> {
    let schema: String = client
        .query_one(
            "SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
             WHERE e.extname = 'pg_stat_statements'",
            &[],
        )
        .db_context(|| "cannot find pg_stat_statements' schema")?
        .get(0);
    let view = crate::escape::qualified(&schema, "pg_stat_statements");
    Ok(client
        .simple_query(&format!("SELECT 1 FROM {view} LIMIT 1"))
        .is_ok())
}

/// Who may run a CREATE EXTENSION fix.
const SUPERUSER: &str = " (as a superuser)";

/// pg_stat_statements: installed, preloaded, readable by this role.
pub(super) fn pg_stat_statements(
    client: &mut Client,
    server: &Server,
) -> Result<Diagnosis, DbError> {
    const NAME: &str = "pg_stat_statements";
    let (installed, available, preloaded) = extension_state(client, NAME)?;
    // A hidden setting: an installed extension answers only when its library is preloaded;
    // an uninstalled one leaves it unknown.
    let preloaded = match preloaded {
        Some(p) => Some(p),
        None if installed => Some(probe_preloaded(client)?),
        None => None,
    };
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
        fixes.push(format!("CREATE EXTENSION pg_stat_statements{}", SUPERUSER));
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
    let needs_preload = name == "pg_qualstats";
    // Hidden from this role: say what to make sure of rather than advise a restart on a guess.
    let preload_unknown = needs_preload && preloaded.is_none();
    let preloaded = preloaded.unwrap_or(false);
    Ok(if installed && preload_unknown {
        Diagnosis::note(
            name,
            format!("installed: {purpose}"),
            format!(
                "make sure {name} is in shared_preload_libraries (this role cannot see that setting without pg_read_all_settings)"
            ),
        )
    } else if installed && (preloaded || !needs_preload) {
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
                    "make sure {name} is in shared_preload_libraries (a restart), then CREATE EXTENSION {name}{SUPERUSER}"
                )
            } else {
                format!("CREATE EXTENSION {name}{SUPERUSER}")
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
                "SELECT pg_has_role(current_user, 'pg_signal_backend', 'USAGE')",
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
