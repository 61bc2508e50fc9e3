//! Password lookup in the libpq password file (`PGPASSFILE`, else `~/.pgpass`).

use std::path::{Path, PathBuf};

/// Where libpq would look for the password file.
pub fn default_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PGPASSFILE") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpass"))
}

/// The password for (host, port, database, user), following libpq's rules: first matching line
/// wins, `*` matches anything, `\:` and `\\` are escapes. A file readable by group or others is
/// ignored, as libpq does.
pub fn lookup(path: &Path, host: &str, port: u16, dbname: &str, user: &str) -> Option<String> {
    if !path.is_file() {
        return None;
    }
    if !private_enough(path) {
        tracing::warn!(
            file = %path.display(),
            "password file has group or world access and is ignored; chmod 0600 it"
        );
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let port = port.to_string();
    let host = if host.starts_with('/') {
        "localhost"
    } else {
        host
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(fields)
        .find(|f| {
            f.len() == 5
                && matches(&f[0], host)
                && matches(&f[1], &port)
                && matches(&f[2], dbname)
                && matches(&f[3], user)
        })
        .map(|f| f[4].clone())
}

fn matches(pattern: &str, value: &str) -> bool {
    pattern == "*" || pattern == value
}

fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => field.extend(chars.next()),
            ':' if out.len() < 4 => out.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    out.push(field);
    out
}

#[cfg(unix)]
fn private_enough(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o077 == 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn private_enough(_: &Path) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(text: &str, mode: u32) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        f
    }

    #[test]
    fn first_matching_line_wins_with_wildcards_and_escapes() {
        let f = write(
            "# comment\nother:5432:*:*:nope\nlocalhost:*:app:bob:s\\:ecret\n*:*:*:*:fallback\n",
            0o600,
        );
        assert_eq!(
            lookup(f.path(), "localhost", 5433, "app", "bob").as_deref(),
            Some("s:ecret")
        );
        assert_eq!(
            lookup(f.path(), "/var/run/postgresql", 5432, "app", "bob").as_deref(),
            Some("s:ecret")
        );
        assert_eq!(
            lookup(f.path(), "db.example", 5432, "x", "y").as_deref(),
            Some("fallback")
        );
    }

    #[test]
    fn world_readable_file_is_ignored() {
        let f = write("*:*:*:*:pw\n", 0o644);
        assert_eq!(lookup(f.path(), "h", 1, "d", "u"), None);
    }
}
