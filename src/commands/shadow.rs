//! The desired state for `plan`: the migrations replayed into an empty shadow database (a
//! throwaway server that takes the target's lock settings and search path, or `--shadow-url`),
//! plus the policy's required indexes, read by the catalog reader.

use crate::catalog::{Catalog, reader};
use crate::db::{self, ConnectionTarget, DbContext};
use crate::ephemeral::EphemeralServer;
use crate::executor::ExecSettings;
use crate::migrations::discover;
use crate::migrations::runner::{self, ApplyRequest};
use crate::policy::Policy;
use crate::settings::Settings;
use anyhow::{Context, bail};
use std::time::Duration;

/// Reads the desired catalog by replaying the migrations into an empty shadow database.
/// Then builds the policy's required indexes there too.
pub(super) fn desired_catalog(
    settings: &Settings,
    policy: Option<&Policy>,
    shadow_url: Option<&str>,
) -> anyhow::Result<(Catalog, String)> {
    let required: &[String] = policy.map_or(&[], |p| p.plan.required_indexes.as_slice());
    let found = discover(&settings.migrations_dir)?;
    let facts = target_facts(settings)?;
    let replay = |target: &ConnectionTarget| -> anyhow::Result<Catalog> {
        let mut client = target.connect()?;
        let tables: i64 = client
            .query_one("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND c.relname <> 'refinery_schema_history'", &[])
            .db_context(|| format!("cannot count the tables of the shadow database {}", target.redacted()))?
            .get(0);
        if tables > 0 {
            bail!(
                "the shadow database {} is not empty ({tables} tables); give --shadow-url an empty database",
                target.redacted()
            );
        }
        // Only once the shadow is known to be empty: its schemas, then sessions that resolve
        // names as the target's do.
        create_schemas(&mut client, &facts.schemas, &found)?;
        let target = &if facts.schemas.is_empty() {
            target.clone()
        } else {
            target.with_search_path(&facts.schemas)
        };
        let mut client = target.connect()?;
        require_extensions(&mut client, &found)?;
        let request = ApplyRequest {
            dry_run: false,
            target_version: None,
            exec: ExecSettings::default(),
            lock_wait: Duration::from_secs(60),
        };
        let report = runner::apply(target, &found, &request)?;
        if let Some(f) = report.failure {
            bail!(
                "replaying the migrations into the shadow failed at {}: {}",
                f.file,
                f.error
            );
        }
        for ddl in required {
            client.batch_execute(ddl).db_context(|| {
                format!(
                    "the policy's required index `{ddl}` does not build on the migrations' schema"
                )
            })?;
        }
        tracing::debug!("migrations replayed into the shadow");
        let catalog =
            reader::read(&mut client, true).db_context(|| "reading the shadow's catalog")?;
        tracing::debug!(indexes = catalog.indexes.len(), "shadow catalog read");
        Ok(catalog)
    };
    match shadow_url {
        Some(url) => {
            let target = ConnectionTarget::from_url(url)?.with_origin("--shadow-url");
            let mut shadow = target.connect()?;
            let mut live = settings.target()?.connect()?;
            if db::same_database(&mut shadow, &mut live)? {
                bail!(
                    "--shadow-url names the target database itself; the migrations would be replayed into it: give an empty scratch database (e.g. `CREATE DATABASE shadow`), or leave --shadow-url out for a throwaway server"
                );
            }
            Ok((
                replay(&target)?,
                format!("migrations replayed into {}", target.redacted()),
            ))
        }
        None => throwaway(settings, &found, required, &facts, replay),
    }
}

/// `postgresql.conf` lines for the throwaway server of a replay: it holds nothing worth keeping
/// (the server already runs without fsync, synchronous commit and full-page writes), so the
/// least WAL, no checkpoint during the replay, no autovacuum competing with it, and no JIT for
/// the catalog read.
const REPLAY_CONF: &[&str] = &[
    "wal_level = minimal",
    "max_wal_senders = 0",
    "max_wal_size = 4GB",
    "checkpoint_timeout = 1h",
    "autovacuum = off",
    "jit = off",
];

/// The desired catalog from a throwaway server, or from the cache when the same inputs were
/// replayed before (see [`crate::cache`]).
fn throwaway(
    settings: &Settings,
    found: &crate::migrations::Discovered,
    required: &[String],
    facts: &TargetFacts,
    replay: impl Fn(&ConnectionTarget) -> anyhow::Result<Catalog>,
) -> anyhow::Result<(Catalog, String)> {
    let context = "plan replays the migrations into a throwaway server (or pass --shadow-url)";
    let installation = crate::ephemeral::search(settings.pg_bindir.as_deref())
        .choose(Some(facts.major))
        .context(context)?;
    let mut conf = facts.conf.clone();
    conf.extend(REPLAY_CONF.iter().map(|l| l.to_string()));
    // A folder runner refuses is refused again, never answered from the cache.
    let cache = found
        .unusable
        .is_empty()
        .then(|| settings.cache_dir.clone())
        .flatten()
        .map(|dir| {
            let key = cache_key(&installation.bindir, found, required, &conf, &facts.schemas);
            (crate::cache::DesiredCache::new(dir), key)
        });
    let from = "migrations replayed into a throwaway server";
    if let Some((cache, key)) = &cache
        && let Some(catalog) = cache.load(key)
    {
        return Ok((catalog, format!("{from} (cached: {})", key.short())));
    }
    let options = crate::ephemeral::EphemeralOptions {
        extra_conf: conf,
        bindir: Some(installation.bindir),
        ..settings.throwaway(Some(facts.major))
    };
    let server = EphemeralServer::start_with(&options).context(context)?;
    let target = server.create_database("pgwarden_shadow")?;
    let catalog = replay(&target)?;
    server.discard();
    tracing::debug!("throwaway server stopped");
    if let Some((cache, key)) = &cache {
        cache.store(key, &catalog);
    }
    Ok((catalog, from.into()))
}

