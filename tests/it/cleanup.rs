//! Nothing is left behind: a throwaway server this process still holds when it exits (a
//! static, as the harness's shared server) is stopped and its files removed by the process
//! itself, before its exit completes, not later by the watchdog, which a CI job's end can kill
//! along with the process (it left half-removed data directories of gigabytes here).

use pgwarden::ephemeral::EphemeralServer;
use std::time::Duration;

const CHILD: &str = "PGWARDEN_TEST_CLEANUP_CHILD";

/// Run again as a child process (this test alone), which starts a server, never drops it, and
/// exits; the parent looks right after the child's exit.
#[test]
fn a_server_never_dropped_is_stopped_and_removed_at_exit() {
    if std::env::var_os(CHILD).is_some() {
        let server = EphemeralServer::start().expect("start");
        println!("dir={} port={}", server.path().display(), server.port());
        std::mem::forget(server);
        std::process::exit(0);
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "cleanup::a_server_never_dropped_is_stopped_and_removed_at_exit",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("dir="))
        .unwrap_or_else(|| panic!("the child printed no directory: {text}"));
    let (dir, port) = line.split_once(" port=").unwrap();
    // The watchdog would take over a second to notice: everything must be gone already.
    assert!(
        !std::path::Path::new(dir).exists(),
        "{dir} is still there after the process exited"
    );
    let port: u16 = port.trim().parse().unwrap();
    let refused = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    )
    .is_err();
    assert!(
        refused,
        "the server on port {port} still accepts connections"
    );
}
