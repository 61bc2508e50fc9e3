//! Migration status as a pure function of the files and the history rows, following
//! refinery's rules (`verify_migrations`) so both tools agree on what is pending or divergent.

use super::discovery::{Discovered, MigrationFile};
use super::history::AppliedRow;
use serde::Serialize;
use std::path::PathBuf;

/// The state of one migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum MigrationState {
    /// Recorded in the history with the file's checksum and name.
    Applied,
    /// Not yet applied; runs on the next `migrate apply`.
    Pending,
    /// A `V` file older than the newest applied version that was never applied: refinery
    /// refuses this (`U` files may run out of order).
    PendingOutOfOrder,
    /// Applied, but the file now has another checksum (or name).
    Modified {
        /// The checksum the history records, as text.
        applied_checksum: String,
        /// The name the history records.
        applied_name: String,
        /// The file's checksum now, in refinery's decimal form.
        file_checksum: String,
    },
    /// Recorded as applied, but no file has this version.
    MissingFile,
    /// A `.sql` file refinery cannot use.
    Unparseable {
        /// Why the file cannot be used (its name, an unreadable file, a repeated version).
        reason: String,
    },
}

impl MigrationState {
    /// The state in words, for the human table.
    pub fn label(&self) -> &'static str {
        match self {
            MigrationState::Applied => "applied",
            MigrationState::Pending => "pending",
            MigrationState::PendingOutOfOrder => "pending, out of order",
            MigrationState::Modified { .. } => "modified since applied",
            MigrationState::MissingFile => "applied but file missing",
            MigrationState::Unparseable { .. } => "unparseable file name",
        }
    }

    /// States that make `apply` refuse to run anything.
    pub fn is_drift(&self) -> bool {
        !matches!(self, MigrationState::Applied | MigrationState::Pending)
    }
}

/// One row of `migrate status`.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationStatus {
    /// The version; `None` for an unusable file.
    pub version: Option<i32>,
    /// The name part of the file name (or, for an unusable file, the whole file name; for a missing
    /// file, the recorded name).
    pub name: String,
    /// The file's path; `None` when the file is missing.
    pub path: Option<PathBuf>,
    /// When it was applied, as the history records it (refinery writes RFC 3339); `None` when not
    /// applied.
    pub applied_on: Option<String>,
    /// Where the migration stands; flattened into the row in JSON.
    #[serde(flatten)]
    pub state: MigrationState,
}

/// Compares the files with the history rows. `applied` empty means nothing applied yet.
pub fn compute(found: &Discovered, applied: &[AppliedRow]) -> Vec<MigrationStatus> {
    let newest_applied = applied.iter().map(|r| r.version).max();
    let mut rows: Vec<MigrationStatus> = Vec::new();
    for file in &found.files {
        let row = applied.iter().find(|r| r.version == file.version);
        let state = match row {
            Some(r) if r.checksum == file.checksum.to_string() && r.name == file.name => {
                MigrationState::Applied
            }
            Some(r) => MigrationState::Modified {
                applied_checksum: r.checksum.clone(),
                applied_name: r.name.clone(),
                file_checksum: file.checksum.to_string(),
            },
            None if newest_applied.is_some_and(|v| file.version < v)
                && !file.may_run_out_of_order() =>
            {
                MigrationState::PendingOutOfOrder
            }
            None => MigrationState::Pending,
        };
        rows.push(file_row(file, row, state));
    }
    for r in applied {
        if !found.files.iter().any(|f| f.version == r.version) {
            rows.push(MigrationStatus {
                version: Some(r.version),
                name: r.name.clone(),
                path: None,
                applied_on: Some(r.applied_on.clone()),
                state: MigrationState::MissingFile,
            });
        }
    }
    rows.sort_by_key(|r| r.version);
    for u in &found.unusable {
        rows.push(MigrationStatus {
            version: None,
            name: u
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            path: Some(u.path.clone()),
            applied_on: None,
            state: MigrationState::Unparseable {
                reason: u.reason.clone(),
            },
        });
    }
    rows
}

fn file_row(
    file: &MigrationFile,
    row: Option<&AppliedRow>,
    state: MigrationState,
) -> MigrationStatus {
    MigrationStatus {
        version: Some(file.version),
        name: file.name.clone(),
        path: Some(file.path.clone()),
        applied_on: row.map(|r| r.applied_on.clone()),
        state,
    }
}

