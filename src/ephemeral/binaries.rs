//! Finding the local PostgreSQL server binaries (of the major version a target runs, when there
//! is a target) and the extensions they can preload.

use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The variable that names the server binaries' directory (`--pg-bindir` sets it too).
pub const BINDIR_VARIABLE: &str = "PGWARDEN_PG_BINDIR";

/// One PostgreSQL server installation: the directory holding `initdb`, `pg_ctl` and
/// `postgres`, and the major version `postgres --version` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Installation {
    /// The directory holding `initdb`, `pg_ctl` and `postgres`.
    pub bindir: PathBuf,
    /// The major version `postgres --version` reports (`15`).
    pub major: u32,
}

/// What a search looked at and what it found, in the order it prefers them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Search {
    /// The places looked at, in order (`PATH`, `pg_config --bindir`, directories).
    pub looked: Vec<String>,
    /// Complete installations found, preferred first (only the override's when one is given), no
    /// directory twice.
    pub found: Vec<Installation>,
    /// The override (`--pg-bindir` / `PGWARDEN_PG_BINDIR`) when one was given.
    pub override_dir: Option<PathBuf>,
}

/// Why no suitable server binaries were found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinariesError {
    /// Nothing was found anywhere.
    #[error(
        "no PostgreSQL server binaries found (looked at {looked}); install the server (Debian/Ubuntu: `apt-get install postgresql-15`) or point --pg-bindir / PGWARDEN_PG_BINDIR at its bin directory"
    )]
    None {
        /// The places looked at, comma-separated.
        looked: String,
    },
    /// The override directory lacks `initdb`, `pg_ctl` or `postgres`.
    #[error(
        "{dir} (from --pg-bindir / PGWARDEN_PG_BINDIR) does not hold executable initdb, pg_ctl and postgres whose `postgres --version` names a PostgreSQL version: point it at the server's bin directory (e.g. /usr/lib/postgresql/15/bin)"
    )]
    Incomplete {
        /// The override directory, as given.
        dir: String,
    },
    /// Server binaries were found, but none of the target's major version.
    #[error(
        "the target runs PostgreSQL {want} but the local server binaries are {found}: replaying or copying with another major version gives false results; install the PostgreSQL {want} server (Debian/Ubuntu: `apt-get install postgresql-{want}`, from the PostgreSQL apt repository at apt.postgresql.org when your release lacks it) or point --pg-bindir / PGWARDEN_PG_BINDIR at its bin directory (looked at {looked})"
    )]
    WrongMajor {
        /// The target's major version.
        want: String,
        /// The installations found, as `major (bindir)`, comma-separated.
        found: String,
        /// The places looked at, comma-separated.
        looked: String,
    },
}

fn complete(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    ["initdb", "pg_ctl", "postgres"].iter().all(|b| {
        std::fs::metadata(dir.join(b))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// A major version as people write it: `15`, or `9.6` for the two-part versions before 10
/// (kept as 96 inside).
pub fn display_major(major: u32) -> String {
    if (90..100).contains(&major) {
        format!("{}.{}", major / 10, major % 10)
    } else {
        major.to_string()
    }
}

/// The major version of the server in `bindir`, from `postgres --version`
/// (`postgres (PostgreSQL) 15.18 (Debian 15.18-1)` -> 15).
pub fn major_of(bindir: &Path) -> Option<u32> {
    parse_major(&server_version(bindir)?)
}

/// What `postgres --version` in `bindir` prints, trimmed (`postgres (PostgreSQL) 15.18 (Debian
/// 15.18-1)`).
pub fn server_version(bindir: &Path) -> Option<String> {
    let out = Command::new(bindir.join("postgres"))
        .arg("--version")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The control file of extension `name` as installed for the server in `bindir` (its
/// `default_version` is what `CREATE EXTENSION` installs); `None` when there is none or `name`
/// is not a plain extension name (it never becomes a path outside the extension directory).
pub fn extension_control(bindir: &Path, name: &str) -> Option<String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if name.is_empty() || !name.chars().all(plain) {
        return None;
    }
    let sharedir =
        pg_config(bindir, "--sharedir").or_else(|| bindir.parent().map(|p| p.join("share")))?;
    std::fs::read_to_string(sharedir.join("extension").join(format!("{name}.control"))).ok()
}

fn parse_major(version: &str) -> Option<u32> {
    let number = version
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    let mut parts = number.split(|c: char| !c.is_ascii_digit());
    let first: u32 = parts.next()?.parse().ok()?;
    // Before 10 the major version had two parts (9.6).
    if first < 10 {
        let second: u32 = parts.next()?.parse().ok()?;
        return Some(first * 10 + second);
    }
    Some(first)
}

/// Directories under `root` whose name holds a version (`15`, `postgresql@16`, `pgsql-14`),
/// with `suffix` appended, newest first.
fn versioned(root: &str, suffix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut dirs: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let digits: String = name
                .chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(|c| c.is_ascii_digit())
                .collect();
            Some((digits.parse().ok()?, e.path().join(suffix)))
        })
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.0));
    dirs.into_iter().map(|(_, d)| d).collect()
}

