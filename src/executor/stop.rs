//! A stop asked for by SIGINT or SIGTERM (fleet runs install the handlers): no new statement
//! starts, the running one (a concurrent build) finishes, and the run reports where it stopped,
//! so rerunning the same command completes it. A second signal exits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

static STOP: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// Whether a stop was asked for.
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Asks for a stop (what the signal handlers do).
pub fn request() {
    STOP.store(true, Ordering::SeqCst);
}

/// Installs the handlers: the first SIGINT or SIGTERM asks for a stop, a second one exits with
/// status 130.
pub fn install() -> std::io::Result<()> {
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, so it sees the flag as it was before this signal set it.
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&STOP))?;
        signal_hook::flag::register(signal, Arc::clone(&STOP))?;
    }
    Ok(())
}
