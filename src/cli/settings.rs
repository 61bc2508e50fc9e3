//! The command line resolved into [`Settings`] and [`ExecSettings`]: flags over environment
//! over defaults.

use super::{ExecArgs, GlobalArgs};
use crate::executor::ExecSettings;
use crate::settings::{DEFAULT_POLICY, Settings};
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;

/// The global options as settings.
pub fn from_args(args: &GlobalArgs) -> Settings {
    Settings {
        url_origin: None,
        database_url: args.database_url.clone(),
        format: args.format.format(),
        migrations_dir: args.migrations.clone(),
        progress_bar: !args.quiet && std::io::stderr().is_terminal(),
        interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
        policy_path: args
            .policy
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_POLICY)),
        policy_explicit: args.policy.is_some(),
        pg_bindir: args
            .pg_bindir
            .as_deref()
            .filter(|d| !d.is_empty())
            .map(PathBuf::from),
        cache_dir: args.cache.dir(),
    }
}

/// Where `plan` caches the desired state (a global option).
#[derive(Debug, Clone, Args)]
pub struct CacheArgs {
    /// Directory where plan caches the desired state replayed from the migrations [default:
    /// $XDG_CACHE_HOME/pgwarden, else ~/.cache/pgwarden]. Empty means unset.
    #[arg(long, global = true, env = "PGWARDEN_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<String>,
    /// Neither read nor write the desired-state cache: replay the migrations every time.
    #[arg(long, global = true, env = "PGWARDEN_NO_CACHE")]
    pub no_cache: bool,
}

impl CacheArgs {
    /// The cache directory, `None` with --no-cache or when there is no home directory.
    pub fn dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        match self.cache_dir.as_deref().filter(|d| !d.is_empty()) {
            Some(d) => Some(PathBuf::from(d)),
            None => crate::cache::default_dir(),
        }
    }
}

impl ExecArgs {
    /// The executor's settings from `--lock-timeout` and friends.
    pub fn settings(&self, progress_bar: bool) -> ExecSettings {
        ExecSettings {
            lock_timeout: self.lock_timeout,
            statement_timeout: self.statement_timeout,
            build_statement_timeout: self.build_statement_timeout,
            retries: self.retries,
            retry_delay: self.retry_delay,
            progress_bar,
            build_wait: self.lock_wait,
            build_workers: self.build_workers,
            maintenance_work_mem: self.maintenance_work_mem.clone(),
            wal_compression: self.build_wal_compression.clone(),
            max_replica_lag: self.max_replica_lag,
        }
    }
}
