//! The report of `doctor`.

use crate::doctor::{Diagnosis, Server, Status};
use serde::Serialize;

/// What this database and this machine support.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// The target's connection string, password redacted.
    pub database: String,
    /// The server's version and the connected role (and whether it is a superuser).
    pub server: Server,
    /// One diagnosis per feature, each with its status and the fix for a gap.
    pub checks: Vec<Diagnosis>,
}

impl DoctorReport {
    /// 0 when every command can run fully, 1 when one is limited (notes do not count).
    pub fn exit_code(&self) -> u8 {
        u8::from(self.checks.iter().any(|c| c.status == Status::Limited))
    }
}
