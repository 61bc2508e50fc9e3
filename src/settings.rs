//! Resolved settings: what every command needs, already validated. The command line resolves
//! into them (`cli::settings`: flags over environment over defaults); commands only read them.

use crate::db::{ConnectError, ConnectionTarget};
use crate::policy::Policy;
use crate::report::Format;
use std::path::PathBuf;

/// What every command needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--database-url` or `DATABASE_URL`; `None` (or blank): the libpq variables decide.
    pub database_url: Option<String>,
    /// Where `database_url` came from when not from `--database-url` or `DATABASE_URL`
    /// (`--direct-url`, a fleet's targets), for the hint of a failed connection.
    pub url_origin: Option<String>,
    /// How results are rendered on stdout (`--format`: human or JSON; lint renders its own).
    pub format: Format,
    /// Where the `V<version>__<name>.sql` files are (`--migrations`, default `migrations`).
    pub migrations_dir: PathBuf,
    /// Progress bars on stderr: only on a terminal and not with --quiet.
    pub progress_bar: bool,
    /// Confirmation prompts are possible (stdin and stderr are terminals).
    pub interactive: bool,
    /// `--policy`, else [`DEFAULT_POLICY`] (which need not exist).
    pub policy_path: PathBuf,
    /// The policy was named with `--policy`: it must exist.
    pub policy_explicit: bool,
    /// The PostgreSQL server binaries for throwaway servers (`--pg-bindir` /
    /// `PGWARDEN_PG_BINDIR`); `None`: searched for.
    pub pg_bindir: Option<PathBuf>,
    /// Where `plan` caches the desired state replayed on a throwaway server (`--cache-dir` /
    /// `PGWARDEN_CACHE_DIR`, else `$XDG_CACHE_HOME/pgwarden` or `~/.cache/pgwarden`); `None`:
    /// no cache (`--no-cache`, or no home directory).
    pub cache_dir: Option<PathBuf>,
}

/// The policy read when `--policy` is not given (and only if it exists).
pub const DEFAULT_POLICY: &str = "policies/default.toml";

impl Settings {
    /// The policy the settings name; an error when it cannot be read.
    pub fn policy(&self) -> anyhow::Result<Policy> {
        Ok(crate::policy::load(&self.policy_path)?)
    }

    /// The policy when its file exists (a broken file is an error); `None` when the default
    /// file is absent, for commands that work without one. A `--policy` file must exist.
    pub fn optional_policy(&self) -> anyhow::Result<Option<Policy>> {
        if self.policy_explicit || self.policy_path.exists() {
            self.policy().map(Some)
        } else {
            Ok(None)
        }
    }

    /// A database was named: `--database-url` / `DATABASE_URL`, or the libpq variables
    /// (`PGHOST`, `PGDATABASE`, `PGSERVICE`). Optional database steps (lint's live sizes, ci's
    /// verify) run only then.
    pub fn database_given(&self) -> bool {
        self.database_url
            .as_deref()
            .is_some_and(|u| !u.trim().is_empty())
            || ["PGHOST", "PGDATABASE", "PGSERVICE"]
                .iter()
                .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
    }

    /// How to start a throwaway server: these settings' binaries, of major version `major`
    /// (the target's, when there is one).
    pub fn throwaway(&self, major: Option<u32>) -> crate::ephemeral::EphemeralOptions {
        crate::ephemeral::EphemeralOptions {
            bindir: self.pg_bindir.clone(),
            major,
            ..Default::default()
        }
    }

    /// Where to connect: --database-url / DATABASE_URL, else the libpq variables.
    pub fn target(&self) -> Result<ConnectionTarget, ConnectError> {
        let target = ConnectionTarget::resolve(self.database_url.as_deref())?;
        Ok(match &self.url_origin {
            Some(origin) => target.with_origin(origin.as_str()),
            None => target,
        })
    }
}
