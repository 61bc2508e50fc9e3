//! `--html FILE` pages opened in a real browser: Debian's chromium, headless, dumps the DOM it
//! built from the page, and the DOM must hold one bar per workload query for `check` (two,
//! before and after, for `advise`), with hostile query names left as text.

use crate::common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a page may take to load before the browser is killed and the test fails.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// A query name that would close the chart and run a script if it reached the markup raw.
const HOSTILE: &str = "q</svg><script>document.title='pwned'</script>&\"'";

/// A database with one table whose lookup by id is a sequential scan (no index yet).
fn orders_db(label: &str) -> TestDb {
    let db = TestDb::new(label);
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE orders (id int NOT NULL, status text NOT NULL); \
         INSERT INTO orders SELECT g, (ARRAY['new','paid','sent'])[1 + g % 3] \
           FROM generate_series(1, 50000) g;",
    )
    .unwrap();
    // Alone: VACUUM cannot run in the implicit transaction of a multi-statement batch.
    c.batch_execute("VACUUM ANALYZE orders").unwrap();
    db
}

/// Two plain queries and a hostile name; `by_id` has a budget no seq scan meets.
fn policy() -> tempfile::NamedTempFile {
    policy_file(&format!(
        "version = 1\n[budget]\nmean_ms = 1000.0\n[check]\nwarmup = 1\nruns = 2\n\
         [[query]]\nname = \"by_id\"\nsql = \"SELECT * FROM orders WHERE id = $1\"\nparams = [[4242]]\nmean_ms = 0.5\n\
         [[query]]\nname = \"one\"\nsql = \"SELECT 1\"\n\
         [[query]]\nname = {}\nsql = \"SELECT 2\"\n",
        toml_string(HOSTILE)
    ))
}

/// The first of `names` that is an executable file on PATH.
fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// The DOM chromium built from `page` (`--headless --dump-dom`), killed with its whole process
/// group when it takes longer than [`BROWSER_TIMEOUT`]. Fails when chromium is missing: these
/// tests prove the page renders, which nothing else can stand in for.
fn rendered_dom(page: &Path) -> String {
    use std::os::unix::process::CommandExt;
    let browser = on_path(&["chromium", "chromium-browser"]).unwrap_or_else(|| {
        panic!("no chromium on PATH: install Debian's chromium (`apt-get install chromium`) to run the HTML report tests")
    });
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(&browser)
        // As root chromium needs --no-sandbox; its own profile keeps parallel runs apart.
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            // The browser's helpers are in its process group: end them all, by that id.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            panic!(
                "chromium did not render {} within {BROWSER_TIMEOUT:?}",
                page.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let dom = stdout.join().unwrap();
    let err = stderr.join().unwrap();
    assert!(
        status.success() && dom.contains("</html>"),
        "chromium failed on {} ({status}):\n{err}",
        page.display()
    );
    dom
}

/// Text of an attribute value as the browser serialised it.
fn unescape(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The attributes of every `<rect>` in `dom` whose class is `bar`.
fn bars(dom: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    for (start, _) in dom.match_indices("<rect ") {
        let tag = &dom[start + 6..];
        let tag = &tag[..tag.find('>').expect("a closed <rect> tag")];
        let mut attrs = BTreeMap::new();
        let mut rest = tag.trim_start();
        // The serialiser writes `name="value"` with `"` escaped inside values.
        while let Some(eq) = rest.find("=\"") {
            let name = rest[..eq].trim().to_string();
            let value_end = rest[eq + 2..].find('"').expect("a closed attribute value");
            attrs.insert(name, unescape(&rest[eq + 2..eq + 2 + value_end]));
            rest = rest[eq + 2 + value_end + 1..].trim_start();
        }
        if attrs.get("class").map(String::as_str) == Some("bar") {
            out.push(attrs);
        }
    }
    out
}

/// How many bars each (query, phase) has.
fn bar_counts(dom: &str) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for bar in bars(dom) {
        let key = (
            bar.get("data-query").cloned().unwrap_or_default(),
            bar.get("data-phase").cloned().unwrap_or_default(),
        );
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// What must hold of any rendered page: it parsed into a document with its chart, and no
/// name became markup (no script element).
fn assert_rendered_safely(dom: &str) {
    assert!(dom.contains("<svg class=\"chart\""), "{dom}");
    assert!(!dom.contains("<script"), "a name became markup: {dom}");
}

#[test]
fn the_check_page_renders_one_bar_per_workload_query_in_chromium() {
    let db = orders_db("html_check");
    let policy = policy();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("check.html");
    let out = db
        .pgwarden(&shipped_migrations())
        .arg("--policy")
        .arg(policy.path())
        .args(["--format", "json", "check", "--html"])
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "by_id is over: {}",
        stderr(&out)
    );
    let report = json(&out);
    assert_eq!(
        report["queries"].as_array().unwrap().len(),
        3,
        "the normal output is still printed"
    );

    let dom = rendered_dom(&page);
    assert_rendered_safely(&dom);
    assert!(
        dom.contains("&lt;/svg&gt;&lt;script&gt;document.title="),
        "the hostile name is shown as text: {dom}"
    );
    let expected: BTreeMap<(String, String), usize> = ["by_id", "one", HOSTILE]
        .iter()
        .map(|q| ((q.to_string(), String::new()), 1))
        .collect();
    assert_eq!(bar_counts(&dom), expected, "one bar per query:\n{dom}");
    let fill = |query: &str| {
        bars(&dom)
            .into_iter()
            .find(|b| b["data-query"] == query)
            .and_then(|b| b.get("fill").cloned())
    };
    assert_eq!(fill("by_id").as_deref(), Some("#c62828"), "over is red");
    assert_eq!(fill("one").as_deref(), Some("#2e7d32"), "within is green");
}

#[test]
fn the_advise_page_renders_a_before_and_an_after_bar_per_query_in_chromium() {
    let db = orders_db("html_advise");
    let shadow = format!("{}_shadow", db.name);
    server()
        .copy_database(&db.name, &shadow)
        .expect("copy the database");
    let policy = policy();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("advise.html");
    let out = db
        .pgwarden(&shipped_migrations())
        .arg("--policy")
        .arg(policy.path())
        .args([
            "--format",
            "json",
            "advise",
            "--write-sample-seconds",
            "1",
            "--shadow-url",
            &server().url(&shadow),
        ])
        .arg("--html")
        .arg(&page)
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let report = json(&out);
    let queries: Vec<String> = report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap().to_string())
        .collect();
    assert!(queries.contains(&"by_id".to_string()), "{report:#}");

    let dom = rendered_dom(&page);
    assert_rendered_safely(&dom);
    let expected: BTreeMap<(String, String), usize> = queries
        .iter()
        .flat_map(|q| ["before", "after"].map(|p| ((q.clone(), p.to_string()), 1)))
        .collect();
    assert_eq!(
        bar_counts(&dom),
        expected,
        "before and after per query:\n{dom}"
    );
}
