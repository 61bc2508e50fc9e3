//! pgwarden's own statements in a target's pg_stat_statements. Only a superuser can turn
//! tracking off (`pg_stat_statements.track`), so pgwarden marks the statements it runs on a
//! database it copies ([`OWN_STATEMENT_MARKER`], kept by pg_stat_statements in the entry's
//! text), and records the query identifiers of the marked entries in its state directory
//! (`$XDG_STATE_HOME/pgwarden/own-statements/`, else `~/.local/state/pgwarden/...`; never the
//! repository), one file per database (its server's system identifier and its name). Readers
//! of the workload leave out both: the recorded identifiers, and any entry whose text carries
//! the marker (an entry whose text pg_stat_statements no longer holds is still recognized by
//! its identifier).

use crate::db::{DbContext, DbError, OWN_STATEMENT_MARKER};
use postgres::Client;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The identifiers of this database's entries whose text carries the marker.
const MARKED: &str = "/* pgwarden */ SELECT DISTINCT queryid FROM pg_stat_statements \
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
       AND queryid IS NOT NULL AND strpos(query, $1) > 0";

/// At most this many identifiers are kept per database (the newest).
const KEEP: usize = 10_000;

/// Why the record of pgwarden's own statements could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum OwnError {
    /// Reading pg_stat_statements or the database's identity failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The record file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The record file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The record file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    /// `<system identifier>/<database name>`.
    database: String,
    /// Query identifiers of pgwarden's own statements, oldest first.
    queryids: Vec<i64>,
}

/// The record file of the connected database, or `None` without a state directory (no
/// `XDG_STATE_HOME` and no `HOME`).
fn record_path(client: &mut Client) -> Result<Option<(PathBuf, String)>, DbError> {
    let (system, name) = crate::db::database_identity(client)?;
    let database = format!("{system}/{name}");
    let Some(dir) = state_dir() else {
        return Ok(None);
    };
    use sha2::Digest;
    let digest = sha2::Sha256::digest(database.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let file = dir.join("own-statements").join(format!("{hex}.json"));
    Ok(Some((file, database)))
}

/// `$XDG_STATE_HOME/pgwarden` (when absolute), else `~/.local/state/pgwarden`.
fn state_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty() && Path::new(d).is_absolute())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })
        .map(|d| d.join("pgwarden"))
}

fn read_record(path: &Path) -> Result<Record, OwnError> {
    match std::fs::read_to_string(path) {
        // A record that does not parse is started afresh: it only ever narrows the workload.
        Ok(text) => Ok(serde_json::from_str(&text).unwrap_or_default()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record::default()),
        Err(source) => Err(OwnError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The identifiers recorded for the connected database (none without a record).
pub fn recorded(client: &mut Client) -> Result<Vec<i64>, OwnError> {
    let Some((path, database)) = record_path(client)? else {
        return Ok(Vec::new());
    };
    let record = read_record(&path)?;
    Ok(if record.database == database {
        record.queryids
    } else {
        Vec::new()
    })
}

/// Records the identifiers of the connected database's entries that carry the marker (after
/// pgwarden ran its statements there); returns how many are recorded in all. Without a state
/// directory nothing is written (the marker still identifies the entries).
pub fn record(client: &mut Client) -> Result<usize, OwnError> {
    let Some((path, database)) = record_path(client)? else {
        return Ok(0);
    };
    let marked: Vec<i64> = client
        .query(MARKED, &[&OWN_STATEMENT_MARKER])
        .db_context(|| "cannot read pgwarden's own statements from pg_stat_statements")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut record = read_record(&path)?;
    if record.database != database {
        record = Record {
            database,
            queryids: Vec::new(),
        };
    }
    record.queryids.retain(|id| !marked.contains(id));
    record.queryids.extend(marked);
    let excess = record.queryids.len().saturating_sub(KEEP);
    record.queryids.drain(..excess);
    write_record(&path, &record)?;
    Ok(record.queryids.len())
}

/// Writes the record through a temporary file renamed over it (never half a file).
fn write_record(path: &Path, record: &Record) -> Result<(), OwnError> {
    let io = |source| OwnError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let text = serde_json::to_string(record).map_err(|e| io(std::io::Error::other(e)))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Whether a statement's text carries pgwarden's marker.
pub fn is_marked(text: &str) -> bool {
    text.contains(OWN_STATEMENT_MARKER)
}
