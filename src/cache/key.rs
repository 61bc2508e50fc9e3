//! The cache key: a SHA-256 over everything the replayed catalog depends on, each input
//! length-prefixed so that no two different inputs hash alike.

use crate::migrations::MigrationFile;
use sha2::{Digest, Sha256};

/// The cache's own format; bumped when the file layout changes.
pub const FORMAT: u32 = 2;

/// This build of pgwarden (version and commit): another build may read catalogs differently.
pub const PGWARDEN_BUILD: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("PGWARDEN_GIT_COMMIT"),
    ")"
);

/// Everything the desired catalog depends on, besides pgwarden itself.
#[derive(Debug, Clone, Default)]
pub struct KeyInputs<'a> {
    /// The migration files, in order: their names and exact contents.
    pub migrations: &'a [MigrationFile],
    /// The policy's `[plan] required_indexes`, built after the replay.
    pub required_indexes: &'a [String],
    /// The throwaway server's `postgresql.conf` lines that can change what a replay does
    /// (the fixed tuning and those taken from the target).
    pub server_conf: &'a [String],
    /// The target's search path, which the replay's sessions take.
    pub search_path: &'a [String],
    /// The server binaries: their directory and what `postgres --version` prints (the major
    /// version, and the minor one, whose deparsing could differ).
    pub server: &'a str,
    /// Each extension the migrations create, with its control file as installed for the
    /// server (its `default_version` is what `CREATE EXTENSION` installs), or a marker when
    /// it cannot be read.
    pub extensions: &'a [(String, String)],
}

/// A cache entry's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    /// SHA-256 (hex) of the inputs that do not depend on the target (pgwarden's build, the
    /// migrations, the required indexes): names the file, so that one set of migrations has one
    /// file whatever the target.
    pub stem: String,
    /// SHA-256 (hex) of every input: the file is used only when its header holds this.
    pub full: String,
}

impl CacheKey {
    /// The key of `inputs` for this build of pgwarden.
    pub fn new(inputs: &KeyInputs) -> Self {
        Self::for_build(inputs, PGWARDEN_BUILD)
    }

    fn for_build(inputs: &KeyInputs, build: &str) -> Self {
        let mut h = Fields::default();
        h.field("format", FORMAT.to_string().as_bytes());
        h.field("pgwarden", build.as_bytes());
        h.count("migrations", inputs.migrations.len());
        for m in inputs.migrations {
            h.field("file", m.file_name().as_bytes());
            h.field("version", m.version.to_string().as_bytes());
            h.field("name", m.name.as_bytes());
            h.field("sql", m.sql.as_bytes());
        }
        h.count("required_indexes", inputs.required_indexes.len());
        for ddl in inputs.required_indexes {
            h.field("required_index", ddl.as_bytes());
        }
        let stem = h.hex();
        let mut h = Fields::default();
        h.field("stem", stem.as_bytes());
        h.count("server_conf", inputs.server_conf.len());
        for line in inputs.server_conf {
            h.field("conf", line.as_bytes());
        }
        h.count("search_path", inputs.search_path.len());
        for schema in inputs.search_path {
            h.field("schema", schema.as_bytes());
        }
        h.field("server", inputs.server.as_bytes());
        h.count("extensions", inputs.extensions.len());
        for (name, control) in inputs.extensions {
            h.field("extension", name.as_bytes());
            h.field("control", control.as_bytes());
        }
        Self {
            stem,
            full: h.hex(),
        }
    }

    /// The first 12 hex digits of the full key, for people.
    pub fn short(&self) -> &str {
        self.full.get(..12).unwrap_or(&self.full)
    }
}

/// A hasher fed labelled, length-prefixed fields.
#[derive(Default)]
struct Fields(Sha256);

impl Fields {
    fn field(&mut self, label: &str, value: &[u8]) {
        for part in [label.as_bytes(), value] {
            self.0.update((part.len() as u64).to_le_bytes());
            self.0.update(part);
        }
    }

    fn count(&mut self, label: &str, n: usize) {
        self.field(label, n.to_string().as_bytes());
    }

    fn hex(self) -> String {
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn file(version: i32, name: &str, sql: &str) -> MigrationFile {
        MigrationFile {
            path: PathBuf::from(format!("/m/V{version}__{name}.sql")),
            version,
            name: name.into(),
            prefix: 'V',
            sql: sql.into(),
            checksum: 0,
        }
    }

    #[test]
    fn every_input_changes_the_full_key_and_only_target_independent_ones_the_stem() {
        let files = [file(1, "a", "CREATE TABLE a (id int);")];
        let edited = [file(1, "a", "CREATE TABLE a (id int); ")];
        let renamed = [file(1, "b", "CREATE TABLE a (id int);")];
        let required = ["CREATE INDEX i ON a (id)".to_string()];
        let conf = ["max_locks_per_transaction = 64".to_string()];
        let path = ["public".to_string()];
        let ext = [("citext".to_string(), "default_version = '1.6'".to_string())];
        let base = KeyInputs {
            migrations: &files,
            required_indexes: &[],
            server_conf: &conf,
            search_path: &path,
            server: "/usr/lib/postgresql/15/bin postgres (PostgreSQL) 15.18",
            extensions: &[],
        };
        let key = CacheKey::new(&base);
        assert_eq!(key, CacheKey::new(&base.clone()), "deterministic");
        assert_eq!(key.stem.len(), 64);
        let target_independent = [
            KeyInputs {
                migrations: &edited,
                ..base.clone()
            },
            KeyInputs {
                migrations: &renamed,
                ..base.clone()
            },
            KeyInputs {
                migrations: &[],
                ..base.clone()
            },
            KeyInputs {
                required_indexes: &required,
                ..base.clone()
            },
        ];
        for changed in &target_independent {
            let other = CacheKey::new(changed);
            assert_ne!(other.stem, key.stem, "{changed:?}");
            assert_ne!(other.full, key.full, "{changed:?}");
        }
        let target_dependent = [
            KeyInputs {
                server_conf: &[],
                ..base.clone()
            },
            KeyInputs {
                search_path: &[],
                ..base.clone()
            },
            KeyInputs {
                server: "/usr/lib/postgresql/15/bin postgres (PostgreSQL) 15.19",
                ..base.clone()
            },
            KeyInputs {
                extensions: &ext,
                ..base.clone()
            },
        ];
        for changed in &target_dependent {
            let other = CacheKey::new(changed);
            assert_eq!(other.stem, key.stem, "{changed:?}");
            assert_ne!(other.full, key.full, "{changed:?}");
        }
        let other_build = CacheKey::for_build(&base, "0.0.0 (commit other)");
        assert_ne!(other_build.stem, key.stem);
    }

    #[test]
    fn fields_are_length_prefixed() {
        let one = ["ab".to_string(), "c".to_string()];
        let two = ["a".to_string(), "bc".to_string()];
        let key = |path: &[String]| {
            CacheKey::new(&KeyInputs {
                search_path: path,
                ..KeyInputs::default()
            })
        };
        assert_ne!(key(&one), key(&two));
    }
}
