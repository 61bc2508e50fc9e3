//! Fleet runs: one command on every target of a targets file or query, `--parallel` at a time
//! and at most `--per-host` on one server, groups in order (the next starts only when the one
//! before succeeded), `--on-error stop|continue`, a ledger rewritten as each target starts and
//! ends, and SIGINT/SIGTERM handled so that nothing new starts and the ledger stays true. Each
//! target runs exactly as a single run would, with its own history table and advisory lock.

use crate::fleet::Group;
use crate::fleet::ledger::{Entry, Ledger, Outcome, default_path, url_digest};
use crate::migrations::history;
use crate::report::Report;
use crate::report::model::{FleetReport, TargetRun};
use crate::settings::Settings;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

mod progress;
mod target;

use target::{host_key, redacted, run_target};

/// What to do after a target fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnError {
    /// Start no new target; running ones finish.
    Stop,
    /// Go on with the other targets of the group (a later group still waits for a clean one).
    Continue,
}

/// How a fleet run goes.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// The command, as the ledger and reports name it (`migrate apply`).
    pub command: String,
    /// Where the targets came from, for the report and the default ledger's name.
    pub source: String,
    /// Targets run at once.
    pub parallel: usize,
    /// Targets run at once on one server (host and port after resolution).
    pub per_host: usize,
    /// After a failure.
    pub on_error: OnError,
    /// The ledger file; `None`: the default under the state directory.
    pub ledger: Option<PathBuf>,
    /// Run only the targets the ledger does not record as finished.
    pub resume: bool,
    /// Read each target's highest applied version before and after (migrate commands).
    pub versions: bool,
}

/// Runs one target: the command's own function, with the target's settings.
pub type RunOne<'a> = dyn Fn(&Settings) -> anyhow::Result<Report> + Sync + 'a;

/// The migration files as the ledger records them.
fn migration_list(settings: &Settings) -> Vec<String> {
    crate::migrations::discover(&settings.migrations_dir)
        .map(|d| {
            d.files
                .iter()
                .map(|f| format!("V{}__{} {}", f.version, f.name, f.checksum))
                .collect()
        })
        .unwrap_or_default()
}

/// Shared state of a run.
struct State {
    ledger: Ledger,
    ledger_path: Option<PathBuf>,
    queue: VecDeque<usize>,
    per_host: HashMap<String, usize>,
    reports: HashMap<String, Report>,
    failed: bool,
    /// When the ledger was last written, and whether it has changed since.
    saved_at: Instant,
    dirty: bool,
}

/// The ledger is rewritten at most this often (a failure at once, and at the end): a fleet of
/// thousands would otherwise spend its time rewriting it. A target recorded as not started or
/// running that did finish is only run again by `--resume`, which finds nothing left to do.
const SAVE_EVERY: Duration = Duration::from_millis(250);

