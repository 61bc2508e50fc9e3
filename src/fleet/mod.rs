//! Fleet runs: the targets of one command (a file or a query on a control database), their
//! groups (run in order, canary first), the server each one is on (for `--per-host`), and
//! the ledger that makes an interrupted or failed run resumable.

pub mod ledger;

use crate::db::ConnectionTarget;
use serde::Deserialize;
use std::collections::HashSet;

/// One database of the fleet.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its name in reports and in the ledger.
    pub name: String,
    /// The connection string (URL or, from TOML or SQL, libpq key=value).
    pub url: String,
}

/// Targets run together; a group starts only when the one before it succeeded.
#[derive(Debug, Clone)]
pub struct Group {
    /// The group's name (`all` when the source has no groups).
    pub name: String,
    /// Its targets, in the source's order.
    pub targets: Vec<Target>,
}

/// A targets source that cannot be used, naming the line or entry and the fix.
#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    /// A line of the line format that is neither a comment, `name = url`, nor a URL.
    #[error("{source_name} line {line}: {problem}")]
    Line {
        /// The targets file.
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong and the fix.
        problem: String,
    },
    /// Anything else: a TOML error, a duplicate, an unknown name in a group.
    #[error("{source_name}: {problem}")]
    Source {
        /// The targets file, or `--targets-sql`.
        source_name: String,
        /// What is wrong and the fix.
        problem: String,
    },
}

/// A name fit for reports and the ledger: printable, not empty, at most 200 characters.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(format!(
            "target name `{}` must be 1 to 200 printable characters",
            crate::escape::inline(name)
        ));
    }
    Ok(())
}

/// A `postgres://` or `postgresql://` URL (not a libpq key=value string).
pub fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// The name of a bare URL: its host and database.
fn url_name(url: &str) -> Result<String, String> {
    let t = ConnectionTarget::from_url(url).map_err(|e| e.to_string())?;
    let label = t.server_label();
    let host = label.rsplit_once(':').map_or(label.as_str(), |(h, _)| h);
    Ok(format!("{host}/{}", t.dbname()))
}

/// Parses the line format: `name = url` or a bare `postgres://` URL per line, `#` comments and
/// blank lines ignored. One group, `all`.
pub fn parse_lines(source_name: &str, text: &str) -> Result<Vec<Group>, TargetsError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut targets = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let problem = |problem: String| TargetsError::Line {
            source_name: source_name.into(),
            line: i + 1,
            problem,
        };
        let (name, url) = if is_url(line) {
            (url_name(line).map_err(problem)?, line.to_string())
        } else if let Some((name, url)) = line.split_once('=') {
            let (name, url) = (name.trim(), url.trim());
            if !is_url(url) {
                return Err(problem(
                    "expected `name = postgres://...` (libpq key=value strings only in the TOML form)".into(),
                ));
            }
            (name.to_string(), url.to_string())
        } else {
            return Err(problem(
                "expected `name = postgres://...`, a postgres:// URL, or a # comment".into(),
            ));
        };
        check_name(&name).map_err(problem)?;
        ConnectionTarget::from_url(&url).map_err(|e| problem(e.to_string()))?;
        targets.push(Target { name, url });
    }
    finish(
        source_name,
        vec![Group {
            name: "all".into(),
            targets,
        }],
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlTargets {
    #[serde(default, rename = "target")]
    targets: Vec<TomlTarget>,
    #[serde(default, rename = "group")]
    groups: Vec<TomlGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlTarget {
    name: String,
    url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlGroup {
    name: String,
    targets: Vec<String>,
}

/// Parses the TOML form: `[[target]] name, url` and `[[group]] name, targets` (groups run in
/// the order written; targets in no group run last, as the group `ungrouped`).
pub fn parse_toml(source_name: &str, text: &str) -> Result<Vec<Group>, TargetsError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let problem = |problem: String| TargetsError::Source {
        source_name: source_name.into(),
        problem,
    };
    // The message and line only: TOML's own rendering quotes the source line, which may hold
    // a password.
    let parsed: TomlTargets = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(0, |s| {
            text[..s.start.min(text.len())].matches('\n').count() + 1
        });
        problem(format!("line {line}: {}", e.message().trim()))
    })?;
    for t in &parsed.targets {
        check_name(&t.name).map_err(problem)?;
        ConnectionTarget::from_url(&t.url)
            .map_err(|e| problem(format!("target `{}`: {e}", crate::escape::inline(&t.name))))?;
    }
    let by_name = |n: &str| parsed.targets.iter().find(|t| t.name == n);
    let mut placed = HashSet::new();
    let mut groups = Vec::new();
    for g in &parsed.groups {
        let mut targets = Vec::new();
        for n in &g.targets {
            let t = by_name(n).ok_or_else(|| {
                problem(format!(
                    "group `{}` names `{}`, which is no [[target]]",
                    crate::escape::inline(&g.name),
                    crate::escape::inline(n)
                ))
            })?;
            if !placed.insert(n.as_str()) {
                return Err(problem(format!(
                    "target `{}` is in two groups (or twice in one); a target runs once",
                    crate::escape::inline(n)
                )));
            }
            targets.push(Target {
                name: t.name.clone(),
                url: t.url.clone(),
            });
        }
        groups.push(Group {
            name: g.name.clone(),
            targets,
        });
    }
    let rest: Vec<Target> = parsed
        .targets
        .iter()
        .filter(|t| !placed.contains(t.name.as_str()))
        .map(|t| Target {
            name: t.name.clone(),
            url: t.url.clone(),
        })
        .collect();
    if !rest.is_empty() {
        let name = if groups.is_empty() {
            "all"
        } else {
            "ungrouped"
        };
        groups.push(Group {
            name: name.into(),
            targets: rest,
        });
    }
    finish(source_name, groups)
}

/// Groups from the rows of `--targets-sql`: `(name, url)` or `(name, url, group)`; groups in
/// the order they first appear.
pub fn from_rows(rows: Vec<(String, String, Option<String>)>) -> Result<Vec<Group>, TargetsError> {
    let source_name = "--targets-sql";
    let mut groups: Vec<Group> = Vec::new();
    for (name, url, group) in rows {
        let problem = |problem: String| TargetsError::Source {
            source_name: source_name.into(),
            problem,
        };
        check_name(&name).map_err(problem)?;
        ConnectionTarget::from_url(&url)
            .map_err(|e| problem(format!("target `{}`: {e}", crate::escape::inline(&name))))?;
        let group = group.unwrap_or_else(|| "all".into());
        let target = Target { name, url };
        match groups.iter_mut().find(|g| g.name == group) {
            Some(g) => g.targets.push(target),
            None => groups.push(Group {
                name: group,
                targets: vec![target],
            }),
        }
    }
    finish(source_name, groups)
}

/// Refuses an empty fleet and duplicate names.
fn finish(source_name: &str, groups: Vec<Group>) -> Result<Vec<Group>, TargetsError> {
    let problem = |problem: String| TargetsError::Source {
        source_name: source_name.into(),
        problem,
    };
    let mut seen = HashSet::new();
    for t in groups.iter().flat_map(|g| &g.targets) {
        if !seen.insert(t.name.as_str()) {
            return Err(problem(format!(
                "two targets are named `{}`; give each its own name (`name = url`)",
                crate::escape::inline(&t.name)
            )));
        }
    }
    if seen.is_empty() {
        return Err(problem("no targets".into()));
    }
    Ok(groups
        .into_iter()
        .filter(|g| !g.targets.is_empty())
        .collect())
}

#[cfg(test)]
mod tests;
