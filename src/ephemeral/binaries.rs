//! Finding the local PostgreSQL server binaries and the extensions they can preload.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory holding `initdb`, `pg_ctl` and `postgres`: `PGWARDEN_PG_BINDIR`, then `PATH`,
/// then `pg_config --bindir`, then the newest `/usr/lib/postgresql/*/bin`.
pub fn find_bindir() -> Option<PathBuf> {
    let complete = |d: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| d.join(b).is_file())
    };
    if let Some(dir) = std::env::var_os("PGWARDEN_PG_BINDIR").map(PathBuf::from) {
        return complete(&dir).then_some(dir);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    if let Some(dir) = on_path.into_iter().find(|d| complete(d)) {
        // Follow symlinks (/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb) so the
        // server's own directory, with pg_config and psql beside it, is used.
        let real = std::fs::canonicalize(dir.join("initdb"))
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .filter(|d| complete(d));
        return Some(real.unwrap_or(dir));
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && complete(&dir) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            complete(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
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
    let pg_config = bindir.join("pg_config");
    if let Ok(out) = Command::new(&pg_config).arg("--pkglibdir").output()
        && out.status.success()
    {
        return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    }
    bindir.parent().map(|p| p.join("lib")).unwrap_or_default()
}