/// Runs `run_one` on every target of `groups`.
pub fn run(
    settings: &Settings,
    groups: Vec<Group>,
    opts: &FleetOptions,
    run_one: &RunOne<'_>,
) -> anyhow::Result<FleetReport> {
    crate::executor::stop::install()?;
    let migrations = migration_list(settings);
    let ledger_path = opts
        .ledger
        .clone()
        .or_else(|| default_path(&opts.source, &opts.command));
    // Held until this run ends: a second run on the same ledger would overwrite its record.
    let _held = ledger_path
        .as_deref()
        .map(crate::fleet::ledger::lock)
        .transpose()?;
    let earlier = match (&ledger_path, opts.resume) {
        (Some(path), true) => {
            let l = Ledger::load(path)?;
            l.check_resume(path, (&opts.command, &opts.source), &migrations)?;
            Some(l)
        }
        (None, true) => anyhow::bail!(
            "--resume needs a ledger: pass --ledger FILE (no HOME or XDG_STATE_HOME to find the default)"
        ),
        _ => None,
    };
    let mut ledger = Ledger {
        schema_version: crate::fleet::ledger::LEDGER_VERSION,
        command: opts.command.clone(),
        source: opts.source.clone(),
        migrations,
        targets: Default::default(),
    };
    for g in &groups {
        for t in &g.targets {
            let digest = url_digest(&t.url);
            let done = earlier
                .as_ref()
                .and_then(|l| l.targets.get(&t.name))
                .filter(|e| e.outcome.finished() && e.url_digest == digest);
            let entry = match done {
                Some(e) => Entry {
                    outcome: Outcome::DoneEarlier,
                    ..e.clone()
                },
                None => Entry {
                    group: g.name.clone(),
                    database: redacted(&t.url),
                    url_digest: digest,
                    outcome: Outcome::NotStarted,
                    version_before: None,
                    version_after: None,
                    error: None,
                    duration_ms: 0,
                    started_at: None,
                    finished_at: None,
                },
            };
            ledger.targets.insert(t.name.clone(), entry);
        }
    }
    let state = Mutex::new(State {
        ledger,
        ledger_path: ledger_path.clone(),
        queue: VecDeque::new(),
        per_host: HashMap::new(),
        reports: HashMap::new(),
        failed: false,
        saved_at: Instant::now(),
        dirty: false,
    });
    save(
        &*state
            .lock()
            .map_err(|_| anyhow::anyhow!("ledger lock poisoned"))?,
    )?;
    let total: usize = groups.iter().map(|g| g.targets.len()).sum();
    let bar = progress::Progress::new(settings.progress_bar, total);
    let mut stopped = None;
    for g in &groups {
        if let Some(why) = stop_reason(&state, opts) {
            stopped = Some(why);
            break;
        }
        run_group(settings, g, opts, run_one, &state, &bar);
        let failed = state.lock().map(|s| s.failed).unwrap_or(true);
        if failed && groups.len() > 1 && stopped.is_none() {
            stopped = Some(format!(
                "group {} had a failure: later groups were not started",
                g.name
            ));
            break;
        }
    }
    bar.finish();
    let stopped = stopped.or_else(|| stop_reason(&state, opts));
    let state = state
        .into_inner()
        .map_err(|_| anyhow::anyhow!("ledger lock poisoned"))?;
    if state.dirty {
        save(&state)?;
    }
    Ok(report(groups, opts, state, stopped))
}

fn stop_reason(state: &Mutex<State>, opts: &FleetOptions) -> Option<String> {
    if crate::executor::stop::requested() {
        return Some("interrupted (SIGINT or SIGTERM): no new target was started".into());
    }
    let failed = state.lock().map(|s| s.failed).unwrap_or(true);
    (failed && opts.on_error == OnError::Stop)
        .then(|| "a target failed (--on-error stop): no new target was started".into())
}

fn save(state: &State) -> anyhow::Result<()> {
    if let Some(path) = &state.ledger_path {
        state.ledger.save(path)?;
    }
    Ok(())
}

/// Writes the ledger when it is due (or `now`), else remembers that it changed.
fn save_due(state: &mut State, now: bool) {
    if !now && state.saved_at.elapsed() < SAVE_EVERY {
        state.dirty = true;
        return;
    }
    match save(state) {
        Ok(()) => {
            state.saved_at = Instant::now();
            state.dirty = false;
        }
        Err(e) => tracing::error!("{e:#}"),
    }
}

