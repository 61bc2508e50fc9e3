//! Versioned migrations, compatible with refinery: discovery, status (pure), planning (pure)
//! and the runner.

pub mod discovery;
pub mod history;
pub mod plan;
pub mod runner;
pub mod status;

pub use discovery::{Discovered, MigrationFile, discover};
pub use status::{MigrationState, MigrationStatus};
