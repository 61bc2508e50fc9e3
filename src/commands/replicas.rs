//! Streaming replicas given with `--replica` or the policy's `[[replica]]`: statistics are
//! counted per server, so the commands that judge use (`plan`, `apply`, `check --mode stats`,
//! `watch`) read every replica too. A replica that cannot be read is reported, never taken for
//! one with no use.

use crate::catalog::{ServerUsage, reader};
use crate::db::ConnectionTarget;
use crate::policy::Policy;
use anyhow::bail;

/// One replica: its name in reports and where to connect.
#[derive(Debug, Clone)]
pub struct Replica {
    /// `name` from `--replica name=URL` or the policy; else the server's host:port.
    pub name: String,
    /// Where to connect (same database name as the target, as the URL says).
    pub target: ConnectionTarget,
}

/// `name=URL` when the text before the first `=` is a plain name and a URL follows; anything
/// else is a connection string (a URL, or libpq's `host=... port=...`).
fn split_name(arg: &str) -> (Option<&str>, &str) {
    if let Some((name, rest)) = arg.split_once('=') {
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if plain && crate::fleet::is_url(rest) {
            return (Some(name), rest);
        }
    }
    (None, arg)
}

/// The replicas of `--replica` (each `URL` or `name=URL`) and of the policy's `[[replica]]`
/// entries (their URL read from the environment variable each names). A bad URL or an unset
/// variable is an error naming it; names must be unique.
pub fn resolve(args: &[String], policy: Option<&Policy>) -> anyhow::Result<Vec<Replica>> {
    let mut out: Vec<Replica> = Vec::new();
    for arg in args {
        let (name, url) = split_name(arg);
        let target = ConnectionTarget::from_url(url)
            .map_err(|e| anyhow::anyhow!("--replica: {e}"))?
            .with_origin("--replica");
        let name = name.map_or_else(|| target.server_label(), str::to_string);
        out.push(Replica { name, target });
    }
    for r in policy.map_or(&[][..], |p| p.replicas.as_slice()) {
        let url = match std::env::var(&r.url_env) {
            Ok(u) if !u.trim().is_empty() => u,
            _ => bail!(
                "policy [[replica]] `{}`: environment variable {} is not set; set it to the replica's URL, or remove the entry",
                crate::escape::inline(&r.name),
                r.url_env
            ),
        };
        let target = ConnectionTarget::from_url(&url)
            .map_err(|e| {
                anyhow::anyhow!(
                    "policy [[replica]] `{}` ({}): {e}",
                    crate::escape::inline(&r.name),
                    r.url_env
                )
            })?
            .with_origin(format!(
                "the variable {} of policy [[replica]] `{}`",
                r.url_env,
                crate::escape::inline(&r.name)
            ));
        out.push(Replica {
            name: r.name.clone(),
            target,
        });
    }
    let mut names = std::collections::HashSet::new();
    if let Some(dup) = out
        .iter()
        .find(|r| !names.insert(r.name.as_str()) || r.name == "primary")
    {
        bail!(
            "two replicas are named `{}` (or one is named `primary`, the target's name); name them with --replica name=URL",
            crate::escape::inline(&dup.name)
        );
    }
    Ok(out)
}

/// Each replica's index scans and statistics age; one that cannot be connected to or read
/// carries the error instead (its use is then unknown).
pub fn usage(replicas: &[Replica]) -> Vec<ServerUsage> {
    replicas
        .iter()
        .map(|r| {
            let read = (|| -> anyhow::Result<_> {
                let mut c = r.target.connect()?;
                require_standby(&mut c)?;
                reader::usage(&mut c)
                    .map_err(|e| crate::db::DbError::new("reading pg_stat_user_indexes", e).into())
            })()
            .map_err(|e| format!("{e:#}"));
            match read {
                Ok((age, scans)) => ServerUsage {
                    server: r.name.clone(),
                    stats_age_seconds: Some(age),
                    scans,
                    error: None,
                },
                Err(error) => {
                    tracing::warn!(replica = %r.name, "cannot read the replica: {error}");
                    ServerUsage {
                        server: r.name.clone(),
                        stats_age_seconds: None,
                        scans: Default::default(),
                        error: Some(error),
                    }
                }
            }
        })
        .collect()
}

/// An error unless the session is on a standby: a `--replica` that is not in recovery is
/// most likely the primary itself, whose scans and statements would count twice.
pub fn require_standby(client: &mut postgres::Client) -> anyhow::Result<()> {
    let standby: bool = client
        .query_one("SELECT pg_is_in_recovery()", &[])
        .map_err(|e| crate::db::DbError::new("reading pg_is_in_recovery()", e))?
        .get(0);
    if !standby {
        bail!(
            "it is not a standby (pg_is_in_recovery() is false): give the replica's URL, not the primary's"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_name;

    #[test]
    fn a_name_is_split_only_before_a_url() {
        assert_eq!(
            split_name("r1=postgres://u@h/db"),
            (Some("r1"), "postgres://u@h/db")
        );
        assert_eq!(
            split_name("postgres://u@h/db?sslmode=require"),
            (None, "postgres://u@h/db?sslmode=require")
        );
        assert_eq!(split_name("host=h port=5433"), (None, "host=h port=5433"));
        assert_eq!(split_name("a b=postgres://h"), (None, "a b=postgres://h"));
    }
}
