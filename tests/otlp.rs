//! Spans exported over OTLP/HTTP to a local receiver (a Kiln server standing for an
//! OpenTelemetry collector): one signup, traced from the caller through the API's request,
//! the welcome-email job and its call to the mailer, into the mailer process's own request —
//! four spans of two processes, each the child of the one before, and the database write
//! inside the request. And the back-pressure
//! side: with no collector and a one-span queue, spans are dropped and counted while the
//! service answers as before.

use kiln::http::extract::State;
use kiln::http::http::{Request, StatusCode};
use kiln::http::router::post;
use kiln::http::{Body, Client, Router};
use kiln_test_support::{spawn_announcing, terminate, wait_until};
use serde_json::Value;
use std::io::{BufReader, Read};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};

const KILN: &str = env!("CARGO_BIN_EXE_kiln");

/// Every export request the receiver got, as JSON.
type Received = Arc<Mutex<Vec<Value>>>;

/// A collector on a free port, serving on its own runtime; returns its base URL.
fn receiver(rt: &kiln::runtime::Runtime, received: Received) -> String {
    async fn traces(State(received): State<Received>, body: String) -> StatusCode {
        match serde_json::from_str(&body) {
            Ok(json) => {
                received.lock().unwrap().push(json);
                StatusCode::OK
            }
            Err(_) => StatusCode::BAD_REQUEST,
        }
    }
    let app = Router::new().route("/v1/traces", post(traces)).with_state(received);
    let server = rt.block_on(kiln::http::Server::bind("127.0.0.1:0")).unwrap();
    let addr = server.local_addr().unwrap();
    rt.spawn(server.serve(app, std::future::pending::<()>()));
    format!("http://{addr}")
}

/// Spawns `kiln args…` with `env`; the address its first line (starting `prefix`) names.
fn spawn(
    args: &[&str],
    env: &[(&str, &str)],
    prefix: &str,
) -> (Child, String, BufReader<std::process::ChildStdout>) {
    spawn_announcing(Command::new(KILN).args(args).envs(env.iter().copied()), prefix)
}

/// The rest of a child's stdout.
fn rest(mut out: BufReader<std::process::ChildStdout>) -> String {
    let mut text = String::new();
    out.read_to_string(&mut text).unwrap();
    text
}

/// Every span received, with its service's name.
fn spans(received: &Received) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for request in received.lock().unwrap().iter() {
        for rs in request["resourceSpans"].as_array().unwrap() {
            let service = rs["resource"]["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["key"] == "service.name")
                .map(|a| a["value"]["stringValue"].as_str().unwrap().to_owned())
                .unwrap();
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for span in ss["spans"].as_array().unwrap() {
                    out.push((service.clone(), span.clone()));
                }
            }
        }
    }
    out
}

/// A string attribute of `span`.
fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a str> {
    span["attributes"].as_array()?.iter().find(|a| a["key"] == key)?["value"]["stringValue"].as_str()
}

