//! Cleanup at this process's exit. A throwaway server held in a static (the test harness's) is
//! never dropped, and the watchdog that would remove it once this process is gone can be ended
//! with it: a CI job's end, or a sandbox's, kills every process the job started, and it left
//! half-removed data directories of gigabytes. So what a process still holds at `exit` is
//! stopped and removed by that process; the watchdog stays for a process that is killed.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

type Action = Box<dyn FnOnce() + Send>;

static ACTIONS: Mutex<Vec<(u64, Action)>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(0);
static REGISTER: Once = Once::new();

/// Runs its action when the process exits (`exit` or a return from `main`), unless dropped
/// first.
pub struct ExitGuard(u64);

/// Registers `action` to run at exit; dropping the guard unregisters it.
pub fn on_exit(action: impl FnOnce() + Send + 'static) -> ExitGuard {
    REGISTER.call_once(|| {
        // SAFETY: `run_all` is a plain `extern "C" fn` that never unwinds across the boundary.
        unsafe {
            libc::atexit(run_all);
        }
    });
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut actions) = ACTIONS.lock() {
        actions.push((id, Box::new(action)));
    }
    ExitGuard(id)
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        if let Ok(mut actions) = ACTIONS.lock() {
            actions.retain(|(id, _)| *id != self.0);
        }
    }
}

extern "C" fn run_all() {
    // A thread may hold the lock for a moment; never wait for ever at exit.
    let deadline = Instant::now() + Duration::from_secs(2);
    let actions = loop {
        match ACTIONS.try_lock() {
            Ok(mut a) => break std::mem::take(&mut *a),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => return,
        }
    };
    for (_, action) in actions {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(action));
    }
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet).
fn gone(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return true;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Ends process `pid` with `signal` and waits (at most 10 s) until it is gone.
pub fn end_process(pid: i32, signal: i32) {
    // SAFETY: sending a signal has no memory-safety preconditions.
    if pid <= 0 || unsafe { libc::kill(pid, signal) } != 0 {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The action for a server in `dir` (data in `data`): an immediate shutdown (SIGQUIT to the
/// postmaster, as the watchdog does), then its files removed.
pub(super) fn stop_and_remove(data: PathBuf, dir: PathBuf) -> impl FnOnce() + Send + 'static {
    move || {
        let pid = std::fs::read_to_string(data.join("postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()));
        if let Some(pid) = pid {
            end_process(pid, libc::SIGQUIT);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A detached shell that stops the server and deletes its files once this process is gone,
/// so a killed test run or demo leaves nothing behind.
pub(super) fn spawn_watchdog(data: &std::path::Path, dir: &std::path::Path) {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         if [ -f '{data}/postmaster.pid' ]; then kill -QUIT $(head -1 '{data}/postmaster.pid') 2>/dev/null; sleep 1; fi; \
         rm -rf '{dir}'",
        pid = std::process::id(),
        data = data.display(),
        dir = dir.display(),
    );
    let spawned = std::os::unix::process::CommandExt::process_group(
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        0,
    )
    .spawn();
    if let Err(e) = spawned {
        tracing::warn!("could not start the throwaway server's watchdog: {e}");
    }
}
