//! `doctor`'s findings: what this database and this machine support, and what to do about each
//! gap, found by reading only (catalog queries and a search for server binaries). A gap that
//! stops `migrate`, `check`, `plan`, `lint` or `ci` from running fully is *limited*; optional
//! capabilities (HypoPG, pg_qualstats, pg_stat_statements, replicas) are notes.

mod checks;
mod extensions;

use crate::db::{ConnectionTarget, DbError};
use postgres::Client;
use serde::Serialize;
use std::path::Path;

/// How a capability stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Available.
    Ok,
    /// A core command cannot run fully until the fix is made.
    Limited,
    /// Optional, or worth knowing; changes no exit code.
    Note,
}

/// One capability and how it stands.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    /// What was checked (`server binaries`, `pg_stat_statements`, ...).
    pub capability: String,
    /// Ok, limited (a core command cannot run fully) or a note.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do, when something is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The commands the gap limits (empty when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub affects: Vec<String>,
}

impl Diagnosis {
    fn ok(capability: &str, detail: impl Into<String>) -> Self {
        Diagnosis {
            capability: capability.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
            affects: Vec::new(),
        }
    }

    fn note(capability: &str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Diagnosis {
            status: Status::Note,
            fix: Some(fix.into()),
            ..Diagnosis::ok(capability, detail)
        }
    }

    fn limited(
        capability: &str,
        detail: impl Into<String>,
        fix: impl Into<String>,
        affects: &[&str],
    ) -> Self {
        Diagnosis {
            status: Status::Limited,
            fix: Some(fix.into()),
            affects: affects.iter().map(|s| s.to_string()).collect(),
            ..Diagnosis::ok(capability, detail)
        }
    }
}

/// The server as `doctor` saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Server {
    /// `version()`.
    pub version: String,
    /// The major version (`15`).
    pub major: u32,
    /// The role the session runs as (`current_user`).
    pub user: String,
    /// The role is a superuser (false when it cannot be told).
    pub superuser: bool,
}

/// Everything `doctor` found.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnoses {
    /// The server's version and the connected role.
    pub server: Server,
    /// One diagnosis per capability, in the order checked.
    pub checks: Vec<Diagnosis>,
}

/// Diagnoses the database `client` is connected to (through `target`, as the user gave it),
/// the migrations in `migrations_dir`, and this machine's server binaries (`bindir`, else
/// searched). Reads only.
pub fn diagnose(
    client: &mut Client,
    target: &ConnectionTarget,
    migrations_dir: &Path,
    bindir: Option<&Path>,
) -> Result<Diagnoses, DbError> {
    let server = checks::server(client)?;
    let mut out = vec![checks::binaries(server.major, bindir)];
    out.push(checks::ddl_privilege(client)?);
    let (history, applied) = checks::history(client)?;
    out.push(history);
    out.push(checks::migrations(migrations_dir, applied.as_deref()));
    out.push(extensions::pg_stat_statements(client, &server)?);
    out.push(extensions::extension(
        client,
        "hypopg",
        "advise proves candidates with it when no --shadow-url or --throwaway is given",
    )?);
    out.push(extensions::extension(
        client,
        "pg_qualstats",
        "it samples the predicates production runs (preloaded)",
    )?);
    out.extend(extensions::roles(client, &server)?);
    out.push(checks::pooler(client, target)?);
    out.push(checks::timeouts(client)?);
    out.push(checks::replicas(client, &server)?);
    out.push(checks::invalid_indexes(client)?);
    Ok(Diagnoses {
        server,
        checks: out,
    })
}
