//! The unused-index rule across servers. `idx_scan` is counted per server: an index never
//! scanned on the primary may carry every read of a replica, so scans are summed over the
//! primary and every replica, each server must have watched for `unused_after_seconds`, and a
//! replica that could not be read makes the index's use unknown (a note, never a drop).

use super::{DiffSettings, Plan};
use crate::catalog::{Index, ServerUsage};
use crate::finding::{self as rules, Finding, Severity};

/// The days a statistics age stands for, for messages.
fn days(seconds: f64) -> String {
    format!("{:.0} days", seconds / 86_400.0)
}

/// Reports `have` as unused (and drops it unless the migrations define it) when no server
/// scanned it; unknown when a replica could not be read.
pub(super) fn unused(
    plan: &mut Plan<'_>,
    have: &Index,
    defined: bool,
    replicas: &[ServerUsage],
    settings: &DiffSettings,
) {
    if have.unique || have.protected_because().is_some() {
        return;
    }
    let key = (have.schema.clone(), have.name.clone());
    let mut scans = have.scans;
    let mut watched = vec![("primary", plan.live.stats_age_seconds)];
    let mut unreadable = Vec::new();
    for r in replicas {
        match (&r.error, r.stats_age_seconds, r.scans.get(&key)) {
            (None, Some(age), Some((n, oid))) if *oid == have.oid => {
                scans += n;
                watched.push((r.server.as_str(), age));
            }
            (None, Some(_), _) => unreadable.push(format!(
                "{} (the index is not there with the same OID: not replayed yet, or not a replica of this database)",
                r.server
            )),
            (error, _, _) => unreadable.push(format!(
                "{} ({})",
                r.server,
                error.as_deref().unwrap_or("no statistics")
            )),
        }
    }
    if scans > 0
        || watched
            .iter()
            .any(|(_, age)| *age < settings.unused_after_seconds)
    {
        return;
    }
    let per_server = watched
        .iter()
        .map(|(server, age)| format!("{server}: {}", days(*age)))
        .collect::<Vec<_>>()
        .join(", ");
    if !unreadable.is_empty() {
        plan.findings.push(Finding {
            rule: rules::UNUSED_INDEX,
            severity: Severity::Note,
            object: have.qualified(),
            message: format!(
                "index {} has no scans on the servers read ({per_server}), but whether it is unused is unknown: replica {} could not be counted",
                have.qualified(),
                unreadable.join(", ")
            ),
            help: "make the replica reachable and plan again; plan does not drop an index a replica may be using".into(),
        });
        return;
    }
    let message = if replicas.is_empty() {
        format!(
            "index {} has not been scanned in {}",
            have.qualified(),
            days(plan.live.stats_age_seconds)
        )
    } else {
        format!(
            "index {} has not been scanned on any of the {} servers (statistics age: {per_server})",
            have.qualified(),
            watched.len()
        )
    };
    let reason = "never scanned since the statistics reset".to_string();
    plan.drop_unless_defined(
        have,
        defined,
        rules::UNUSED_INDEX,
        (Severity::Note, message, reason),
    );
}

/// `" (scanned N times on east, M on west)"` when replicas scanned `have`, else empty: said
/// beside a drop so nobody drops a replica's index unaware.
pub(super) fn replica_scans_note(have: &Index, replicas: &[ServerUsage]) -> String {
    let key = (have.schema.clone(), have.name.clone());
    let scanned: Vec<String> = replicas
        .iter()
        .filter_map(|r| {
            let (n, oid) = r.scans.get(&key)?;
            (*oid == have.oid && *n > 0).then(|| format!("{n} on {}", r.server))
        })
        .collect();
    if scanned.is_empty() {
        String::new()
    } else {
        format!(
            " (scanned {} since the statistics reset)",
            scanned.join(", ")
        )
    }
}
