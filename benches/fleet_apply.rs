//! Benchmark: `migrate apply` of the shipped (seed) migrations on a fleet of databases, against
//! the same number of sequential single runs, in the same run on one throwaway server.
//!
//! Three fresh sets of databases: sequential single runs (one `pgwarden migrate apply` process
//! per database), one fleet run with `--parallel 1` (the fleet's overhead per target, target
//! within 10% of the single runs), and one with `--parallel 4 --per-host 4` (the speedup,
//! target at least 2.5x on a 2-core machine). Run with `cargo bench --bench fleet_apply`
//! (`PGWARDEN_BENCH_DATABASES`, default 100; `PGWARDEN_BENCH_PARALLEL`, default 4).
//!
//! Each phase starts after a `CHECKPOINT` (the databases' creation writes must not fall into
//! the first phase) and reports its CPU beside its wall time: pgwarden's (the children of this
//! process) and the server's (its backends that exited during the phase, autovacuum workers
//! included). On a machine of `c` cores a run cannot take less than its CPU divided by `c`,
//! so the printed bound tells a target out of the machine's reach from a slow fleet.

use pgwarden::ephemeral::EphemeralServer;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run pgwarden");
    assert!(
        out.status.success(),
        "pgwarden failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// CPU seconds (user + system) of this process's waited-for children.
fn children_cpu() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct it is given and reads nothing else.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut u);
        u
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// CPU seconds of the server's exited children (backends, autovacuum workers): the
/// postmaster's `cutime + cstime`, read from /proc through a backend's parent pid.
fn server_cpu(admin: &mut postgres::Client) -> f64 {
    let pid: i32 = admin
        .query_one("SELECT pg_backend_pid()", &[])
        .expect("pid")
        .get(0);
    let stat = |pid: String| std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after_name = |s: &str| s[s.rfind(')').expect("stat") + 2..].to_string();
    let backend = after_name(&stat(pid.to_string()));
    let postmaster = backend.split(' ').nth(1).expect("ppid").to_string();
    let fields: Vec<f64> = after_name(&stat(postmaster))
        .split(' ')
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    // Fields 16 and 17 of stat (cutime, cstime), counted here from field 3.
    (fields[13] + fields[14]) / ticks
}

/// Wall time, pgwarden's CPU and the server's CPU of one phase.
struct Phase {
    wall: f64,
    client: f64,
    server: f64,
}

fn measure(admin: &mut postgres::Client, phase: impl FnOnce()) -> Phase {
    admin.batch_execute("CHECKPOINT").expect("checkpoint");
    std::thread::sleep(Duration::from_millis(500));
    let (c0, s0) = (children_cpu(), server_cpu(admin));
    let started = Instant::now();
    phase();
    let wall = started.elapsed().as_secs_f64();
    // The postmaster reaps the last backends just after their clients left.
    std::thread::sleep(Duration::from_millis(300));
    Phase {
        wall,
        client: children_cpu() - c0,
        server: server_cpu(admin) - s0,
    }
}

fn report(name: &str, p: &Phase, n: usize) {
    let per = |x: f64| x * 1000.0 / n as f64;
    println!(
        "{name:<24} {:>6.2} s wall ({:>5.1} ms per database); CPU per database: pgwarden {:>5.1} ms, server {:>5.1} ms",
        p.wall,
        per(p.wall),
        per(p.client),
        per(p.server)
    );
}

/// `n` fresh databases named `{prefix}_{i}`, and a targets file listing them.
fn databases(
    server: &EphemeralServer,
    prefix: &str,
    n: usize,
    dir: &Path,
) -> (Vec<String>, PathBuf) {
    let urls: Vec<String> = (0..n)
        .map(|i| {
            let name = format!("{prefix}_{i}");
            server.create_database(&name).expect("create database");
            server.url(&name)
        })
        .collect();
    let file = dir.join(format!("{prefix}.txt"));
    let text: String = urls
        .iter()
        .enumerate()
        .map(|(i, u)| format!("{prefix}_{i} = {u}\n"))
        .collect();
    std::fs::write(&file, text).expect("write targets");
    (urls, file)
}

fn main() {
    let n = env_or("PGWARDEN_BENCH_DATABASES", 100);
    let parallel = env_or("PGWARDEN_BENCH_PARALLEL", 4);
    let server = EphemeralServer::start_with(&pgwarden::ephemeral::EphemeralOptions {
        extra_conf: vec!["max_connections = 300".into()],
        ..Default::default()
    })
    .expect("throwaway server");
    let mut admin = server
        .target("postgres")
        .expect("target")
        .connect()
        .expect("connect");
    let pgwarden = PathBuf::from(env!("CARGO_BIN_EXE_pgwarden"));
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let work = tempfile::tempdir().expect("temp dir");
    let (single, _) = databases(&server, "single", n, work.path());
    let (_, one) = databases(&server, "one", n, work.path());
    let (_, many) = databases(&server, "many", n, work.path());
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!(
        "{n} databases per mode, the shipped migrations ({}), {cores} cores",
        migrations.display()
    );

    let sequential = measure(&mut admin, || {
        for url in &single {
            run(Command::new(&pgwarden)
                .args(["-q", "--database-url", url, "--migrations"])
                .arg(&migrations)
                .args(["migrate", "apply"]));
        }
    });
    let fleet = |file: &Path, parallel: usize| {
        run(Command::new(&pgwarden)
            .args(["-q", "--migrations"])
            .arg(&migrations)
            .arg("--targets")
            .arg(file)
            .arg("--ledger")
            .arg(work.path().join("ledger.json"))
            .args(["--parallel", &parallel.to_string()])
            .args(["--per-host", &parallel.to_string()])
            .args(["migrate", "apply"]))
    };
    let one_at_a_time = measure(&mut admin, || fleet(&one, 1));
    let in_parallel = measure(&mut admin, || fleet(&many, parallel));
    report("sequential single runs", &sequential, n);
    report("fleet --parallel 1", &one_at_a_time, n);
    report(&format!("fleet --parallel {parallel}"), &in_parallel, n);
    println!(
        "fleet --parallel 1: {:.3}x the single runs' time",
        one_at_a_time.wall / sequential.wall
    );
    let cpu = in_parallel.client + in_parallel.server;
    println!(
        "fleet --parallel {parallel}: speedup {:.2}x over the single runs; its CPU ({cpu:.2} s) on \
         {cores} cores bounds the speedup at {:.2}x",
        sequential.wall / in_parallel.wall,
        sequential.wall / (cpu / cores as f64)
    );
}
