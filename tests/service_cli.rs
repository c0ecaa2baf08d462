//! The `kiln` binary (what `cargo run --release` starts): `--help`, bad values, serving on a
//! real port with a real database file, `kiln admin promote` against that file while the
//! server runs, and a clean stop on SIGTERM.

use kiln::http::http::{Request, StatusCode};
use kiln::http::{Body, Client};
use kiln_test_support::{spawn_announcing, terminate};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KILN: &str = env!("CARGO_BIN_EXE_kiln");

#[test]
fn help_and_bad_values() {
    let help = Command::new(KILN).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("KILN_JWT_SECRET"));
    let bad = Command::new(KILN).args(["--bcrypt-cost", "99"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("--bcrypt-cost") && err.contains("\"99\""), "{err}");
    let short = Command::new(KILN).env("KILN_JWT_SECRET", "too short").output().unwrap();
    assert_eq!(short.status.code(), Some(2), "a short secret stops startup");
    let spaces = Command::new(KILN).env("KILN_JWT_SECRET", " ".repeat(32)).output().unwrap();
    assert_eq!(spaces.status.code(), Some(2), "32 spaces are not a secret");
    let err = String::from_utf8_lossy(&spaces.stderr);
    assert!(err.contains("random bytes") && err.contains("openssl rand"), "says what is expected: {err}");
}

#[test]
fn promote_refuses_a_missing_database_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("kiln.bd");
    let out = Command::new(KILN)
        .args(["admin", "promote", "a@b.co", "--db", typo.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no database at"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!typo.exists(), "no database was created at the mistyped path");
}

#[test]
fn a_port_in_use_is_reported_before_a_database_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fresh.db");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(KILN).args(["--addr", &addr, "--db", db.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot listen on"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!db.exists(), "the database file was not created");
    assert!(!dir.path().join("fresh.db.jwt-secret").exists());
}

/// A `Client`'s pooled connections belong to the runtime that opened them, so every call
/// runs on the one runtime `rt`.
fn post(
    rt: &kiln::runtime::Runtime,
    client: &Client,
    url: String,
    body: &str,
    token: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    rt.block_on(async {
        let mut req = Request::post(url).header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let r = client.send(req.body(Body::from(body.to_owned())).unwrap()).await.unwrap();
        let json = serde_json::from_slice(r.body().as_bytes().unwrap()).unwrap_or(serde_json::Value::Null);
        (r.status(), json)
    })
}

