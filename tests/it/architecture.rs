//! The code's shape, checked mechanically: every source file stays under 400 lines (its unit
//! tests aside), and dependencies point one way: `cli` -> `commands` -> `report` -> the domain
//! and IO modules, never back, and no two modules depend on each other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 400;

fn sources() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The top-level module a source file belongs to (`src/diff/ddl.rs` -> `diff`).
fn module_of(path: &Path) -> String {
    let rel = path
        .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
        .unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

#[test]
fn every_source_file_stays_under_400_lines_besides_its_tests() {
    let long: Vec<String> = sources()
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "tests.rs"))
        .filter_map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            let code = text
                .lines()
                .take_while(|l| !l.starts_with("#[cfg(test)]"))
                .count();
            (code > MAX_LINES).then(|| format!("{} ({code} lines)", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these files: {long:?}");
}

#[test]
fn dependencies_point_one_way() {
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in sources() {
        let module = module_of(&path);
        if module == "main" || module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let uses = deps.entry(module.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let name: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() && name != module {
                uses.insert(name);
            }
        }
    }
    // The layers above the domain, top first; a module may use only what is below it.
    let upper = ["cli", "commands", "settings", "report"];
    let mut wrong = Vec::new();
    for (module, uses) in &deps {
        let level = upper.iter().position(|u| u == module);
        for used in uses {
            let used_level = upper.iter().position(|u| u == used);
            let allowed = match (level, used_level) {
                (_, None) => true,
                (Some(a), Some(b)) => b > a,
                (None, Some(_)) => false,
            };
            if !allowed {
                wrong.push(format!("{module} uses {used}"));
            }
        }
    }
    assert!(wrong.is_empty(), "dependencies pointing up: {wrong:?}");
    // No cycles among the domain modules either.
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_string()];
        while let Some(m) = stack.pop() {
            for n in deps.get(&m).into_iter().flatten() {
                if n == to {
                    return true;
                }
                if seen.insert(n.clone()) {
                    stack.push(n.clone());
                }
            }
        }
        false
    };
    let cycles: Vec<String> = deps
        .iter()
        .flat_map(|(m, uses)| uses.iter().map(move |u| (m, u)))
        .filter(|(m, u)| reaches(u, m))
        .map(|(m, u)| format!("{m} <-> {u}"))
        .collect();
    assert!(cycles.is_empty(), "import cycles: {cycles:?}");
}