/// Looks for server binaries: the override when given (only there), else `PATH`,
/// `pg_config --bindir`, then the usual installation directories (Debian/Ubuntu, the
/// PostgreSQL RPMs, Homebrew, Postgres.app), newest first.
pub fn search(override_dir: Option<&Path>) -> Search {
    let env_override = std::env::var_os(BINDIR_VARIABLE)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let override_dir = override_dir.map(Path::to_path_buf).or(env_override);
    let mut s = Search {
        override_dir: override_dir.clone(),
        ..Search::default()
    };
    let add = |s: &mut Search, dir: PathBuf| {
        if !complete(&dir) {
            return;
        }
        // Follow symlinks (/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb) so the
        // server's own directory, with pg_dump and psql beside it, is used.
        let real = std::fs::canonicalize(dir.join("initdb"))
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .filter(|d| complete(d))
            .unwrap_or(dir);
        if s.found.iter().any(|i| i.bindir == real) {
            return;
        }
        if let Some(major) = major_of(&real) {
            s.found.push(Installation {
                bindir: real,
                major,
            });
        }
    };
    if let Some(dir) = override_dir {
        s.looked.push(format!(
            "{} (--pg-bindir / {BINDIR_VARIABLE})",
            dir.display()
        ));
        add(&mut s, dir);
        return s;
    }
    s.looked.push("PATH".into());
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    for dir in on_path {
        add(&mut s, dir);
    }
    s.looked.push("pg_config --bindir".into());
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        add(
            &mut s,
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()),
        );
    }
    for (root, suffix) in [
        ("/usr/lib/postgresql", "bin"),
        ("/usr", "bin"),
        ("/opt/homebrew/opt", "bin"),
        ("/usr/local/opt", "bin"),
        ("/Applications/Postgres.app/Contents/Versions", "bin"),
    ] {
        let pattern = match root {
            "/usr" => "/usr/pgsql-*/bin".to_string(),
            "/opt/homebrew/opt" | "/usr/local/opt" => format!("{root}/postgresql@*/bin"),
            _ => format!("{root}/*/{suffix}"),
        };
        s.looked.push(pattern);
        for dir in versioned(root, suffix) {
            let name = dir
                .parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let fits = match root {
                "/usr" => name.starts_with("pgsql-"),
                "/opt/homebrew/opt" | "/usr/local/opt" => name.starts_with("postgresql"),
                _ => true,
            };
            if fits {
                add(&mut s, dir);
            }
        }
    }
    s
}

impl Search {
    /// The installation to use: of major version `want` when given (a target's), else the
    /// first found.
    pub fn choose(&self, want: Option<u32>) -> Result<Installation, BinariesError> {
        let looked = self.looked.join(", ");
        if let Some(dir) = &self.override_dir
            && self.found.is_empty()
        {
            return Err(BinariesError::Incomplete {
                dir: dir.display().to_string(),
            });
        }
        let Some(first) = self.found.first() else {
            return Err(BinariesError::None { looked });
        };
        match want {
            None => Ok(first.clone()),
            Some(want) => self
                .found
                .iter()
                .find(|i| i.major == want)
                .cloned()
                .ok_or_else(|| BinariesError::WrongMajor {
                    want: display_major(want),
                    found: self
                        .found
                        .iter()
                        .map(|i| format!("{} ({})", display_major(i.major), i.bindir.display()))
                        .collect::<Vec<_>>()
                        .join(", "),
                    looked,
                }),
        }
    }
}

/// The directory of the first installation found (see [`search`]), for tools that only need
/// a `psql` or `pg_dump`.
pub fn find_bindir() -> Option<PathBuf> {
    search(None).choose(None).ok().map(|i| i.bindir)
}

/// Libraries to preload: `pg_stat_statements` always, plus `hypopg` and `pg_qualstats` when
/// their shared objects are installed beside the server.
pub fn preloadable_libraries(bindir: &Path) -> Vec<String> {
    let libdir = pkglibdir(bindir);
    ["pg_stat_statements", "hypopg", "pg_qualstats"]
        .iter()
        .filter(|lib| libdir.join(format!("{lib}.so")).is_file())
        .map(|s| s.to_string())
        .collect()
}

fn pkglibdir(bindir: &Path) -> PathBuf {
    pg_config(bindir, "--pkglibdir")
        .unwrap_or_else(|| bindir.parent().map(|p| p.join("lib")).unwrap_or_default())
}

/// A directory `pg_config` in `bindir` reports (`--pkglibdir`, `--sharedir`).
fn pg_config(bindir: &Path, option: &str) -> Option<PathBuf> {
    let out = Command::new(bindir.join("pg_config"))
        .arg(option)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_versions_from_postgres_version() {
        assert_eq!(
            parse_major("postgres (PostgreSQL) 15.18 (Debian 15.18-1.pgdg120+1)"),
            Some(15)
        );
        assert_eq!(parse_major("postgres (PostgreSQL) 17beta2"), Some(17));
        assert_eq!(parse_major("postgres (PostgreSQL) 9.6.24"), Some(96));
        assert_eq!(parse_major("garbage"), None);
    }

    #[test]
    fn a_missing_major_version_names_what_was_found() {
        let s = Search {
            looked: vec!["PATH".into()],
            found: vec![Installation {
                bindir: "/usr/lib/postgresql/15/bin".into(),
                major: 15,
            }],
            override_dir: None,
        };
        assert_eq!(s.choose(None).unwrap().major, 15);
        let err = s.choose(Some(16)).unwrap_err().to_string();
        assert!(
            err.contains("PostgreSQL 16")
                && err.contains("15 (/usr/lib/postgresql/15/bin)")
                && err.contains("postgresql-16"),
            "{err}"
        );
        assert!(matches!(
            Search::default().choose(None),
            Err(BinariesError::None { .. })
        ));
    }
}
