//! The live view of a fleet run on a terminal: targets done, running and failed, and the
//! slowest running one with its time so far. Nothing without a terminal (the log says it).

use crate::fleet::ledger::Outcome;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The progress line, when there is a terminal.
pub(super) struct Progress {
    bar: Option<ProgressBar>,
    running: Mutex<HashMap<String, Instant>>,
    failed: Mutex<usize>,
}

impl Progress {
    pub(super) fn new(on: bool, total: usize) -> Self {
        let bar = on.then(|| {
            let bar = ProgressBar::new(total as u64);
            if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} done {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(500));
            bar
        });
        Progress {
            bar,
            running: Mutex::new(HashMap::new()),
            failed: Mutex::new(0),
        }
    }

    pub(super) fn started(&self, name: &str) {
        tracing::info!(target_name = %name, "target started");
        if let Ok(mut r) = self.running.lock() {
            r.insert(name.to_string(), Instant::now());
        }
        self.refresh();
    }

    pub(super) fn done(&self, name: &str, outcome: Outcome) {
        tracing::info!(target_name = %name, ?outcome, "target done");
        if let Ok(mut r) = self.running.lock() {
            r.remove(name);
        }
        if !outcome.finished()
            && let Ok(mut f) = self.failed.lock()
        {
            *f += 1;
        }
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        self.refresh();
    }

    fn refresh(&self) {
        let (Some(bar), Ok(running), Ok(failed)) =
            (&self.bar, self.running.lock(), self.failed.lock())
        else {
            return;
        };
        let slowest = running
            .iter()
            .max_by_key(|(_, since)| since.elapsed())
            .map(|(name, since)| {
                format!(
                    ", slowest {} ({:.0} s)",
                    crate::escape::inline(name),
                    since.elapsed().as_secs_f64()
                )
            })
            .unwrap_or_default();
        bar.set_message(format!(
            "{} running, {failed} failed{slowest}",
            running.len()
        ));
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
