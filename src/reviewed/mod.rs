//! Reviewed plans: `plan --output plan.json` saves the exact statements with a fingerprint of
//! the before-state; `apply --plan plan.json` runs exactly them where the fingerprint still
//! matches. This module is the file: its format, its validation (a plan file is input that may
//! have been edited), the fingerprint and the header that marks the migration written for it.
//!
//! Pure but for reading and writing the plan file.

pub mod fingerprint;
pub mod statements;

use crate::diff::Change;
use crate::migrations::Discovered;
use crate::migrations::discovery::MigrationFile;
pub use fingerprint::{Difference, Fingerprint};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use statements::PlannedStatement;
use std::path::Path;

/// `kind` of a plan file.
pub const PLAN_KIND: &str = "pgwarden-plan";
/// The plan file format's version; a file of another version is refused.
pub const PLAN_SCHEMA_VERSION: u32 = 1;
/// The comment that marks the migration written for a plan: `-- pgwarden:plan <plan id>`.
pub const PLAN_HEADER: &str = "pgwarden:plan";

/// A reviewed plan, as saved by `plan --output FILE.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    /// [`PLAN_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// [`PLAN_KIND`].
    pub kind: String,
    /// The pgwarden version that made the plan.
    pub pgwarden_version: String,
    /// When the plan was made (RFC 3339, UTC).
    pub created_at: String,
    /// The database it was made on, password redacted.
    pub database: String,
    /// SHA-256 of the fingerprint's hash and every field of every change: names the plan, and
    /// the migration written for it carries it in its header.
    pub plan_id: String,
    /// The changes, in the order they run.
    pub changes: Vec<PlannedChange>,
    /// The before-state the plan is valid for.
    pub fingerprint: Fingerprint,
}

/// One change of a reviewed plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedChange {
    /// The rule id of the finding it fixes.
    pub rule: String,
    /// `+` build, `~` rebuild or swap, `-` drop.
    pub sign: char,
    /// The index, `schema.name` unquoted.
    pub object: String,
    /// The statements, run in order, each on its own.
    pub statements: Vec<String>,
    /// The strongest lock the change takes.
    pub lock: String,
    /// Why.
    pub reason: String,
    /// The change drops an index.
    pub is_drop: bool,
    /// Estimated duration in seconds when the plan was made; for people only (not part of the
    /// plan id, never trusted for anything).
    #[serde(default)]
    pub estimate_seconds: f64,
}

/// Why a plan file is refused.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    /// It cannot be read.
    #[error("cannot read the plan file {path}")]
    Read {
        /// The file.
        path: String,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// It is not a pgwarden plan of this version, or does not hold together.
    #[error("the plan file {path} is refused: {why}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, naming the change or statement.
        why: String,
    },
}

impl PlanFile {
    /// A plan of `changes`, made on `database` (redacted) at `created_at`, valid for `fingerprint`.
    pub fn new(
        database: String,
        created_at: String,
        changes: &[Change],
        fingerprint: Fingerprint,
    ) -> Self {
        let changes: Vec<PlannedChange> = changes
            .iter()
            .map(|c| PlannedChange {
                rule: c.rule.to_string(),
                sign: c.sign,
                object: c.object.clone(),
                statements: c.statements.clone(),
                lock: c.lock.to_string(),
                reason: c.reason.clone(),
                is_drop: c.is_drop,
                estimate_seconds: c.estimate_seconds,
            })
            .collect();
        Self {
            schema_version: PLAN_SCHEMA_VERSION,
            kind: PLAN_KIND.into(),
            pgwarden_version: env!("CARGO_PKG_VERSION").into(),
            created_at,
            database,
            plan_id: plan_id(&fingerprint, &changes),
            changes,
            fingerprint,
        }
    }

    /// The plan of `changes` made on `database` (redacted) from its `catalog` and `history`:
    /// the fingerprint covers the tables the statements touch. Refused (with the statement)
    /// when a statement is not of a form `apply --plan` accepts.
    pub fn made(
        database: String,
        changes: &[Change],
        catalog: &crate::catalog::Catalog,
        history: &[crate::migrations::history::AppliedRow],
    ) -> Result<Self, String> {
        let mut plan = Self::new(
            database,
            crate::migrations::history::now_rfc3339(),
            changes,
            Fingerprint::from_items(Vec::new(), Vec::new()),
        );
        let tables = statements::touched_tables(&plan.statements()?, catalog);
        let fingerprint = Fingerprint::of(catalog, history, &tables);
        plan.plan_id = plan_id(&fingerprint, &plan.changes);
        plan.fingerprint = fingerprint;
        Ok(plan)
    }

    /// Every statement, classified, in order (a loaded plan has been checked: all classify).
    pub fn statements(&self) -> Result<Vec<PlannedStatement>, String> {
        let mut out = Vec::new();
        for (i, c) in self.changes.iter().enumerate() {
            for s in &c.statements {
                let kind = statements::classify(s).map_err(|why| {
                    format!(
                        "change {} ({}): statement `{}`: {why}",
                        i + 1,
                        c.object,
                        crate::escape::inline(s)
                    )
                })?;
                out.push(kind);
            }
        }
        Ok(out)
    }

