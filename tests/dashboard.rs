//! The dashboard in a real browser: headless Chromium loads `/dashboard` from the running
//! `kiln` binary, its script polls `/stats`, and the counts it renders follow the jobs
//! enqueued meanwhile. A screenshot is kept in `target/test-artifacts/dashboard.png`.
//!
//! Needs Debian's `chromium` (scripts/test-all installs it when missing); without it the
//! test fails and says so.

use kiln::http::http::{Request, StatusCode};
use kiln::http::{Body, Client};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const KILN: &str = env!("CARGO_BIN_EXE_kiln");
const CHROMIUM: &str = "/usr/bin/chromium";

/// The page's DOM after its script ran for a few (virtual) seconds.
fn rendered(url: &str) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium (scripts/test-all does) to run the dashboard test"
    );
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=3000",
            "--dump-dom",
            url,
        ])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium failed on {url}");
    String::from_utf8(out.stdout).unwrap()
}

/// The number rendered in the element with `id`.
fn number(dom: &str, id: &str) -> u64 {
    let start = dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} in the page:\n{dom}"));
    let text = &dom[start..];
    let text = &text[text.find('>').unwrap() + 1..];
    text[..text.find('<').unwrap()]
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("#{id} holds no number: {text:.40}"))
}

fn call(
    rt: &kiln::runtime::Runtime,
    client: &Client,
    url: String,
    body: &str,
    token: Option<&str>,
) -> serde_json::Value {
    rt.block_on(async {
        let mut req = Request::post(url).header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let r = client.send(req.body(Body::from(body.to_owned())).unwrap()).await.unwrap();
        assert!(r.status().is_success() || r.status() == StatusCode::CREATED, "{}", r.status());
        serde_json::from_slice(r.body().as_bytes().unwrap()).unwrap()
    })
}

#[test]
fn the_dashboard_renders_live_counts_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    // No workers: enqueued jobs stay available, so the counts are exact.
    let mut kiln = Command::new(KILN)
        .args(["--addr", "127.0.0.1:0", "--db", db.to_str().unwrap(), "--bcrypt-cost", "4", "--workers", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(kiln.stdout.take().unwrap()); // kept open: kiln prints at exit
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("kiln: listening on http://").unwrap().to_owned();

    let client = Client::new();
    let rt = kiln::runtime::Builder::new_current_thread().build().unwrap();
    let signup = r#"{"email":"ada@example.com","password":"correct horse","display_name":"Ada"}"#;
    call(&rt, &client, format!("http://{addr}/auth/signup"), signup, None); // + a welcome email job
    let login = r#"{"email":"ada@example.com","password":"correct horse"}"#;
    let token = call(&rt, &client, format!("http://{addr}/auth/login"), login, None)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let enqueue = |n: usize| {
        for _ in 0..n {
            call(&rt, &client, format!("http://{addr}/jobs"), r#"{"kind":"demo"}"#, Some(&token));
        }
    };
    enqueue(3);
    let url = format!("http://{addr}/dashboard");
    let first = rendered(&url);
    assert!(number(&first, "http-requests") >= 5, "the page shows the requests so far");
    assert_eq!(number(&first, "jobs-available"), 4, "the welcome email and three demo jobs");
    assert!(number(&first, "runtime-tasks") >= 1);
    assert!(first.contains("data-updates=\""), "the script ran and refreshed the page");

    enqueue(2);
    let second = rendered(&url);
    assert_eq!(number(&second, "jobs-available"), 6, "the counts follow the queue");
    assert!(number(&second, "http-requests") > number(&first, "http-requests"));

    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("dashboard.png");
    let status = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,1100",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a real screenshot at {}", shot.display());

    assert!(Command::new("kill").args(["-TERM", &kiln.id().to_string()]).status().unwrap().success());
    assert!(kiln.wait().unwrap().success());
}
