//! One target of a fleet run: its settings, its run, the versions before and after, and the
//! server it is on.

use super::{FleetOptions, RunOne};
use crate::fleet::Target;
use crate::fleet::ledger::{Entry, Outcome, url_digest};
use crate::migrations::history;
use crate::report::Report;
use crate::settings::Settings;
use std::time::Instant;

pub(super) fn redacted(url: &str) -> String {
    crate::db::ConnectionTarget::from_url(url)
        .map(|t| t.redacted())
        .unwrap_or_else(|_| "(unparsable)".into())
}

/// Runs one target and says how it went.
pub(super) fn run_target(
    settings: &Settings,
    target: &Target,
    opts: &FleetOptions,
    run_one: &RunOne<'_>,
) -> (Entry, Option<Report>) {
    let started = Instant::now();
    let started_at = history::now_rfc3339();
    let span = tracing::info_span!("target", name = %target.name);
    let _entered = span.enter();
    let one = Settings {
        database_url: Some(target.url.clone()),
        url_origin: Some(format!(
            "the URL of target {} in {}",
            crate::escape::inline(&target.name),
            crate::escape::inline(&opts.source)
        )),
        progress_bar: false,
        interactive: false,
        ..settings.clone()
    };
    let version = || opts.versions.then(|| highest_version(&one)).flatten();
    // migrate apply says its versions itself; other commands cost a history read before.
    let applies = opts.command == "migrate apply";
    let version_before = if applies { None } else { version() };
    let (outcome, error, report) = match run_one(&one) {
        Ok(report) => {
            let outcome = match report.exit_code() {
                0 => Outcome::Ok,
                1 => Outcome::Findings,
                _ if crate::executor::stop::requested() => Outcome::Interrupted,
                _ => Outcome::Failed,
            };
            let error = (outcome.exit_code() == 2)
                .then(|| report.error_message().unwrap_or_else(|| "exit 2".into()));
            (outcome, error, Some(report))
        }
        Err(e) => (Outcome::Failed, Some(format!("{e:#}")), None),
    };
    let entry = Entry {
        group: String::new(),
        database: redacted(&target.url),
        url_digest: url_digest(&target.url),
        outcome,
        version_before,
        version_after: None,
        error,
        duration_ms: started.elapsed().as_millis() as u64,
        started_at: Some(started_at),
        finished_at: Some(history::now_rfc3339()),
    };
    let entry = match &report {
        Some(Report::MigrateApply(r)) if applies => Entry {
            version_before: r.version_before,
            version_after: r
                .migrations
                .iter()
                .filter(|m| m.outcome.is_some())
                .map(|m| m.version)
                .chain(r.version_before)
                .max(),
            ..entry
        },
        _ => Entry {
            version_after: version(),
            ..entry
        },
    };
    (entry, report)
}

/// The highest applied migration version of the database `settings` name.
fn highest_version(settings: &Settings) -> Option<i32> {
    let mut client = settings.target().ok()?.connect().ok()?;
    history::read(&mut client)
        .ok()
        .flatten()?
        .iter()
        .map(|r| r.version)
        .max()
}

/// The server a target is on: its first host, resolved, and port. A loopback address and a
/// Unix socket are this machine: `127.0.0.1`, `[::1]`, `localhost` and a socket directory with
/// the same port are one server for `--per-host` (counting them apart would let one server
/// take several times its share).
pub fn host_key(url: &str) -> String {
    use std::net::ToSocketAddrs;
    let Ok(t) = crate::db::ConnectionTarget::from_url(url) else {
        return url.to_string();
    };
    let label = t.server_label();
    let here = |port: u16| format!("this machine:{port}");
    if label.starts_with('/') {
        return here(t.port().unwrap_or(5432));
    }
    match label.to_socket_addrs().ok().and_then(|mut a| a.next()) {
        Some(a) if a.ip().is_loopback() => here(a.port()),
        Some(a) => a.to_string(),
        None => label,
    }
}

#[cfg(test)]
mod tests {
    use super::host_key;

    #[test]
    fn loopback_addresses_and_sockets_of_one_port_are_one_host() {
        let keys: Vec<String> = [
            "postgres://u@127.0.0.1:6543/a",
            "postgres://u@[::1]:6543/b",
            "postgres://u@localhost:6543/c",
            "postgres://u@%2Ftmp:6543/d",
        ]
        .iter()
        .map(|u| host_key(u))
        .collect();
        assert!(keys.iter().all(|k| k == "this machine:6543"), "{keys:?}");
        assert_ne!(host_key("postgres://u@127.0.0.1:6544/a"), keys[0]);
        assert_eq!(host_key("postgres://u@10.1.2.3:5432/a"), "10.1.2.3:5432");
    }
}
