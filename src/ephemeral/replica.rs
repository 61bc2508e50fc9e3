//! A streaming replica of a throwaway server, made as a DBA makes one: `pg_basebackup -R`
//! (which writes `standby.signal` and `primary_conninfo`), then started on a port of its own.
//! Tests use it to see per-server statistics and replication lag on a real standby.

use super::{EphemeralError, EphemeralServer, free_port, step_err};
use std::process::Stdio;

impl EphemeralServer {
    /// Starts a hot standby of this server, streaming from it. Dropping it stops the standby
    /// and deletes its files; the primary must outlive it.
    pub fn start_replica(&self) -> Result<EphemeralServer, EphemeralError> {
        let dir = tempfile::Builder::new()
            .prefix("pgwarden-replica-")
            .tempdir()
            .map_err(|e| step_err("creating a temp dir", e))?;
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(|e| step_err("handing the temp dir to the postgres user", e))?;
        }
        let mut replica = EphemeralServer {
            dir,
            bindir: self.bindir.clone(),
            port: 0,
            password: self.password.clone(),
            run_as: self.run_as,
            preloaded: self.preloaded.clone(),
            exit: None,
        };
        replica.run(
            "copying the primary (pg_basebackup -R)",
            replica
                .command("pg_basebackup")
                .arg("-D")
                .arg(replica.data_dir())
                .args(["-R", "-X", "stream", "-c", "fast", "-h", "127.0.0.1"])
                .args(["-p", &self.port.to_string(), "-U", "postgres", "-w"])
                .env("PGPASSWORD", &self.password)
                .stdout(Stdio::null()),
        )?;
        let mut last = None;
        for _ in 0..5 {
            replica.port = free_port()?;
            // The copied port.conf names the primary's port and socket directory.
            let conf = format!(
                "port = {}\nunix_socket_directories = '{}'\n",
                replica.port,
                replica.dir.path().display()
            );
            replica.write_owned(&replica.data_dir().join("port.conf"), &conf, 0o600)?;
            match replica.pg_ctl_start() {
                Ok(()) => {
                    replica.guard();
                    return Ok(replica);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| step_err("starting the replica", "no attempt made")))
    }
}
