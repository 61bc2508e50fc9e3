//! The run ledger: one JSON file per targets source and command, under
//! `$XDG_STATE_HOME/pgwarden/` (else `~/.local/state/pgwarden/`), never inside the repository.
//! It is rewritten (atomically) as each target starts and ends, so it is true after any
//! interruption; `--resume` runs again only the targets that did not finish, and refuses when
//! the migration files changed since the ledger was written.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The ledger format this build writes and reads.
pub const LEDGER_VERSION: u32 = 1;

/// How a target's run ended (or that it has not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Not started (yet, or because the run stopped first).
    NotStarted,
    /// Started; still running, or the run was killed while it ran.
    Running,
    /// Done, exit 0.
    Ok,
    /// Done, exit 1: findings (lint, check, plan, drift).
    Findings,
    /// Failed (exit 2): the error says why.
    Failed,
    /// Stopped by SIGINT or SIGTERM before it finished.
    Interrupted,
    /// Done in an earlier run (`--resume`).
    DoneEarlier,
}

impl Outcome {
    /// The target needs nothing more: it finished, in this run or an earlier one.
    pub fn finished(self) -> bool {
        matches!(self, Outcome::Ok | Outcome::Findings | Outcome::DoneEarlier)
    }

    /// The exit code this outcome stands for.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Ok | Outcome::DoneEarlier => 0,
            Outcome::Findings => 1,
            _ => 2,
        }
    }
}

/// One target's line in the ledger.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The target's group.
    pub group: String,
    /// Its connection string, password redacted.
    pub database: String,
    /// A digest of its full connection string: `--resume` counts a target as done only when
    /// it still points at the same database (the string itself may hold a password).
    pub url_digest: String,
    /// How its run ended.
    pub outcome: Outcome,
    /// The highest applied migration version before the run (migrate commands).
    pub version_before: Option<i32>,
    /// The highest applied migration version after the run (migrate commands).
    pub version_after: Option<i32>,
    /// Why it failed.
    pub error: Option<String>,
    /// Wall time of its run, ms.
    pub duration_ms: u64,
    /// When it started and finished (RFC 3339, UTC).
    pub started_at: Option<String>,
    /// When it finished.
    pub finished_at: Option<String>,
}

/// The whole ledger.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ledger {
    /// [`LEDGER_VERSION`].
    pub schema_version: u32,
    /// The command run on each target, e.g. `migrate apply`.
    pub command: String,
    /// Where the targets came from (the targets file, or `--targets-sql`).
    pub source: String,
    /// The migration files when the run started, `V<version>__<name> <checksum>`: `--resume`
    /// refuses when they changed.
    pub migrations: Vec<String>,
    /// Each target, by name.
    pub targets: BTreeMap<String, Entry>,
}

/// A ledger that cannot be read, written or resumed from.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Reading or writing the file failed.
    #[error("ledger {}: {cause}; pass --ledger FILE to keep it elsewhere", path.display())]
    Io {
        /// The ledger file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The file is not a ledger this build reads.
    #[error("ledger {} is not a pgwarden ledger of version {LEDGER_VERSION}: {cause}; run without --resume to start over", path.display())]
    Format {
        /// The ledger file.
        path: PathBuf,
        /// What is wrong.
        cause: String,
    },
    /// Another fleet run holds the ledger.
    #[error("ledger {} is in use by another fleet run ({holder}): wait for it to finish, or give this run its own --ledger FILE", path.display())]
    Busy {
        /// The ledger file.
        path: PathBuf,
        /// Who holds it: `pid N`, or `holder unknown`.
        holder: String,
    },
    /// `--resume` with nothing to resume, or a ledger of something else.
    #[error("cannot resume from {}: {reason}", path.display())]
    Resume {
        /// The ledger file.
        path: PathBuf,
        /// Why, and the fix.
        reason: String,
    },
}