/// The cache key of a replay on the server in `bindir` (see [`crate::cache::KeyInputs`]).
fn cache_key(
    bindir: &std::path::Path,
    found: &crate::migrations::Discovered,
    required: &[String],
    conf: &[String],
    schemas: &[String],
) -> crate::cache::CacheKey {
    let server = format!(
        "{} {}",
        bindir.display(),
        crate::ephemeral::server_version(bindir).unwrap_or_default()
    );
    // Only files that mention an extension are split (splitting every file of a large folder
    // costs more than the rest of a cached plan).
    let mentioning = crate::migrations::Discovered {
        files: found
            .files
            .iter()
            .filter(|f| f.sql.to_ascii_lowercase().contains("extension"))
            .cloned()
            .collect(),
        unusable: Vec::new(),
    };
    let mut extensions: Vec<(String, String)> = crate::migrations::created_extensions(&mentioning)
        .into_iter()
        .map(|(_, name)| {
            let control = crate::ephemeral::extension_control(bindir, &name);
            (name, control.unwrap_or_else(|| "(no control file)".into()))
        })
        .collect();
    extensions.sort();
    extensions.dedup();
    let key = crate::cache::CacheKey::new(&crate::cache::KeyInputs {
        migrations: &found.files,
        required_indexes: required,
        server_conf: conf,
        search_path: schemas,
        server: &server,
        extensions: &extensions,
    });
    tracing::debug!(key = key.short(), "desired-state cache key");
    key
}

/// Settings a migration that ran on the target may depend on, for the throwaway server: a
/// migration that takes many locks in one transaction replays only with the target's
/// `max_locks_per_transaction`.
const TARGET_SETTINGS: &str = "SELECT name, setting FROM pg_settings \
     WHERE name IN ('max_locks_per_transaction', 'max_pred_locks_per_transaction') ORDER BY name";

/// What the throwaway server takes from the target.
struct TargetFacts {
    /// `postgresql.conf` lines.
    conf: Vec<String>,
    /// The target's effective search path (`current_schemas(false)`), where its unqualified
    /// names live.
    schemas: Vec<String>,
    /// The target's major version: the migrations are replayed on the same.
    major: u32,
}

fn target_facts(settings: &Settings) -> anyhow::Result<TargetFacts> {
    let target = settings.target()?;
    let mut client = target.connect()?;
    let context = || format!("reading the settings of {}", target.redacted());
    let rows = client.query(TARGET_SETTINGS, &[]).db_context(context)?;
    let mut conf = Vec::new();
    for r in rows {
        let (name, value): (String, String) = (r.get(0), r.get(1));
        // Integers only: nothing else from the target reaches the configuration file.
        if let Ok(n) = value.parse::<u32>() {
            conf.push(format!("{name} = {}", n.max(64)));
        }
    }
    let schemas: Vec<String> = client
        .query_one("SELECT current_schemas(false)::text[]", &[])
        .db_context(context)?
        .get(0);
    let major = crate::db::server_major(&mut client)?;
    Ok(TargetFacts {
        conf,
        schemas,
        major,
    })
}

/// The target's search path's schemas, in the shadow (those the migrations create are left to
/// them), so that replayed unqualified names land where they do on the target.
fn create_schemas(
    client: &mut postgres::Client,
    schemas: &[String],
    found: &crate::migrations::Discovered,
) -> anyhow::Result<()> {
    let created: Vec<String> = crate::migrations::created_schemas(found)
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    let sql: String = schemas
        .iter()
        .filter(|s| !created.contains(s))
        .map(|s| format!("CREATE SCHEMA IF NOT EXISTS {};\n", crate::escape::ident(s)))
        .collect();
    Ok(client
        .batch_execute(&sql)
        .db_context(|| "preparing the shadow's schemas")?)
}

/// The extensions the migrations create must be available where they are replayed: an error
/// naming each missing one, the migration that needs it, and the fix.
fn require_extensions(
    client: &mut postgres::Client,
    found: &crate::migrations::Discovered,
) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    for (file, name) in crate::migrations::created_extensions(found) {
        let available: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = $1)",
                &[&name],
            )
            .db_context(|| "cannot read pg_available_extensions on the shadow")?
            .get(0);
        if !available {
            missing.push(format!(
                "`{}` (created by {file})",
                crate::escape::inline(&name)
            ));
        }
    }
    if !missing.is_empty() {
        bail!(
            "the server the migrations are replayed into lacks the extension(s) {}; install them for its PostgreSQL (Debian: the postgresql-<major>-<extension> or postgresql-contrib package), or pass --shadow-url naming a database where they are available",
            missing.join(", ")
        );
    }
    Ok(())
}
