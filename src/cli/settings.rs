//! Resolved settings: flags over environment over defaults, validated once.

use super::{ExecArgs, Format, GlobalArgs};
use crate::apply::ExecSettings;
use crate::db::{ConnectError, ConnectionTarget};
use std::io::IsTerminal;
use std::path::PathBuf;

/// What every command needs, resolved from [`GlobalArgs`].
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: Option<String>,
    pub format: Format,
    pub migrations_dir: PathBuf,
    /// Progress bars on stderr: only on a terminal and not with --quiet.
    pub progress_bar: bool,
    /// Confirmation prompts are possible (stdin and stderr are terminals).
    pub interactive: bool,
    pub policy_path: PathBuf,
    /// The policy was named with `--policy`: it must exist.
    pub policy_explicit: bool,
}

/// The policy read when `--policy` is not given (and only if it exists).
pub const DEFAULT_POLICY: &str = "policies/default.toml";

impl Settings {
    pub fn from_args(args: &GlobalArgs) -> Self {
        Self {
            database_url: args.database_url.clone(),
            format: args.format,
            migrations_dir: args.migrations.clone(),
            progress_bar: !args.quiet && std::io::stderr().is_terminal(),
            interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
            policy_path: args
                .policy
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_POLICY)),
            policy_explicit: args.policy.is_some(),
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

    /// Where to connect: --database-url / DATABASE_URL, else the libpq variables.
    pub fn target(&self) -> Result<ConnectionTarget, ConnectError> {
        ConnectionTarget::resolve(self.database_url.as_deref())
    }
}

impl ExecArgs {
    pub fn settings(&self, progress_bar: bool) -> ExecSettings {
        ExecSettings {
            lock_timeout: self.lock_timeout,
            statement_timeout: self.statement_timeout,
            build_statement_timeout: self.build_statement_timeout,
            retries: self.retries,
            retry_delay: self.retry_delay,
            progress_bar,
            build_wait: self.lock_wait,
        }
    }
}
