//! Versioned migrations, compatible with refinery: discovery, status (pure), planning (pure)
//! and the runner.

pub mod discovery;
pub mod error;
pub mod history;
pub mod plan;
pub mod runner;
pub mod status;

pub use discovery::{Discovered, MigrationFile, discover};
pub use error::{ApplyError, MigrationError};
pub use status::{MigrationState, MigrationStatus};

/// The extensions the migrations create (`CREATE EXTENSION [IF NOT EXISTS] name`), each with the
/// file that creates it. Files that do not split are skipped (the runner reports them).
pub fn created_extensions(found: &Discovered) -> Vec<(String, String)> {
    created(found, crate::sql::created_extension)
}

/// The schemas the migrations create, each with the file that creates it.
pub fn created_schemas(found: &Discovered) -> Vec<(String, String)> {
    created(found, crate::sql::created_schema)
}

fn created(found: &Discovered, name_of: fn(&str) -> Option<String>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for file in &found.files {
        let Ok(split) = crate::sql::split(&file.sql) else {
            continue;
        };
        for s in &split.statements {
            if let Some(name) = name_of(&s.text) {
                out.push((file.file_name(), name));
            }
        }
    }
    out
}
