//! `pgwarden advise`: the index advisor, its dry-run diff and `--write-migration`.

use crate::advisor::{self, Advice, Lab, select::Limits};
use crate::cli::AdviseArgs;
use crate::cli::settings::Settings;
use crate::db::ConnectionTarget;
use crate::migrations::discovery;
use crate::policy::Policy;
use anyhow::Context;
use serde::Serialize;
use std::path::PathBuf;

/// The result of `advise`.
#[derive(Debug, Clone, Serialize)]
pub struct AdviseReport {
    pub database: String,
    #[serde(flatten)]
    pub advice: Advice,
    /// The migration written with --write-migration.
    pub migration: Option<PathBuf>,
    pub duration_ms: u128,
}

pub fn advise(
    settings: &Settings,
    policy: &Policy,
    args: &AdviseArgs,
) -> anyhow::Result<AdviseReport> {
    let started = std::time::Instant::now();
    crate::check::refuse_writes(policy)?;
    let target = settings.target()?;
    let mut client = target.connect()?;
    let limits = Limits {
        max_indexes_per_table: args.max_indexes_per_table,
        max_total_bytes: args.max_total_bytes,
    };
    let advice = match &args.shadow_url {
        Some(url) => {
            let shadow = ConnectionTarget::from_url(url)?;
            if shadow.redacted() == target.redacted() {
                anyhow::bail!("--shadow-url names the target database itself; the shadow must be a copy (e.g. CREATE DATABASE shadow TEMPLATE {})", target.dbname());
            }
            let mut lab = shadow.connect().context("cannot connect to the shadow database")?;
            advisor::advise(&mut client, Lab::Shadow { client: &mut lab, label: shadow.redacted() }, policy, limits)
        }
        None => advisor::advise(&mut client, Lab::Hypothetical, policy, limits),
    }
    .map_err(|e| anyhow::anyhow!("advise on {}: {e}", target.redacted()))?;
    let migration = if args.write_migration && !advice.proposals.is_empty() {
        let dir = &settings.migrations_dir;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let found = discovery::discover(dir)?;
        let (_, path) = discovery::next_file_path(dir, &found, "pgwarden_advise");
        std::fs::write(&path, advisor::migration_sql(&advice))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Some(path)
    } else {
        None
    };
    Ok(AdviseReport {
        database: target.redacted(),
        advice,
        migration,
        duration_ms: started.elapsed().as_millis(),
    })
}