/// The digest of a connection string kept in the ledger.
pub fn url_digest(url: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(url.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The default ledger path for `source` and `command`: a file named after both (a digest, so
/// any text is a safe name) under the state directory.
pub fn default_path(source: &str, command: &str) -> Option<PathBuf> {
    use sha2::Digest;
    let dir = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty() && Path::new(d).is_absolute())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })?;
    let digest = sha2::Sha256::digest(format!("{command}\n{source}").as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let slug: String = command
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    Some(
        dir.join("pgwarden")
            .join(format!("fleet-{slug}-{hex}.json")),
    )
}

/// The exclusive hold of one fleet run on a ledger: an advisory lock (`flock`) on the file
/// beside it, `<ledger>.lock`, which the kernel releases when the run ends, even killed. The
/// ledger itself is replaced by renames, so it cannot carry the lock.
#[derive(Debug)]
pub struct LedgerLock(#[allow(dead_code)] std::fs::File);

/// Takes the ledger at `path` for this run, or says who has it.
pub fn lock(path: &Path) -> Result<LedgerLock, LedgerError> {
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsRawFd;
    let io = |cause| LedgerError::Io {
        path: path.into(),
        cause,
    };
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(io)?;
    // SAFETY: flock on a descriptor this function owns; no memory is passed.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let mut text = String::new();
        let _ = file.read_to_string(&mut text);
        let holder = text
            .trim()
            .parse::<u32>()
            .map_or("holder unknown".to_string(), |pid| format!("pid {pid}"));
        return Err(LedgerError::Busy {
            path: path.into(),
            holder,
        });
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    write!(file, "{}", std::process::id()).map_err(io)?;
    Ok(LedgerLock(file))
}

impl Ledger {
    /// Reads the ledger at `path`.
    pub fn load(path: &Path) -> Result<Self, LedgerError> {
        let text = std::fs::read_to_string(path).map_err(|cause| match cause.kind() {
            std::io::ErrorKind::NotFound => LedgerError::Resume {
                path: path.into(),
                reason: "there is no ledger there: nothing to resume (run without --resume, or give the ledger of the earlier run with --ledger FILE)".into(),
            },
            _ => LedgerError::Io {
                path: path.into(),
                cause,
            },
        })?;
        let ledger: Ledger = serde_json::from_str(&text).map_err(|e| LedgerError::Format {
            path: path.into(),
            cause: e.to_string(),
        })?;
        if ledger.schema_version != LEDGER_VERSION {
            return Err(LedgerError::Format {
                path: path.into(),
                cause: format!("schema_version {}", ledger.schema_version),
            });
        }
        Ok(ledger)
    }

    /// Checks that this ledger can be resumed by `command` on the targets of `source` with
    /// `migrations`.
    pub fn check_resume(
        &self,
        path: &Path,
        (command, source): (&str, &str),
        migrations: &[String],
    ) -> Result<(), LedgerError> {
        let refuse = |reason: String| LedgerError::Resume {
            path: path.into(),
            reason,
        };
        if self.source != source {
            return Err(refuse(format!(
                "it records the targets of {}, not of {}",
                crate::escape::inline(&self.source),
                crate::escape::inline(source)
            )));
        }
        if self.command != command {
            return Err(refuse(format!(
                "it records `{}`, not `{command}`",
                crate::escape::inline(&self.command)
            )));
        }
        if self.migrations != migrations {
            let changed: Vec<&String> = migrations
                .iter()
                .filter(|m| !self.migrations.contains(m))
                .chain(self.migrations.iter().filter(|m| !migrations.contains(m)))
                .collect();
            return Err(refuse(format!(
                "the migration files changed since it was written ({}); run without --resume to apply the new files to every target",
                changed
                    .iter()
                    .map(|m| crate::escape::inline(m))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(())
    }

    /// Writes the ledger atomically (a temporary file renamed over it), creating its directory.
    pub fn save(&self, path: &Path) -> Result<(), LedgerError> {
        let io = |cause| LedgerError::Io {
            path: path.into(),
            cause,
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let text = serde_json::to_string_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }
}
