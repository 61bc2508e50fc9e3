//! Cleanup at this process's exit. A throwaway server held in a static (the test harness's) is
//! never dropped, and the watchdog that would remove it once this process is gone can be ended
//! with it: a CI job's end, or a sandbox's, kills every process the job started, and it left
//! half-removed data directories of gigabytes. So what a process still holds at `exit` is
//! stopped and removed by that process; the watchdog stays for a process that is killed.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

type Action = Box<dyn FnOnce() + Send>;

static ACTIONS: Mutex<Vec<(u64, Action)>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(0);
static REGISTER: Once = Once::new();
/// The process that registered: a child forked without exec inherits the handler and must not
/// stop its parent's servers.
static OWNER: AtomicU32 = AtomicU32::new(0);

/// Runs its action when the process exits (`exit` or a return from `main`), unless dropped
/// first.
pub struct ExitGuard(u64);

/// Registers `action` to run at exit; dropping the guard unregisters it.
pub fn on_exit(action: impl FnOnce() + Send + 'static) -> ExitGuard {
    REGISTER.call_once(|| {
        OWNER.store(std::process::id(), Ordering::Relaxed);
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
        // Taken out under the lock, dropped after it: an action may own another guard.
        let removed: Vec<(u64, Action)> = {
            let mut actions = ACTIONS.lock().unwrap_or_else(|p| p.into_inner());
            let (gone, kept) = std::mem::take(&mut *actions)
                .into_iter()
                .partition(|(id, _)| *id == self.0);
            *actions = kept;
            gone
        };
        drop(removed);
    }
}

extern "C" fn run_all() {
    if OWNER.load(Ordering::Relaxed) != std::process::id() {
        return;
    }
    // A thread may hold the lock for a moment (it is only held to push or take out entries);
    // never wait for ever at exit.
    let deadline = Instant::now() + Duration::from_secs(5);
    let actions = loop {
        match ACTIONS.try_lock() {
            Ok(mut a) => break std::mem::take(&mut *a),
            Err(std::sync::TryLockError::Poisoned(p)) => {
                break std::mem::take(&mut *p.into_inner());
            }
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

/// Ends process `pid` with `signal` and waits (at most 10 s) until it is gone; whether it is.
pub fn end_process(pid: i32, signal: i32) -> bool {
    // SAFETY: sending a signal has no memory-safety preconditions.
    if pid <= 0 || unsafe { libc::kill(pid, signal) } != 0 {
        return gone(pid);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    gone(pid)
}

/// The action for a server in `dir` (data in `data`): an immediate shutdown (SIGQUIT to the
/// postmaster, as the watchdog does), then its files removed. The pid in `postmaster.pid` is
/// signalled only if that process works in `data` (a stale file of a crashed server may name
/// another process by now); the files stay while the postmaster does.
pub(super) fn stop_and_remove(data: PathBuf, dir: PathBuf) -> impl FnOnce() + Send + 'static {
    move || {
        let pid: Option<i32> = std::fs::read_to_string(data.join("postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()));
        let ours = |pid: i32| {
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
            cwd.is_some() && cwd == std::fs::canonicalize(&data).ok()
        };
        if let Some(pid) = pid.filter(|p| ours(*p))
            && !end_process(pid, libc::SIGQUIT)
        {
            return;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A detached shell that stops the server and deletes its files once this process is gone,
/// so a killed test run or demo leaves nothing behind.
pub(super) fn spawn_watchdog(data: &std::path::Path, dir: &std::path::Path) {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         p=$(head -1 '{data}/postmaster.pid' 2>/dev/null); \
         if [ -n \"$p\" ] && [ \"$(readlink /proc/$p/cwd)\" = \"$(readlink -f '{data}')\" ]; then kill -QUIT $p; sleep 1; fi; \
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
