//! Replicas: index scans and statements are counted per server, so `plan` sums scans over the
//! primary and each replica (a real streaming replica made with `pg_basebackup -R`), an
//! unreachable replica makes "unused" unknown, and `check --mode stats` judges each server.
//! Also: indexes that back a constraint, a foreign key's referenced key or the replica
//! identity are never dropped.

use crate::common::*;

const TABLE: &str = "CREATE TABLE t (id int PRIMARY KEY, a int, b int);\n\
    CREATE INDEX t_a ON t (a);\nCREATE INDEX t_b ON t (b);\n\
    INSERT INTO t SELECT i, i % 100, i % 7 FROM generate_series(1, 5000) i;\nANALYZE t;\n";

/// A port nothing listens on.
fn dead_url(db: &str) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("postgres://postgres:x@127.0.0.1:{port}/{db}?connect_timeout=2")
}

/// Scans index `t_a` on the replica until its statistics show them.
fn scan_on_replica(db: &ReplicatedDb) {
    {
        let mut c = db.replica_client();
        c.batch_execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
            .unwrap();
        for k in 0..20 {
            c.query("SELECT id FROM t WHERE a = $1", &[&k]).unwrap();
        }
    } // a session's counters are flushed when it ends at the latest
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let scans: i64 = db
            .replica_client()
            .query_one(
                "SELECT coalesce(idx_scan, 0) FROM pg_stat_user_indexes WHERE indexrelname = 't_a'",
                &[],
            )
            .unwrap()
            .get(0);
        if scans > 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scans seen on the replica"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// `pgwarden --policy P --format json plan EXTRA` on the primary (exit 0 or 1).
fn plan_json(
    db: &TestDb,
    dir: &std::path::Path,
    policy: &str,
    extra: &[&str],
) -> serde_json::Value {
    let out = db
        .pgwarden(dir)
        .args(["--policy", policy, "--format", "json", "plan"])
        .args(extra)
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    json(&out)
}

fn unused(report: &serde_json::Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "unused-index")
        .map(|f| {
            (
                f["object"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn plan_counts_index_scans_on_every_replica() {
    let db = ReplicatedDb::new("plan");
    let dir = migrations_dir(&[("V1__t.sql", TABLE)]);
    db.primary.run(dir.path(), &["migrate", "apply"], 0);
    db.wait_replayed();
    scan_on_replica(&db);
    let policy = policy_file("version = 1\n[plan]\nunused_after_days = 0\n");
    let p = policy.path().to_str().unwrap();

    // The primary alone: neither index was scanned there.
    let alone = plan_json(&db.primary, dir.path(), p, &[]);
    let objects: Vec<String> = unused(&alone).into_iter().map(|(o, _)| o).collect();
    assert_eq!(objects, ["public.t_a", "public.t_b"], "{alone:#}");

    // With the replica: t_a carries its reads, so only t_b is unused, said per server.
    let named = format!("r1={}", db.replica_url);
    let both = plan_json(&db.primary, dir.path(), p, &["--replica", &named]);
    let found = unused(&both);
    assert_eq!(found.len(), 1, "{both:#}");
    assert_eq!(found[0].0, "public.t_b");
    assert!(
        found[0].1.contains("any of the 2 servers") && found[0].1.contains("r1:"),
        "{}",
        found[0].1
    );
    let servers = both["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2, "{both:#}");
    assert_eq!(servers[0]["server"], "primary");
    assert_eq!(servers[1]["server"], "r1");
    assert!(servers[1]["stats_age_seconds"].as_f64().unwrap() >= 0.0);
    assert!(servers[1]["error"].is_null());

    // A replica that cannot be read: nothing is known to be unused there.
    let dead = dead_url(&db.primary.name);
    let unknown = plan_json(
        &db.primary,
        dir.path(),
        p,
        &["--replica", &named, "--replica", &dead],
    );
    let found = unused(&unknown);
    assert_eq!(found.len(), 1, "{unknown:#}");
    assert_eq!(found[0].0, "public.t_b");
    assert!(found[0].1.contains("unknown"), "{}", found[0].1);
    assert!(
        unknown["servers"][2]["error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot connect")),
        "{unknown:#}"
    );
    assert!(unknown["changes"].as_array().unwrap().is_empty());

    // The primary given as a replica is refused, not counted twice.
    let itself = format!("me={}", db.primary.url);
    let twice = plan_json(&db.primary, dir.path(), p, &["--replica", &itself]);
    assert!(
        twice["servers"][1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("not a standby")),
        "{twice:#}"
    );
}

#[test]
fn policy_replicas_come_from_the_environment() {
    let db = ReplicatedDb::new("penv");
    let dir = migrations_dir(&[("V1__t.sql", TABLE)]);
    db.primary.run(dir.path(), &["migrate", "apply"], 0);
    db.wait_replayed();
    scan_on_replica(&db);
    let policy = policy_file(
        "version = 1\n[plan]\nunused_after_days = 0\n[[replica]]\nname = \"east\"\nurl_env = \"PGWARDEN_TEST_REPLICA_EAST\"\n",
    );
    let p = policy.path().to_str().unwrap();
    let out = db
        .primary
        .pgwarden(dir.path())
        .args(["--policy", p, "--format", "json", "plan"])
        .env("PGWARDEN_TEST_REPLICA_EAST", &db.replica_url)
        .output()
        .unwrap();
    let report = json(&out);
    assert_eq!(report["servers"][1]["server"], "east", "{report:#}");
    let objects: Vec<String> = unused(&report).into_iter().map(|(o, _)| o).collect();
    assert_eq!(objects, ["public.t_b"]);

    // Unset: a clear error naming the variable, exit 2.
    let out = db
        .primary
        .pgwarden(dir.path())
        .args(["--policy", p, "plan"])
        .env_remove("PGWARDEN_TEST_REPLICA_EAST")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("PGWARDEN_TEST_REPLICA_EAST is not set"),
        "{}",
        stderr(&out)
    );

    // A URL in the policy is refused: passwords never go in policy files.
    let bad = policy_file(
        "version = 1\n[[replica]]\nname = \"east\"\nurl = \"postgres://u:secret@h/db\"\n",
    );
    let out = db
        .primary
        .pgwarden(dir.path())
        .args(["--policy", bad.path().to_str().unwrap(), "plan"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown field `url`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_stats_judges_each_replica() {
    let db = ReplicatedDb::new("stats");
    db.primary
        .client()
        .batch_execute(
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;\n\
             CREATE TABLE marker (x int); INSERT INTO marker SELECT generate_series(1, 100);",
        )
        .unwrap();
    db.wait_replayed();
    {
        let mut c = db.replica_client();
        for _ in 0..5 {
            c.query("SELECT count(*) FROM marker WHERE x < $1", &[&50])
                .unwrap();
        }
    }
    let policy = policy_file(
        "version = 1\n[budget]\nmean_ms = 1000\n\
         [[query]]\nname = \"marker\"\nsql = \"SELECT count(*) FROM marker WHERE x < $1\"\nparams = [[50]]\n",
    );
    let p = policy.path().to_str().unwrap();
    let dir = migrations_dir(&[]);
    let named = format!("r1={}", db.replica_url);
    let out = db.primary.run(
        dir.path(),
        &[
            "--policy",
            p,
            "--format",
            "json",
            "check",
            "--mode",
            "stats",
            "--replica",
            &named,
        ],
        0,
    );
    let report = json(&out);
    // Not run on the primary: a note there; judged on the replica with its 5 calls.
    assert!(
        report["queries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["name"] != "marker"),
        "{report:#}"
    );
    let replica = &report["replicas"][0];
    assert_eq!(replica["server"], "r1");
    let marker = replica["report"]["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "marker")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(marker["runs"], 5);
    assert_eq!(marker["verdict"]["verdict"], "within");

    // Human output shows each server.
    let out = db.primary.run(
        dir.path(),
        &[
            "--policy",
            p,
            "check",
            "--mode",
            "stats",
            "--replica",
            &named,
        ],
        0,
    );
    assert!(stdout(&out).contains("on replica r1:"), "{}", stdout(&out));

    // An unreachable replica is an error (exit 2), the reachable servers still reported.
    let dead = dead_url(&db.primary.name);
    let out = db.primary.run(
        dir.path(),
        &[
            "--policy",
            p,
            "--format",
            "json",
            "check",
            "--mode",
            "stats",
            "--replica",
            &named,
            "--replica",
            &dead,
        ],
        2,
    );
    let report = json(&out);
    assert!(
        report["replicas"][1]["error"].as_str().is_some(),
        "{report:#}"
    );
    assert!(report["replicas"][0]["report"]["queries"].is_array());

    // Replicas are judged from statistics only.
    let out = db.primary.run(
        dir.path(),
        &["--policy", p, "check", "--replica", &named],
        2,
    );
    assert!(stderr(&out).contains("--mode stats"), "{}", stderr(&out));
}

#[test]
fn indexes_behind_keys_and_replica_identity_are_never_dropped() {
    let db = TestDb::new("protected");
    let dir = migrations_dir(&[(
        "V1__t.sql",
        "CREATE TABLE p (id int PRIMARY KEY, code text NOT NULL);\n\
         CREATE TABLE c (id int PRIMARY KEY, p_code text);\n\
         CREATE TABLE r (id int PRIMARY KEY, k int NOT NULL);\n",
    )]);
    db.run(dir.path(), &["migrate", "apply"], 0);
    // Made by hand, outside the migrations.
    db.client()
        .batch_execute(
            "CREATE UNIQUE INDEX p_code_key ON p (code);\n\
             ALTER TABLE c ADD CONSTRAINT c_p_code_fk FOREIGN KEY (p_code) REFERENCES p (code);\n\
             CREATE INDEX c_p_code ON c (p_code);\n\
             CREATE UNIQUE INDEX r_k ON r (k);\nALTER TABLE r REPLICA IDENTITY USING INDEX r_k;\n\
             CREATE INDEX r_plain ON r (k);\n",
        )
        .unwrap();
    let report = plan_report(&db, dir.path(), &[]);
    let dropped: Vec<&str> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["is_drop"] == true)
        .map(|c| c["object"].as_str().unwrap())
        .collect();
    assert!(
        dropped.contains(&"public.r_plain"),
        "the control: {report:#}"
    );
    assert!(!dropped.contains(&"public.p_code_key"), "{report:#}");
    assert!(!dropped.contains(&"public.r_k"), "{report:#}");
    let help = |object: &str| -> String {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["object"] == object)
            .unwrap_or_else(|| panic!("no finding for {object}: {report:#}"))["help"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(help("public.p_code_key").contains("foreign key"));
    assert!(help("public.r_k").contains("replica identity"));
}

#[test]
fn watch_samples_each_replica_with_its_own_series() {
    let db = ReplicatedDb::new("watch");
    db.primary
        .client()
        .batch_execute(
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;\n\
             CREATE TABLE marker (x int); INSERT INTO marker SELECT generate_series(1, 100);",
        )
        .unwrap();
    db.wait_replayed();
    let run_on_replica = || {
        let mut c = db.replica_client();
        for _ in 0..3 {
            c.query("SELECT count(*) FROM marker WHERE x < $1", &[&50])
                .unwrap();
        }
    };
    run_on_replica();
    // A budget nothing meets: the statement is over it wherever it runs.
    let policy = policy_file(
        "version = 1\n[budget]\nmean_ms = 0.000001\n\
         [[query]]\nname = \"marker\"\nsql = \"SELECT count(*) FROM marker WHERE x < $1\"\nparams = [[50]]\n\
         [[replica]]\nname = \"r1\"\nurl_env = \"PGWARDEN_TEST_WATCH_R1\"\n",
    );
    let dir = migrations_dir(&[]);

    // --once: the replica's own counters, judged; the primary never ran the statement.
    let out = db
        .primary
        .pgwarden(dir.path())
        .args([
            "--policy",
            policy.path().to_str().unwrap(),
            "--format",
            "json",
            "watch",
            "--once",
        ])
        .env("PGWARDEN_TEST_WATCH_R1", &db.replica_url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    let marker_of = |last: &serde_json::Value| {
        last["statements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["label"] == "marker")
            .cloned()
    };
    assert!(marker_of(&report["last"]).is_none(), "{report:#}");
    let replica = &report["replicas"][0];
    assert_eq!(replica["server"], "r1");
    let marker = marker_of(&replica["last"]).unwrap_or_else(|| panic!("{report:#}"));
    assert!(marker["calls"].as_i64().unwrap() >= 3);
    assert_eq!(marker["over_budget"], true);

    // Continuously: a `server` label per server; an unreachable replica is down on its own.
    let port = crate::watch::free_port();
    let dead = dead_url(&db.primary.name);
    let dead_policy = policy_file(&format!(
        "{}[[replica]]\nname = \"gone\"\nurl_env = \"PGWARDEN_TEST_WATCH_GONE\"\n",
        std::fs::read_to_string(policy.path()).unwrap()
    ));
    let _child = crate::watch::spawn_watch(
        &db.primary.url,
        dir.path(),
        dead_policy.path(),
        port,
        &[
            ("PGWARDEN_TEST_WATCH_R1", &db.replica_url),
            ("PGWARDEN_TEST_WATCH_GONE", &dead),
        ],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let calls = "pgwarden_query_calls_total{server=\"r1\",query=\"marker\"}";
    loop {
        run_on_replica();
        let text = crate::watch::scrape(port).unwrap_or_default();
        let v = |series: &str| crate::watch::value(&text, series);
        if v(calls).is_some_and(|c| c >= 3.0)
            && v("pgwarden_up{server=\"primary\"}") == Some(1.0)
            && v("pgwarden_up{server=\"r1\"}") == Some(1.0)
            && v("pgwarden_up{server=\"gone\"}") == Some(0.0)
            && v("pgwarden_query_over_budget{server=\"r1\",query=\"marker\"}") == Some(1.0)
        {
            assert!(
                v("pgwarden_query_calls_total{server=\"primary\",query=\"marker\"}")
                    .is_none_or(|c| c == 0.0),
                "{text}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// A port that accepts connections and never answers, for as long as the test runs.
fn silent_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    port
}

#[test]
fn a_replica_that_never_answers_is_unknown_not_a_hang() {
    let db = ReplicatedDb::new("silent");
    let dir = migrations_dir(&[("V1__t.sql", TABLE)]);
    db.primary.run(dir.path(), &["migrate", "apply"], 0);
    let policy = policy_file("version = 1\n[plan]\nunused_after_days = 0\n");
    let p = policy.path().to_str().unwrap();
    let silent = format!(
        "hung=postgres://postgres:x@127.0.0.1:{}/{}?connect_timeout=1",
        silent_port(),
        db.primary.name
    );
    let started = std::time::Instant::now();
    let report = plan_json(&db.primary, dir.path(), p, &["--replica", &silent]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "it hung"
    );
    assert!(
        report["servers"][1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("no answer to the start-up")),
        "{report:#}"
    );
    let found = unused(&report);
    assert!(
        found.iter().all(|(_, m)| m.contains("unknown")),
        "{report:#}"
    );

    // watch: the hung replica has its own thread; the primary is sampled all the same.
    let port = crate::watch::free_port();
    let policy = policy_file(
        "version = 1\n[[replica]]\nname = \"hung\"\nurl_env = \"PGWARDEN_TEST_HUNG\"\n",
    );
    db.primary
        .client()
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .unwrap();
    let hung_url = silent.trim_start_matches("hung=").to_string();
    let _child = crate::watch::spawn_watch(
        &db.primary.url,
        dir.path(),
        policy.path(),
        port,
        &[("PGWARDEN_TEST_HUNG", &hung_url)],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let text = crate::watch::scrape(port).unwrap_or_default();
        if crate::watch::value(&text, "pgwarden_samples_total{server=\"primary\"}")
            .is_some_and(|n| n >= 2.0)
        {
            assert_eq!(
                crate::watch::value(&text, "pgwarden_up{server=\"hung\"}"),
                Some(0.0),
                "{text}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

#[test]
fn a_partitioned_index_counts_its_partitions_scans_on_each_server() {
    let db = ReplicatedDb::new("parts");
    let dir = migrations_dir(&[(
        "V1__pt.sql",
        "CREATE TABLE pt (id int, k int) PARTITION BY RANGE (id);\n\
         CREATE TABLE pt1 PARTITION OF pt FOR VALUES FROM (0) TO (5000);\n\
         CREATE TABLE pt2 PARTITION OF pt FOR VALUES FROM (5000) TO (10000);\n\
         CREATE INDEX pt_k ON pt (k);\n\
         INSERT INTO pt SELECT i, i % 50 FROM generate_series(0, 9999) i;\nANALYZE pt;\n",
    )]);
    db.primary.run(dir.path(), &["migrate", "apply"], 0);
    db.wait_replayed();
    let policy = policy_file("version = 1\n[plan]\nunused_after_days = 0\n");
    let p = policy.path().to_str().unwrap();
    let named = format!("r1={}", db.replica_url);
    let objects =
        |r: &serde_json::Value| -> Vec<String> { unused(r).into_iter().map(|(o, _)| o).collect() };
    assert_eq!(
        objects(&plan_json(
            &db.primary,
            dir.path(),
            p,
            &["--replica", &named]
        )),
        ["public.pt_k"]
    );
    {
        let mut c = db.replica_client();
        c.batch_execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
            .unwrap();
        c.query("SELECT id FROM pt WHERE k = 3", &[]).unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !objects(&plan_json(
        &db.primary,
        dir.path(),
        p,
        &["--replica", &named],
    ))
    .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the partitions' scans were never counted"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    // The primary alone still sees it unused.
    assert_eq!(
        objects(&plan_json(&db.primary, dir.path(), p, &[])),
        ["public.pt_k"]
    );
}