#[test]
fn a_signup_is_one_trace_from_the_caller_through_its_job_into_the_mailer() {
    let dir = tempfile::tempdir().unwrap();
    let rt = kiln::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
    let received = Received::default();
    let collector = receiver(&rt, received.clone());
    // A long schedule: the spans arrive only because each process flushes at shutdown.
    let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", collector.as_str()), ("OTEL_BSP_SCHEDULE_DELAY", "600000")];
    let outbox = dir.path().join("mail.outbox");
    let (mut mailer, mailer_addr, mailer_out) = spawn(
        &["mailer", "--addr", "127.0.0.1:0", "--outbox", outbox.to_str().unwrap()],
        &env,
        "kiln mailer: listening on http://",
    );
    let db = dir.path().join("k.db");
    let mailer_url = format!("http://{mailer_addr}");
    let (mut api, addr, api_out) = spawn(
        &[
            "--addr",
            "127.0.0.1:0",
            "--db",
            db.to_str().unwrap(),
            "--bcrypt-cost",
            "4",
            "--mailer-url",
            &mailer_url,
        ],
        &env,
        "kiln: listening on http://",
    );

    let (caller_trace, caller_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let status = rt.block_on(async {
        let request = Request::post(format!("http://{addr}/auth/signup"))
            .header("content-type", "application/json")
            .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
            .body(Body::from(
                r#"{"email":"ada@example.com","password":"correct horse","display_name":"Ada"}"#,
            ))
            .unwrap();
        Client::new().send(request).await.unwrap().status()
    });
    assert_eq!(status, StatusCode::CREATED);
    wait_until("the welcome email reaches the mailer's outbox", || {
        std::fs::read_to_string(&outbox).is_ok_and(|t| t.contains("ada@example.com"))
    });
    assert!(spans(&received).is_empty(), "nothing is sent before a batch is due or flushed");
    terminate(&mut api, "kiln");
    terminate(&mut mailer, "kiln mailer");
    let api_said = rest(api_out);
    assert!(api_said.contains(&format!("traces: spans to {collector}/v1/traces")), "{api_said}");
    let mut logs = String::new();
    api.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    let (draining, flushed) = (logs.find("shutting down"), logs.find("flushed the spans still queued"));
    assert!(draining.is_some() && flushed > draining, "drain first, then flush: {logs}");
    drop(rest(mailer_out));

    let all = spans(&received);
    let find = |service: &str, name: &str, parent: &str| {
        all.iter()
            .find(|(s, span)| s == service && span["name"] == name && span["parentSpanId"] == parent)
            .map(|(_, span)| span.clone())
            .unwrap_or_else(|| panic!("no {name} span of {service} under {parent} in {all:#?}"))
    };
    let request = find("kiln", "request", caller_span);
    assert_eq!(request["kind"], 2, "a server span");
    assert_eq!(attribute(&request, "route"), Some("/auth/signup"));
    let status = request["attributes"].as_array().unwrap().iter().find(|a| a["key"] == "status").unwrap();
    assert_eq!(status["value"]["intValue"], "201", "the response's status, recorded on the span");
    let write = find("kiln", "sqlite", request["spanId"].as_str().unwrap());
    assert_eq!(
        attribute(&write, "db.operation"),
        Some("write"),
        "the signup's transaction, inside the request"
    );
    let job = find("kiln", "job", request["spanId"].as_str().unwrap());
    assert_eq!((job["kind"].as_i64(), attribute(&job, "kind")), (Some(5), Some("welcome_email")));
    assert_eq!(job["status"]["code"], 0, "the attempt succeeded: {job}");
    let call = find("kiln", "mailer.deliver", job["spanId"].as_str().unwrap());
    assert_eq!(call["kind"], 3, "a client span");
    let delivered = find("kiln-mailer", "request", call["spanId"].as_str().unwrap());
    assert_eq!(attribute(&delivered, "route"), Some("/messages"));
    for span in [&request, &job, &call, &delivered] {
        assert_eq!(span["traceId"], caller_trace, "one trace: {span}");
        let (start, end) =
            (span["startTimeUnixNano"].as_str().unwrap(), span["endTimeUnixNano"].as_str().unwrap());
        assert!(start.parse::<u128>().unwrap() <= end.parse::<u128>().unwrap(), "{span}");
    }
    // The call is inside the job, the job after the request that enqueued it.
    let at = |s: &Value, f: &str| s[f].as_str().unwrap().parse::<u128>().unwrap();
    assert!(at(&call, "startTimeUnixNano") >= at(&job, "startTimeUnixNano"));
    assert!(at(&call, "endTimeUnixNano") <= at(&job, "endTimeUnixNano"));
    assert!(at(&delivered, "startTimeUnixNano") >= at(&call, "startTimeUnixNano"), "one machine, one clock");
    assert!(at(&job, "startTimeUnixNano") >= at(&request, "startTimeUnixNano"));
}

#[test]
fn without_a_collector_spans_are_dropped_and_counted_while_the_service_answers() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on, and a queue of one span.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let endpoint = format!("http://{closed}");
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "1"),
        ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
    ];
    let db = dir.path().join("k.db");
    let (mut api, addr, out) =
        spawn(&["--addr", "127.0.0.1:0", "--db", db.to_str().unwrap()], &env, "kiln: listening on http://");
    let rt = kiln::runtime::Builder::new_current_thread().build().unwrap();
    let metrics = rt.block_on(async {
        let client = Client::new();
        for _ in 0..20 {
            assert_eq!(client.get(&format!("http://{addr}/books")).await.unwrap().status(), StatusCode::OK);
        }
        let r = client.get(&format!("http://{addr}/metrics")).await.unwrap();
        String::from_utf8(r.body().as_bytes().unwrap().to_vec()).unwrap()
    });
    let sample = |series: &str| {
        metrics.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse::<f64>().ok()).unwrap()
    };
    // One span being sent, one queued: most of the twenty requests' spans found no room.
    assert!(sample(r#"otel_spans_dropped_total{reason="queue_full"}"#) >= 10.0, "{metrics}");
    assert_eq!(sample("otel_spans_exported_total"), 0.0);
    terminate(&mut api, "kiln");
    drop(rest(out));
    let mut logs = String::new();
    api.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    assert!(logs.contains("dropped spans: cannot reach the collector"), "{logs}");
}