/// The message for a drift row: names the file, the problem and the fix.
pub fn drift_message(row: &MigrationStatus) -> String {
    let file = row
        .path
        .as_ref()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("V{}__{}", row.version.unwrap_or_default(), row.name));
    match &row.state {
        MigrationState::Modified {
            applied_checksum,
            applied_name,
            file_checksum,
        } => format!(
            "migration {file} was applied (as {applied_name}) with checksum {applied_checksum} but the file now hashes to {file_checksum}; restore the file or, after reviewing a harmless edit, run `pgwarden migrate repair`"
        ),
        MigrationState::MissingFile => format!(
            "migration V{}__{} is recorded as applied but no file has version {}; restore the file to the migrations directory",
            row.version.unwrap_or_default(),
            row.name,
            row.version.unwrap_or_default()
        ),
        MigrationState::PendingOutOfOrder => format!(
            "migration {file} is older than the newest applied migration and was never applied; give it a new version above the newest, or prefix it with U to allow out-of-order runs"
        ),
        MigrationState::Unparseable { reason } => format!(
            "migration file {}: {reason}; rename it to V<version>__<name>.sql",
            row.path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or(file)
        ),
        MigrationState::Applied | MigrationState::Pending => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::discovery::UnusableFile;

    fn file(version: i32, name: &str, checksum: u64) -> MigrationFile {
        MigrationFile {
            path: PathBuf::from(format!("V{version}__{name}.sql")),
            version,
            name: name.into(),
            prefix: 'V',
            sql: String::new(),
            checksum,
        }
    }

    fn row(version: i32, name: &str, checksum: &str) -> AppliedRow {
        AppliedRow {
            version,
            name: name.into(),
            applied_on: "2026-01-01T00:00:00Z".into(),
            checksum: checksum.into(),
        }
    }

    fn states(found: &Discovered, applied: &[AppliedRow]) -> Vec<&'static str> {
        compute(found, applied)
            .iter()
            .map(|r| r.state.label())
            .collect()
    }

    #[test]
    fn fresh_database_has_everything_pending() {
        let found = Discovered {
            files: vec![file(1, "a", 11), file(2, "b", 22)],
            unusable: vec![],
        };
        assert_eq!(states(&found, &[]), vec!["pending", "pending"]);
    }

    #[test]
    fn applied_modified_missing_and_out_of_order() {
        let found = Discovered {
            files: vec![
                file(1, "a", 11),
                file(2, "b", 99),
                file(3, "late", 33),
                file(5, "new", 55),
            ],
            unusable: vec![UnusableFile {
                path: PathBuf::from("V6__bad-name.sql"),
                reason: "bad".into(),
            }],
        };
        let applied = [row(1, "a", "11"), row(2, "b", "22"), row(4, "gone", "44")];
        assert_eq!(
            states(&found, &applied),
            vec![
                "applied",
                "modified since applied",
                "pending, out of order",
                "applied but file missing",
                "pending",
                "unparseable file name"
            ]
        );
    }

    #[test]
    fn renamed_file_with_same_version_is_modified() {
        let found = Discovered {
            files: vec![file(1, "renamed", 11)],
            unusable: vec![],
        };
        assert_eq!(
            states(&found, &[row(1, "a", "11")]),
            vec!["modified since applied"]
        );
    }

    #[test]
    fn unversioned_files_may_run_out_of_order() {
        let mut late = file(1, "late", 1);
        late.prefix = 'U';
        let found = Discovered {
            files: vec![late, file(2, "b", 2)],
            unusable: vec![],
        };
        assert_eq!(
            states(&found, &[row(2, "b", "2")]),
            vec!["pending", "applied"]
        );
    }

    #[test]
    fn drift_message_names_file_checksums_and_fix() {
        let found = Discovered {
            files: vec![file(7, "add_index", 456)],
            unusable: vec![],
        };
        let rows = compute(&found, &[row(7, "add_index", "123")]);
        let msg = drift_message(&rows[0]);
        assert!(msg.contains("V7__add_index.sql"), "{msg}");
        assert!(msg.contains("123") && msg.contains("456"), "{msg}");
        assert!(msg.contains("pgwarden migrate repair"), "{msg}");
    }
}