#[test]
fn serves_promotes_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("service.db");
    let (mut child, addr, mut out) = spawn_announcing(
        Command::new(KILN).args([
            "--addr",
            "127.0.0.1:0",
            "--db",
            db.to_str().unwrap(),
            "--bcrypt-cost",
            "4",
        ]),
        "kiln: listening on http://",
    );
    let mut storage = String::new();
    out.read_line(&mut storage).unwrap();
    assert!(storage.contains("service.db") && storage.contains("schema v"), "{storage}");
    assert!(dir.path().join("service.db.jwt-secret").exists(), "a secret was generated beside the database");

    let client = Client::new();
    let rt = kiln::runtime::Builder::new_current_thread().build().unwrap();
    let signup = |email: &str| {
        post(
            &rt,
            &client,
            format!("http://{addr}/auth/signup"),
            &format!(r#"{{"email":"{email}","password":"correct horse","display_name":"x"}}"#),
            None,
        )
    };
    assert_eq!(signup("first@example.com").0, StatusCode::CREATED);
    assert_eq!(signup("second@example.com").0, StatusCode::CREATED);
    let (_, tokens) = post(
        &rt,
        &client,
        format!("http://{addr}/auth/login"),
        r#"{"email":"second@example.com","password":"correct horse"}"#,
        None,
    );
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let book = r#"{"title":"T","author":"A","year":2000}"#;
    assert_eq!(
        post(&rt, &client, format!("http://{addr}/books"), book, Some(&token)).0,
        StatusCode::FORBIDDEN
    );

    let promote = Command::new(KILN)
        .args(["admin", "promote", "second@example.com", "--db", db.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(promote.status.success(), "{}", String::from_utf8_lossy(&promote.stderr));
    assert_eq!(
        post(&rt, &client, format!("http://{addr}/books"), book, Some(&token)).0,
        StatusCode::CREATED,
        "promoted while serving"
    );
    let nobody = Command::new(KILN)
        .args(["admin", "promote", "nobody@example.com", "--db", db.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(nobody.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("no user with email nobody@example.com"));

    terminate(&mut child, "kiln");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(rest.contains("kiln: stopped"), "{rest}");
}

#[test]
fn an_api_process_without_workers_and_a_worker_process_share_one_queue() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("service.db");
    let db_arg = db.to_str().unwrap();
    let mut api = Command::new(KILN)
        .args(["--addr", "127.0.0.1:0", "--db", db_arg, "--bcrypt-cost", "4", "--workers", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(api.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..4 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        lines.push(line);
    }
    let addr = lines[0].trim().strip_prefix("kiln: listening on http://").unwrap().to_owned();
    assert!(lines[2].contains("this process's (--redis URL shares them"), "{lines:?}");
    assert!(lines[3].contains("no workers in this process") && lines[3].contains("worker --db"), "{lines:?}");

    let mut worker = Command::new(KILN)
        .args([
            "worker",
            "--db",
            db_arg,
            "--workers",
            "2",
            "--job-drain",
            "1",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut worker_out = BufReader::new(worker.stdout.take().unwrap());
    let mut banner = String::new();
    worker_out.read_line(&mut banner).unwrap();
    assert!(banner.contains("kiln worker: 2 workers on") && banner.contains("service.db"), "{banner}");
    let mut probes = String::new();
    worker_out.read_line(&mut probes).unwrap();
    let probes = probes
        .trim()
        .strip_prefix("kiln worker: /metrics, /healthz and /readyz on http://")
        .unwrap_or_else(|| panic!("{probes:?}"))
        .to_owned();

    // The signup's welcome email is enqueued by the API process and sent by the worker.
    let client = Client::new();
    let rt = kiln::runtime::Builder::new_current_thread().build().unwrap();
    let body = r#"{"email":"ada@example.com","password":"correct horse","display_name":"Ada"}"#;
    assert_eq!(post(&rt, &client, format!("http://{addr}/auth/signup"), body, None).0, StatusCode::CREATED);
    let outbox = dir.path().join("service.db.outbox");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&outbox).unwrap_or_default().contains("ada@example.com") {
        assert!(Instant::now() < deadline, "the worker process never sent the welcome email");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The worker's own /metrics counts the job it ran (once it has recorded the success,
    // just after the email went out); its readiness is the database's.
    let scrape = |path: &str| {
        rt.block_on(async {
            let r = client.get(&format!("http://{probes}{path}")).await.unwrap();
            (r.status(), String::from_utf8(r.body().as_bytes().unwrap().to_vec()).unwrap())
        })
    };
    assert_eq!(scrape("/readyz").0, StatusCode::OK);
    let counted = r#"jobs_succeeded_total{kind="welcome_email"} 1"#;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, metrics) = scrape("/metrics");
        if metrics.lines().any(|l| l == counted) {
            break;
        }
        assert!(Instant::now() < deadline, "the worker's metrics never counted its job: {metrics}");
        std::thread::sleep(Duration::from_millis(20));
    }

    terminate(&mut worker, "kiln worker");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut worker_out, &mut rest).unwrap();
    assert!(rest.contains("kiln worker: stopped; 1 jobs succeeded"), "{rest}");
    terminate(&mut api, "kiln");
}

#[test]
fn a_worker_process_needs_workers() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(KILN)
        .args(["worker", "--db", dir.path().join("k.db").to_str().unwrap(), "--workers", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--workers of at least 1"));
}

#[test]
fn json_logs_carry_the_requests_route_trace_and_ids() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("service.db");
    let args =
        ["--addr", "127.0.0.1:0", "--db", db.to_str().unwrap(), "--log-format", "json", "--workers", "0"];
    let (mut child, addr, _out) =
        spawn_announcing(Command::new(KILN).args(args).env("RUST_LOG", "info"), "kiln: listening on http://");
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    let request = format!(
        "GET /books/42 HTTP/1.1\r\nhost: {addr}\r\ntraceparent: 00-{trace}-00f067aa0ba902b7-01\r\nx-request-id: req-7\r\nconnection: close\r\n\r\n"
    );
    std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    terminate(&mut child, "kiln");
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut logs).unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let response = lines
        .iter()
        .find(|l| l["message"] == "response" && l["span"]["trace_id"] == trace)
        .unwrap_or_else(|| panic!("no response line for the trace in:\n{logs}"));
    assert_eq!(response["level"], "INFO");
    assert_eq!(response["status"], 404);
    assert_eq!(response["span"]["route"], "/books/{id}", "the pattern, not the path: {response}");
    assert_eq!(response["span"]["request_id"], "req-7");
    assert!(response["timestamp"].is_string() && response["target"].is_string(), "{response}");
}