/// Runs one group's unfinished targets with `opts.parallel` workers.
fn run_group(
    settings: &Settings,
    group: &Group,
    opts: &FleetOptions,
    run_one: &RunOne<'_>,
    state: &Mutex<State>,
    bar: &progress::Progress,
) {
    let hosts: Vec<String> = group.targets.iter().map(|t| host_key(&t.url)).collect();
    if let Ok(mut s) = state.lock() {
        s.queue = (0..group.targets.len())
            .filter(|i| s.ledger.targets[&group.targets[*i].name].outcome != Outcome::DoneEarlier)
            .collect();
        for t in &group.targets {
            if s.ledger.targets[&t.name].outcome == Outcome::DoneEarlier {
                bar.done(&t.name, Outcome::DoneEarlier);
            }
        }
    }
    let wake = Condvar::new();
    std::thread::scope(|scope| {
        let mut workers = Vec::new();
        for _ in 0..opts.parallel.max(1) {
            workers.push(scope.spawn(|| {
                while let Some(i) = next(state, &wake, &hosts, opts) {
                    let target = &group.targets[i];
                    if let Ok(mut s) = state.lock() {
                        if let Some(e) = s.ledger.targets.get_mut(&target.name) {
                            e.outcome = Outcome::Running;
                            e.started_at = Some(history::now_rfc3339());
                        }
                        save_due(&mut s, false);
                    }
                    bar.started(&target.name);
                    let (entry, report) = run_target(settings, target, opts, run_one);
                    let outcome = entry.outcome;
                    if let Ok(mut s) = state.lock() {
                        if let Some(n) = s.per_host.get_mut(&hosts[i]) {
                            *n = n.saturating_sub(1);
                        }
                        if let Some(r) = report {
                            s.reports.insert(target.name.clone(), r);
                        }
                        s.failed |= !outcome.finished();
                        let group = s.ledger.targets[&target.name].group.clone();
                        s.ledger
                            .targets
                            .insert(target.name.clone(), Entry { group, ..entry });
                        save_due(&mut s, !outcome.finished());
                    }
                    bar.done(&target.name, outcome);
                    wake.notify_all();
                }
            }));
        }
        // What the workers left unwritten reaches the ledger within SAVE_EVERY.
        while !workers.iter().all(|w| w.is_finished()) {
            std::thread::sleep(Duration::from_millis(50));
            if let Ok(mut s) = state.lock()
                && s.dirty
            {
                save_due(&mut s, false);
            }
        }
    });
}

/// The next target a worker may start, waiting while every queued one's server is full;
/// `None` when there is none left or nothing new may start.
fn next(
    state: &Mutex<State>,
    wake: &Condvar,
    hosts: &[String],
    opts: &FleetOptions,
) -> Option<usize> {
    let mut s = state.lock().ok()?;
    loop {
        if crate::executor::stop::requested()
            || (s.failed && opts.on_error == OnError::Stop)
            || s.queue.is_empty()
        {
            return None;
        }
        let per_host = opts.per_host.max(1);
        if let Some(pos) = s
            .queue
            .iter()
            .position(|i| s.per_host.get(&hosts[*i]).copied().unwrap_or(0) < per_host)
        {
            let i = s.queue.remove(pos)?;
            *s.per_host.entry(hosts[i].clone()).or_default() += 1;
            return Some(i);
        }
        // Woken when a target ends; the timeout re-checks a stop asked for by a signal.
        s = wake.wait_timeout(s, Duration::from_millis(200)).ok()?.0;
    }
}

fn report(
    groups: Vec<Group>,
    opts: &FleetOptions,
    mut state: State,
    stopped: Option<String>,
) -> FleetReport {
    let targets = groups
        .iter()
        .flat_map(|g| &g.targets)
        .filter_map(|t| {
            let e = state.ledger.targets.get(&t.name)?.clone();
            Some(TargetRun {
                name: t.name.clone(),
                group: e.group.clone(),
                database: e.database.clone(),
                outcome: e.outcome,
                version_before: e.version_before,
                version_after: e.version_after,
                duration_ms: e.duration_ms,
                error: e.error.clone(),
                report: state.reports.remove(&t.name).map(Box::new),
            })
        })
        .collect();
    FleetReport {
        target_command: opts.command.clone(),
        source: opts.source.clone(),
        ledger: state.ledger_path,
        targets,
        stopped,
    }
}
