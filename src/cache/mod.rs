//! `plan`'s desired state, cached: replaying many migrations into a throwaway server takes
//! seconds to minutes, and the catalog it yields depends only on what [`KeyInputs`] names. One
//! JSON file per set of migrations (`desired-<stem>.json`, named by the hash of the inputs that
//! do not depend on the target) holds the full key and the catalog; it is used only when the
//! full key matches. Files are written to a temp file and renamed, so a killed run never leaves
//! half a file; a file that cannot be read or parsed is ignored (and rebuilt), never an error.
//! No URL, password or target name goes into a file.

mod key;

pub use key::{CacheKey, FORMAT, KeyInputs, PGWARDEN_BUILD};

use crate::catalog::Catalog;
use serde::{Deserialize, Serialize};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// How many `desired-*.json` files a cache directory keeps (the newest).
pub const KEEP_FILES: usize = 16;

/// The cache directory when none is given: `$XDG_CACHE_HOME/pgwarden` (an absolute
/// `XDG_CACHE_HOME`), else `$HOME/.cache/pgwarden`; `None` without either.
pub fn default_dir() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).map(PathBuf::from);
    if let Some(xdg) = var("XDG_CACHE_HOME").filter(|p| p.is_absolute()) {
        return Some(xdg.join("pgwarden"));
    }
    var("HOME")
        .filter(|p| p.is_absolute())
        .map(|home| home.join(".cache").join("pgwarden"))
}

/// The file as written: a header, then the catalog.
#[derive(Serialize)]
struct FileOut<'a> {
    format: u32,
    pgwarden: &'a str,
    key: &'a str,
    catalog: &'a Catalog,
    relation_names: &'a [(String, String)],
}

/// The file as read back.
#[derive(Deserialize)]
struct FileIn {
    format: u32,
    key: String,
    catalog: Catalog,
    relation_names: Vec<(String, String)>,
}

/// A cache directory of desired catalogs.
#[derive(Debug, Clone)]
pub struct DesiredCache {
    dir: PathBuf,
}

impl DesiredCache {
    /// The cache in `dir` (created, mode 0700, on the first store).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The file that holds the entries of `key`'s migrations.
    pub fn path(&self, key: &CacheKey) -> PathBuf {
        let stem = key.stem.get(..32).unwrap_or(&key.stem);
        self.dir.join(format!("desired-{stem}.json"))
    }

