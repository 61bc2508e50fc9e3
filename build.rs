//! Build script: records the git commit the binary is built from, for `pgwarden --version`:
//! from git in a checkout, else from the `.cargo_vcs_info.json` that `cargo package` writes
//! into a published crate, else "unknown".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `"sha1": "<40 hex>"` in `.cargo_vcs_info.json`, cut to 12 characters like git's.
fn packaged_commit() -> Option<String> {
    let text = std::fs::read_to_string(".cargo_vcs_info.json").ok()?;
    let rest = &text[text.find("\"sha1\"")? + 6..];
    let start = rest.find('"')? + 1;
    let sha: String = rest[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .take(12)
        .collect();
    (sha.len() == 12).then_some(sha)
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"])
        .or_else(packaged_commit)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=PGWARDEN_GIT_COMMIT={commit}");
    // A commit or checkout appends to the HEAD log: rebuild the version string then.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/logs/HEAD");
        println!("cargo:rerun-if-changed={dir}/HEAD");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
