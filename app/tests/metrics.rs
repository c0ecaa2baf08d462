//! `/metrics` after real traffic: requests counted by route *pattern* and status, latency
//! histograms, jobs by kind, queue depth, caches and the runtime — and the whole exposition
//! accepted by Prometheus's own checker (`promtool check metrics`, from Debian's
//! `prometheus`, which the test command installs).

mod common;

use common::start;
use kiln_http::http::{Method, StatusCode};
use serde_json::json;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The exposition, as text.
async fn scrape(s: &common::Service) -> String {
    let request = kiln_http::http::Request::get(format!("http://{}/metrics", s.addr))
        .body(kiln_http::Body::empty())
        .unwrap();
    let response = s.client.send(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    String::from_utf8(response.body().as_bytes().unwrap().to_vec()).unwrap()
}

/// The value of the sample named exactly `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn traffic_shows_up_by_route_pattern_and_promtool_accepts_the_exposition() {
    let dir = tempfile::tempdir().unwrap();
    // Timed polls, as the service's runtime has them, so the histogram is checked too.
    let rt = kiln_runtime::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_metrics_poll_time_histogram()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = start(&dir.path().join("k.db")).await;
        let admin = s.user("admin@example.com").await;
        let book = json!({"title": "Kindred", "author": "Octavia E. Butler", "year": 1979});
        s.call(Method::POST, "/books", Some(&admin), Some(book)).await;
        for id in [1, 1, 2] {
            s.call(Method::GET, &format!("/books/{id}"), None, None).await;
        }
        s.call(Method::GET, "/no/such/thing", None, None).await;
        let (status, _, job) = s.call(Method::POST, "/jobs", Some(&admin), Some(json!({"kind": "demo"}))).await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        let deadline = Instant::now() + Duration::from_secs(10);
        let text = loop {
            let text = scrape(&s).await;
            // The signup's welcome email runs beside the demo job; wait for both.
            let demo = sample(&text, r#"jobs_succeeded_total{kind="demo"}"#);
            let finished = sample(&text, r#"jobs_queue_depth{state="succeeded"}"#);
            if demo == Some(1.0) && finished == Some(2.0) {
                break text;
            }
            assert!(Instant::now() < deadline, "the demo job and the welcome email never both counted:\n{text}");
            kiln_runtime::time::sleep(Duration::from_millis(20)).await;
        };
        let get = |status| format!(r#"http_requests_total{{method="GET",route="/books/{{id}}",status="{status}"}}"#);
        assert_eq!(sample(&text, &get(200)), Some(2.0), "one pattern for every id:\n{text}");
        assert_eq!(sample(&text, &get(404)), Some(1.0));
        assert_eq!(sample(&text, r#"http_requests_total{method="GET",route="unmatched",status="404"}"#), Some(1.0));
        assert_eq!(sample(&text, r#"http_requests_total{method="POST",route="/auth/signup",status="201"}"#), Some(1.0));
        assert_eq!(
            sample(&text, r#"http_request_duration_seconds_count{method="GET",route="/books/{id}"}"#),
            Some(3.0)
        );
        assert_eq!(
            sample(&text, r#"http_request_duration_seconds_bucket{method="GET",route="/books/{id}",le="+Inf"}"#),
            Some(3.0)
        );
        assert_eq!(sample(&text, r#"jobs_enqueued_total{kind="demo"}"#), Some(1.0));
        assert_eq!(sample(&text, r#"jobs_enqueued_total{kind="welcome_email"}"#), Some(1.0), "the signup's");
        assert_eq!(sample(&text, "auth_logins_throttled_total"), Some(0.0));
        assert_eq!(sample(&text, r#"jobs_failed_total{kind="demo"}"#), Some(0.0));
        // SQLite labels its pool's gauges by role; PostgreSQL has one pool.
        for family in ["db_pool_in_use_connections", "db_pool_waits_total"] {
            assert!(text.lines().any(|l| l.starts_with(family) && !l.starts_with('#')), "{family}: {text}");
        }
        assert_eq!(sample(&text, r#"otel_spans_dropped_total{reason="queue_full"}"#), Some(0.0), "nothing exported here");
        assert!(sample(&text, r#"cache_hits_total{cache="books"}"#).unwrap() >= 1.0);
        assert!(sample(&text, "runtime_workers").unwrap() >= 1.0);
        let polls = sample(&text, "runtime_poll_duration_seconds_count").unwrap();
        assert!(polls >= 1.0, "{text}");
        assert_eq!(sample(&text, r#"runtime_poll_duration_seconds_bucket{le="+Inf"}"#), Some(polls));
        assert_eq!(sample(&text, "http_requests_in_flight"), Some(1.0), "the scrape itself");

        let mut promtool = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run promtool ({e}): install Debian's prometheus (scripts/test-all does) to run this test")
            });
        promtool.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = promtool.wait_with_output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "promtool refused the exposition: {said}\n{text}");
        assert!(!said.contains("error"), "{said}");
        s.stop().await;
    });
}