    /// The changes as `diff` values (rule ids and lock texts checked against pgwarden's own).
    pub fn changes(&self) -> Result<Vec<Change>, String> {
        let locks = [crate::diff::SUE, crate::diff::ACCESS_EXCLUSIVE];
        self.changes
            .iter()
            .map(|c| {
                let rule = crate::finding::ALL_RULES.iter().find(|r| **r == c.rule);
                let lock = locks.iter().find(|l| **l == c.lock);
                let (Some(rule), Some(lock)) = (rule, lock) else {
                    return Err(format!("change {}: unknown rule or lock", c.object));
                };
                if !matches!(c.sign, '+' | '~' | '-') || c.statements.is_empty() {
                    return Err(format!("change {}: unknown sign or no statement", c.object));
                }
                Ok(Change {
                    rule,
                    sign: c.sign,
                    object: c.object.clone(),
                    statements: c.statements.clone(),
                    reason: c.reason.clone(),
                    lock,
                    estimate_seconds: c.estimate_seconds.clamp(0.0, 1e9),
                    is_drop: c.is_drop,
                })
            })
            .collect()
    }

    /// The changes that drop an index, judged by their statements (not by the file's flag).
    pub fn drops(&self) -> Vec<&PlannedChange> {
        self.changes
            .iter()
            .filter(|c| {
                c.is_drop
                    || c.statements
                        .iter()
                        .any(|s| statements::classify(s).is_ok_and(|k| k.is_drop()))
            })
            .collect()
    }

    /// Checks that the file is a plan this pgwarden wrote and that it holds together: kind and
    /// version, every statement of a form the plan writes, the hashes recomputed.
    pub fn validate(&self) -> Result<(), String> {
        if self.kind != PLAN_KIND || self.schema_version != PLAN_SCHEMA_VERSION {
            return Err(format!(
                "kind `{}` version {} is not a pgwarden plan of version {PLAN_SCHEMA_VERSION}",
                self.kind, self.schema_version
            ));
        }
        self.changes()?;
        self.statements()?;
        for c in &self.changes {
            let drops = c
                .statements
                .iter()
                .any(|s| statements::classify(s).is_ok_and(|k| k.is_drop()));
            if drops && !c.is_drop {
                return Err(format!(
                    "change {} drops an index but is not marked as a drop",
                    c.object
                ));
            }
        }
        if self.fingerprint.computed_sha256() != self.fingerprint.sha256 {
            return Err("the fingerprint's hash does not match its items (edited?)".into());
        }
        if plan_id(&self.fingerprint, &self.changes) != self.plan_id {
            return Err("the plan id does not match its changes and fingerprint (edited?)".into());
        }
        Ok(())
    }
}

/// SHA-256 over the fingerprint's hash and every field of every change, length-prefixed.
fn plan_id(fingerprint: &Fingerprint, changes: &[PlannedChange]) -> String {
    let mut h = Sha256::new();
    let mut field = |s: &str| {
        h.update(format!("{}:", s.len()).as_bytes());
        h.update(s.as_bytes());
    };
    field("pgwarden-plan-v1");
    field(&fingerprint.sha256);
    field(&changes.len().to_string());
    for c in changes {
        for f in [&c.rule, &c.sign.to_string(), &c.object, &c.lock, &c.reason] {
            field(f);
        }
        field(if c.is_drop { "drop" } else { "keep" });
        field(&c.statements.len().to_string());
        for s in &c.statements {
            field(s);
        }
    }
    fingerprint::hex(&h.finalize())
}

/// `path` names a JSON plan (ends in `.json`, any case): `plan --output` writes a plan file
/// there instead of SQL.
pub fn is_json_path(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// Reads and validates a plan file.
pub fn load(path: &Path) -> Result<PlanFile, PlanFileError> {
    let invalid = |why: String| PlanFileError::Invalid {
        path: path.display().to_string(),
        why,
    };
    let text = std::fs::read_to_string(path).map_err(|source| PlanFileError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(format!("not JSON: {e}")))?;
    if value.get("kind").and_then(|k| k.as_str()) != Some(PLAN_KIND) {
        return Err(invalid(format!("its `kind` is not \"{PLAN_KIND}\"")));
    }
    if value.get("schema_version").and_then(|v| v.as_u64()) != Some(u64::from(PLAN_SCHEMA_VERSION))
    {
        return Err(invalid(format!(
            "its `schema_version` is not {PLAN_SCHEMA_VERSION} (made by another pgwarden version?)"
        )));
    }
    let plan: PlanFile = serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
    plan.validate().map_err(invalid)?;
    Ok(plan)
}

/// Writes the plan to `path` atomically: a temporary file beside it, renamed over it.
pub fn save(path: &Path, plan: &PlanFile) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    let json = serde_json::to_string_pretty(plan).map_err(std::io::Error::other)?;
    tmp.write_all(json.as_bytes())?;
    tmp.write_all(b"\n")?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The header line that marks the migration written for `plan_id`.
pub fn header_line(plan_id: &str) -> String {
    format!("-- {PLAN_HEADER} {plan_id}\n")
}

/// The migration file already written for `plan_id`: the one whose leading comments carry its
/// [`header_line`].
pub fn written_migration<'a>(found: &'a Discovered, plan_id: &str) -> Option<&'a MigrationFile> {
    let wanted = header_line(plan_id);
    found.files.iter().find(|f| {
        f.sql
            .split_inclusive('\n')
            .take_while(|l| l.starts_with("--"))
            .any(|l| l == wanted)
    })
}

#[cfg(test)]
mod tests;
