//! The shipped monitoring (deploy/): the Prometheus rules pass promtool's check and unit tests,
//! the Alertmanager route passes amtool, the Grafana dashboard asks only for metrics `watch`
//! exposes; and end to end, real Prometheus scrapes a running `watch`, a rule fires and real
//! Alertmanager delivers it to a webhook.

use crate::common::*;
use crate::watch::{free_port, items_db, policy, receiver, run_lookups, spawn_watch, unsafe_kill};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

fn tool(name: &str, args: &[&str], dir: &Path) -> std::process::Output {
    std::process::Command::new(name)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("{name}: {e}; install Debian's prometheus and prometheus-alertmanager")
        })
}

#[test]
fn the_shipped_rules_and_route_pass_promtool_and_amtool() {
    let dir = deploy("prometheus");
    for args in [
        &["check", "rules", "pgwarden.rules.yml"][..],
        &["test", "rules", "pgwarden.rules.test.yml"][..],
    ] {
        let out = tool("promtool", args, &dir);
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
    let out = tool(
        "amtool",
        &["check-config", "alertmanager.yml"],
        &deploy("alertmanager"),
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

/// The metric names `watch` exposes (counters with their `_total`), after a sample with one
/// statement and one index build, so that every family has a series.
fn exposed() -> Vec<String> {
    use pgwarden::watch::health::{Build, Health};
    use pgwarden::watch::{Sample, StatementFigures};
    let mut metrics = pgwarden::watch::metrics::Metrics::new();
    metrics.watching(pgwarden::watch::metrics::PRIMARY);
    metrics.record(
        pgwarden::watch::metrics::PRIMARY,
        &Sample {
            baseline_only: false,
            statements: vec![StatementFigures {
                label: "q".into(),
                named: true,
                text: "SELECT 1".into(),
                calls: 1,
                mean_ms: 1.0,
                rows: 1,
                shared_hit: 0,
                shared_read: 0,
                budget_ms: 100.0,
                over_budget: false,
                baseline_ms: None,
                regressed: false,
                plan: None,
                plan_changed: false,
            }],
            unmatched: Vec::new(),
            match_problems: Vec::new(),
            hidden_statements: 0,
            health: Health {
                builds: vec![Build {
                    index: "i".into(),
                    phase: "building index".into(),
                    ratio: Some(0.5),
                }],
                ..Health::default()
            },
            index_findings: Some(Vec::new()),
            duration_seconds: 0.01,
        },
    );
    let text = metrics.encode();
    // The classic text format served to scrapers that do not ask for OpenMetrics passes
    // promtool's lint.
    let classic = pgwarden::watch::metrics::to_classic(&text);
    let mut check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package)");
    use std::io::Write as _;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(classic.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}\n{classic}",
        stdout(&out),
        stderr(&out)
    );
    let mut names = Vec::new();
    for l in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut parts = l.split_whitespace().skip(2);
        let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
        names.push(if kind == "counter" {
            format!("{name}_total")
        } else {
            name.to_string()
        });
    }
    names
}

/// Every `pgwarden_*` name in `text`.
fn named(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r"pgwarden_[a-z_]+").unwrap();
    re.find_iter(text).map(|m| m.as_str().to_string()).collect()
}

#[test]
fn the_dashboard_and_rules_ask_only_for_metrics_watch_exposes() {
    let exposed = exposed();
    assert!(exposed.contains(&"pgwarden_query_over_budget".to_string()));
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(deploy("grafana/pgwarden-dashboard.json")).unwrap(),
    )
    .unwrap();
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    assert!(exprs.len() >= 10);
    let rules = std::fs::read_to_string(deploy("prometheus/pgwarden.rules.yml")).unwrap();
    let asked: Vec<String> = exprs
        .iter()
        .flat_map(|e| named(e))
        .chain(
            rules
                .lines()
                .filter(|l| l.trim_start().starts_with("expr:"))
                .flat_map(named),
        )
        .collect();
    for name in &asked {
        assert!(exposed.contains(name), "{name} is not exposed: {exposed:?}");
    }
}

fn start(program: &str, args: &[String], log: &Path) -> crate::common::Reaped {
    crate::common::Reaped(
        std::process::Command::new(program)
            .args(args)
            .stdout(std::fs::File::create(log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}")),
    )
}

#[test]
fn prometheus_scrapes_watch_and_alertmanager_delivers_the_alert() {
    let db = items_db("watch_e2e");
    let policy = policy(&db, "");
    let work = tempfile::tempdir().unwrap();
    let (hook_port, received) = receiver();
    let (watch_port, prom_port, am_port) = (free_port(), free_port(), free_port());
    // Its own rule file with a short `for`, and Alertmanager with a short group_wait.
    std::fs::write(
        work.path().join("rules.yml"),
        "groups:\n  - name: e2e\n    rules:\n      - alert: PgwardenQueryOverBudget\n        \
         expr: pgwarden_query_over_budget == 1\n        for: 2s\n        labels:\n          severity: warning\n",
    )
    .unwrap();
    std::fs::write(
        work.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files: [rules.yml]\n\
             alerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]\n\
             scrape_configs:\n  - job_name: pgwarden\n    static_configs: [{{targets: ['127.0.0.1:{watch_port}']}}]\n"
        ),
    )
    .unwrap();
    std::fs::write(
        work.path().join("alertmanager.yml"),
        format!(
            "route:\n  receiver: hook\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: hook\n    webhook_configs:\n      - url: http://127.0.0.1:{hook_port}/am\n"
        ),
    )
    .unwrap();
    let dir = migrations_dir(&[]);
    let mut watch = spawn_watch(&db.url, dir.path(), policy.path(), watch_port, &[]);
    let w = work.path().display().to_string();
    let am = start(
        "prometheus-alertmanager",
        &[
            format!("--config.file={w}/alertmanager.yml"),
            format!("--storage.path={w}/am"),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=".into(),
        ],
        &work.path().join("am.log"),
    );
    let prom = start(
        "prometheus",
        &[
            format!("--config.file={w}/prometheus.yml"),
            format!("--storage.tsdb.path={w}/tsdb"),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        &work.path().join("prom.log"),
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let delivered = loop {
        run_lookups(&db, 3);
        let got = received.lock().unwrap().clone();
        let alert = got.iter().find_map(|(path, body)| {
            (path == "/am")
                .then(|| body["alerts"].as_array())
                .flatten()
                .and_then(|alerts| {
                    alerts
                        .iter()
                        .find(|a| {
                            a["labels"]["alertname"] == "PgwardenQueryOverBudget"
                                && a["labels"]["query"] == "by_owner"
                                && a["status"] == "firing"
                        })
                        .cloned()
                })
        });
        if let Some(a) = alert {
            break a;
        }
        if Instant::now() > deadline {
            let log = |f: &str| std::fs::read_to_string(work.path().join(f)).unwrap_or_default();
            panic!(
                "no alert delivered; received {got:#?}\nprometheus: {}\nalertmanager: {}",
                log("prom.err"),
                log("am.err")
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(delivered["labels"]["job"], "pgwarden");
    drop((prom, am));
    unsafe_kill(watch.id(), "TERM");
    assert_eq!(watch.wait().unwrap().code(), Some(0));
}
