//! Finding migration files the way refinery does, and naming the ones it would silently skip.

use refinery_core::{Migration, MigrationType, find_migration_files};
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A migration file whose name refinery accepts.
#[derive(Debug, Clone)]
pub struct MigrationFile {
    /// Canonical (absolute) path of the file, as refinery finds it.
    pub path: PathBuf,
    /// The version from the file name (`7` in `V7__add_index.sql`; leading zeros ignored).
    pub version: i32,
    /// The name part of the file name (`add_index` in `V7__add_index.sql`).
    pub name: String,
    /// `V` (versioned) or `U` (may run out of order).
    pub prefix: char,
    /// The file's contents, exactly as read.
    pub sql: String,
    /// refinery's checksum: SipHash-1-3 over name, version and the exact SQL bytes.
    pub checksum: u64,
}

impl MigrationFile {
    /// The file name without its directory (`V7__add_index.sql`).
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// A `U` file: refinery lets it run after higher versions.
    pub fn may_run_out_of_order(&self) -> bool {
        self.prefix == 'U'
    }
}

/// A `.sql` file refinery would skip (or cannot read): a bad name, a version that does not fit.
#[derive(Debug, Clone, Serialize)]
pub struct UnusableFile {
    /// Canonical path of the file.
    pub path: PathBuf,
    /// Why it cannot be used, with the fix where there is one.
    pub reason: String,
}

/// What a migrations directory holds.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    /// Usable files, sorted by version, one per version.
    pub files: Vec<MigrationFile>,
    /// Files refinery would skip or cannot read, and repeats of a used version.
    pub unusable: Vec<UnusableFile>,
}

/// The directory itself could not be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot read migrations directory {}: {cause}; pass --migrations DIR or create it with `pgwarden migrate new NAME`",
    path.display()
)]
pub struct DiscoveryError {
    /// The directory as given.
    pub path: PathBuf,
    /// The I/O or directory walk error's message.
    pub cause: String,
}

/// Walks `dir` (recursively, sorted, as refinery does). Files refinery accepts are parsed and
/// checksummed with refinery's own types; every other `.sql` file is listed as unusable, as is
/// a second file with an already used version.
pub fn discover(dir: &Path) -> Result<Discovered, DiscoveryError> {
    let err = |cause: String| DiscoveryError {
        path: dir.to_path_buf(),
        cause,
    };
    let accepted: Vec<PathBuf> = find_migration_files(dir, MigrationType::Sql)
        .map_err(|e| err(e.to_string()))?
        .collect();
    let accepted_set: HashSet<&PathBuf> = accepted.iter().collect();
    let mut found = Discovered::default();
    for path in &accepted {
        match read_file(path) {
            Ok(file) => found.files.push(file),
            Err(reason) => found.unusable.push(UnusableFile {
                path: path.clone(),
                reason,
            }),
        }
    }
    let canonical = dir.canonicalize().map_err(|e| err(e.to_string()))?;
    for entry in walkdir::WalkDir::new(&canonical).sort_by_file_name() {
        let entry = entry.map_err(|e| err(e.to_string()))?;
        let path = entry.into_path();
        let is_sql = path.extension().is_some_and(|e| e == "sql");
        if path.is_file() && is_sql && !accepted_set.contains(&path) {
            // A file written between the two listings (another run adding a migration) is a
            // migration like the others when its name parses.
            let named_as_refinery_wants = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| REFINERY_NAME.is_match(n));
            let appeared = named_as_refinery_wants
                .then(|| read_file(&path).ok())
                .flatten()
                .filter(|_| {
                    !found
                        .files
                        .iter()
                        .any(|g| g.path.canonicalize().ok().as_ref() == Some(&path))
                });
            match appeared {
                Some(file) => found.files.push(file),
                None => found.unusable.push(UnusableFile {
                    path,
                    reason: "the name is not V<version>__<name>.sql with <name> made of letters, digits and underscores; refinery skips it".into(),
                }),
            }
        }
    }
    found.files.sort_by_key(|f| f.version);
    mark_repeated_versions(&mut found);
    Ok(found)
}

/// The file names refinery's `find_migration_files` takes (its `STEM_RE` plus `.sql`).
static REFINERY_NAME: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"^([U|V])(\d+(?:\.\d+)?)__(\w+)\.sql$").expect("a valid regex")
});

fn read_file(path: &Path) -> Result<MigrationFile, String> {
    let sql = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or("the name is not valid UTF-8")?;
    let migration = Migration::unapplied(stem, &sql)
        .map_err(|e| format!("refinery cannot use the name: {e}"))?;
    let prefix = if migration.prefix().to_string() == "U" {
        'U'
    } else {
        'V'
    };
    Ok(MigrationFile {
        path: path.to_path_buf(),
        version: migration.version(),
        name: migration.name().to_string(),
        prefix,
        checksum: migration.checksum(),
        sql,
    })
}

fn mark_repeated_versions(found: &mut Discovered) {
    let mut seen = HashSet::new();
    let mut keep = Vec::with_capacity(found.files.len());
    for file in std::mem::take(&mut found.files) {
        if seen.insert(file.version) {
            keep.push(file);
        } else {
            found.unusable.push(UnusableFile {
                reason: format!(
                    "version {} is used by another file too; give it the next free version",
                    file.version
                ),
                path: file.path,
            });
        }
    }
    found.files = keep;
}

/// The next free version and the path `migrate new NAME` writes.
pub fn next_file_path(dir: &Path, found: &Discovered, name: &str) -> (i32, PathBuf) {
    let next = found.files.iter().map(|f| f.version).max().unwrap_or(0) + 1;
    (next, dir.join(format!("V{next}__{name}.sql")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, sql) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, sql).unwrap();
        }
        dir
    }

    #[test]
    fn accepts_refinery_names_and_lists_the_rest() {
        let dir = dir_with(&[
            ("V1__init.sql", "CREATE TABLE a (x int);"),
            ("sub/V2__more.sql", "SELECT 1;"),
            ("V3__add-index.sql", "SELECT 1;"),
            ("notes.txt", "ignored"),
            ("V004__padded.sql", "SELECT 4;"),
        ]);
        let found = discover(dir.path()).unwrap();
        let versions: Vec<i32> = found.files.iter().map(|f| f.version).collect();
        assert_eq!(versions, vec![1, 2, 4]);
        assert_eq!(found.unusable.len(), 1);
        assert!(found.unusable[0].path.ends_with("V3__add-index.sql"));
    }

    #[test]
    fn checksum_is_refinerys() {
        let dir = dir_with(&[("V7__add_index.sql", "CREATE INDEX i ON t (a);\n")]);
        let found = discover(dir.path()).unwrap();
        let expected = Migration::unapplied("V7__add_index", "CREATE INDEX i ON t (a);\n")
            .unwrap()
            .checksum();
        assert_eq!(found.files[0].checksum, expected);
        let padded = Migration::unapplied("V007__add_index", "CREATE INDEX i ON t (a);\n")
            .unwrap()
            .checksum();
        assert_eq!(padded, expected, "leading zeros do not change the checksum");
    }

    #[test]
    fn repeated_version_is_unusable() {
        let dir = dir_with(&[("V1__a.sql", ""), ("V1__b.sql", "")]);
        let found = discover(dir.path()).unwrap();
        assert_eq!(found.files.len(), 1);
        assert!(found.unusable[0].reason.contains("version 1"));
    }

    #[test]
    fn missing_directory_is_an_error_naming_it() {
        let err = discover(Path::new("/nonexistent/pgwarden-migrations")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/pgwarden-migrations"));
    }
}
