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