    /// The cached catalog for `key`; `None` (with a log line saying why) when there is none,
    /// it is for other inputs, or it cannot be read.
    pub fn load(&self, key: &CacheKey) -> Option<Catalog> {
        let path = self.path(key);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::debug!(path = %path.display(), "no cached desired state");
                return None;
            }
            Err(e) => {
                tracing::warn!(
                    "cannot read the cached desired state {}: {e}; replaying the migrations",
                    path.display()
                );
                return None;
            }
        };
        match serde_json::from_reader::<_, FileIn>(BufReader::with_capacity(1 << 20, file)) {
            Ok(f) if f.format == FORMAT && f.key == key.full => {
                let mut catalog = f.catalog;
                catalog.relation_names = f.relation_names;
                catalog.shrink_to_fit();
                Some(catalog)
            }
            Ok(_) => {
                tracing::debug!(path = %path.display(), "the cached desired state is for other inputs");
                None
            }
            Err(e) => {
                tracing::warn!(
                    "ignoring the cached desired state {}: {e}; replaying the migrations and writing it again",
                    path.display()
                );
                None
            }
        }
    }

    /// Stores `catalog` under `key`, atomically. A failure is a warning: plan works without
    /// the cache.
    pub fn store(&self, key: &CacheKey, catalog: &Catalog) {
        if let Err(e) = self.write(key, catalog) {
            tracing::warn!(
                "cannot write the desired-state cache in {}: {e}; plan works without it (give --cache-dir or PGWARDEN_CACHE_DIR a writable directory, or pass --no-cache)",
                self.dir.display()
            );
            return;
        }
        self.prune(&self.path(key));
    }

    fn write(&self, key: &CacheKey, catalog: &Catalog) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        // A random name in the same directory (mode 0600), renamed over the entry once
        // complete: readers see the old file or the new one, never part of one. No fsync: a
        // file cut short by a crash fails to parse and is rebuilt.
        let tmp = tempfile::Builder::new()
            .prefix(".desired-")
            .suffix(".tmp")
            .tempfile_in(&self.dir)?;
        let mut out = BufWriter::with_capacity(1 << 20, tmp.as_file());
        let file = FileOut {
            format: FORMAT,
            pgwarden: PGWARDEN_BUILD,
            key: &key.full,
            catalog,
            relation_names: &catalog.relation_names,
        };
        serde_json::to_writer(&mut out, &file)?;
        out.flush()?;
        drop(out);
        tmp.persist(self.path(key)).map_err(|e| e.error)?;
        tracing::debug!(path = %self.path(key).display(), "desired state cached");
        Ok(())
    }

    /// Keeps `written` and the newest other entries, [`KEEP_FILES`] in all, and removes temp
    /// files older than an hour (a killed run's); errors are ignored.
    fn prune(&self, written: &Path) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let modified = entry.metadata().and_then(|m| m.modified());
            let Ok(modified) = modified else { continue };
            if entry.path() == written {
                continue;
            }
            if name.starts_with("desired-") && name.ends_with(".json") {
                files.push((modified, entry.path()));
            } else if name.starts_with(".desired-")
                && name.ends_with(".tmp")
                && modified.elapsed().is_ok_and(|age| age.as_secs() > 3600)
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        files.sort_by_key(|f| std::cmp::Reverse(f.0));
        for (_, path) in files.iter().skip(KEEP_FILES - 1) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Table;

    fn key(stem: char, full: char) -> CacheKey {
        CacheKey {
            stem: stem.to_string().repeat(64),
            full: full.to_string().repeat(64),
        }
    }

    fn catalog() -> Catalog {
        Catalog {
            tables: vec![Table {
                schema: "public".into(),
                name: "t\n*/\"".into(),
                size_bytes: 8192,
                writes: 0,
            }],
            relation_names: vec![("public".into(), "t_pkey".into())],
            ..Catalog::default()
        }
    }

    #[test]
    fn a_stored_catalog_loads_back_only_for_its_full_key() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DesiredCache::new(dir.path().join("a/b"));
        assert_eq!(cache.load(&key('a', '1')), None);
        cache.store(&key('a', '1'), &catalog());
        assert_eq!(cache.load(&key('a', '1')), Some(catalog()));
        assert_eq!(cache.load(&key('a', '2')), None, "same file, other inputs");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("a/b"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("a/b"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "no temp file left: {leftovers:?}");
    }

    #[test]
    fn corrupt_truncated_or_foreign_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DesiredCache::new(dir.path().to_path_buf());
        let k = key('c', '3');
        cache.store(&k, &catalog());
        let text = std::fs::read_to_string(cache.path(&k)).unwrap();
        for bad in [
            &text[..text.len() / 2],
            "",
            "null",
            "{\"format\": 1}",
            "\u{0}\u{1}garbage",
        ] {
            std::fs::write(cache.path(&k), bad).unwrap();
            assert_eq!(cache.load(&k), None, "{bad:?}");
        }
        let other_format = text.replacen(&format!("\"format\":{FORMAT}"), "\"format\":999", 1);
        std::fs::write(cache.path(&k), other_format).unwrap();
        assert_eq!(cache.load(&k), None);
    }

    #[test]
    fn an_unusable_directory_only_warns() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        let cache = DesiredCache::new(file.join("sub"));
        cache.store(&key('d', '4'), &catalog());
        assert_eq!(cache.load(&key('d', '4')), None);
    }

    #[test]
    fn only_the_newest_files_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DesiredCache::new(dir.path().to_path_buf());
        let stems = "0123456789abcdefghij";
        for s in stems.chars() {
            cache.store(&key(s, s), &Catalog::default());
        }
        let count = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(count, KEEP_FILES);
        let last = stems.chars().last().unwrap();
        assert!(cache.load(&key(last, last)).is_some());
    }
}
