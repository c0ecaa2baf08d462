//! Answers that do not wait for the body, and bodies that cannot take forever — raw sockets,
//! both runtime flavours.
//!
//! "At once" is shown by order, not by a clock: the client reads the answer *before* it has
//! sent the body the request announced. A server that held the answer back until the body
//! arrived would leave that read waiting (the test's read is bounded by 10 s, far below the
//! servers' hour-long body timeout here, so it fails rather than hangs).

use kiln_http::extract::Json;
use kiln_http::h1::ReadLimits;
use kiln_http::http::StatusCode;
use kiln_http::middleware::TimeoutLayer;
use kiln_http::router::{get, post};
use kiln_http::{Router, ServerConfig, ServiceExt};
use kiln_net::io::AsyncWriteExt;
use kiln_net::net::TcpStream;
use std::time::Duration;

use kiln_test_support::http::{read_response, read_until_close, start};
use kiln_test_support::runtimes;

/// Body reads never time out by their pause limit in these servers: only what is tested can
/// end them.
fn patient() -> ServerConfig {
    let read_limits = ReadLimits { body_timeout: Duration::from_secs(3600), ..ReadLimits::default() };
    ServerConfig { read_limits, ..ServerConfig::default() }
}

fn app() -> Router {
    Router::new()
        // Refuses before reading the body, as an auth extractor does.
        .route("/guarded", post(|| async { (StatusCode::UNAUTHORIZED, "no token") }))
        .route("/get-only", get(|| async { "ok" }))
        .route("/echo", post(|Json(v): Json<serde_json::Value>| async move { Json(v) }))
}

/// Reads one response, failing if it does not come while the body is still owed.
async fn answer_before_body(s: &mut TcpStream) -> String {
    kiln_runtime::time::timeout(Duration::from_secs(10), read_response(s))
        .await
        .expect("the answer was held back until the body arrived")
}

#[test]
fn a_refusal_is_written_before_the_body_and_the_connection_survives() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let server = start(app(), patient()).await;
            for (path, status) in [("/guarded", "401"), ("/get-only", "405"), ("/nowhere", "404")] {
                let mut s = TcpStream::connect(server.addr).await.unwrap();
                let head = format!("POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n");
                s.write_all(head.as_bytes()).await.unwrap();
                let response = answer_before_body(&mut s).await;
                assert!(response.starts_with(&format!("HTTP/1.1 {status} ")), "{path}: {response}");
                assert!(!response.contains("connection: close"), "{path}: the body is small enough to drain");
                // The body arrives after all; it is drained, and the connection serves on.
                s.write_all(&[b' '; 1000]).await.unwrap();
                s.write_all(b"GET /get-only HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
                let next = read_response(&mut s).await;
                assert!(next.starts_with("HTTP/1.1 200 ") && next.ends_with("ok"), "{path}: {next}");
            }
            server.shutdown().await;
        });
    }
}

#[test]
fn a_client_that_never_sends_the_announced_body_loses_the_connection_after_its_answer() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let server = start(app(), patient()).await;
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            s.write_all(b"POST /guarded HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n").await.unwrap();
            assert!(answer_before_body(&mut s).await.starts_with("HTTP/1.1 401 "));
            // The drain gives up (DRAIN_TIMEOUT) and closes; the read below ends.
            assert_eq!(read_until_close(&mut s).await, "");
            server.shutdown().await;
        });
    }
}

#[test]
fn an_oversized_declared_body_is_refused_at_once() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let server = start(app(), patient()).await;
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            s.write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 99999999\r\n\r\n")
                .await
                .unwrap();
            let response = answer_before_body(&mut s).await;
            assert!(response.starts_with("HTTP/1.1 413 ") && response.contains("connection: close"), "{response}");
            server.shutdown().await;
        });
    }
}

#[test]
fn the_handler_timeout_answers_while_the_body_still_trickles() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let app = app().layer(TimeoutLayer::new(Duration::from_millis(200)));
            let server = start(app, patient()).await;
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            s.write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{")
                .await
                .unwrap();
            let response = answer_before_body(&mut s).await;
            assert!(response.starts_with("HTTP/1.1 503 "), "{response}");
            // The rest of the body comes after the answer; the connection serves on.
            s.write_all(&[b' '; 99]).await.unwrap();
            s.write_all(b"GET /get-only HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
            assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200 "));
            server.shutdown().await;
        });
    }
}

#[test]
fn a_body_trickling_below_the_minimum_rate_is_cut_off_with_408() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            // A pause limit the trickle never reaches, and a whole-body deadline of 1 s plus
            // 1 s per KiB received.
            let read_limits =
                ReadLimits { body_timeout: Duration::from_secs(1), body_min_rate: 1024, ..ReadLimits::default() };
            let server = start(app(), ServerConfig { read_limits, ..ServerConfig::default() }).await;
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            s.write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n")
                .await
                .unwrap();
            let trickle = async {
                // One byte every 300 ms: each pause is well under the 1 s limit. The server
                // cuts the connection at its deadline; a write then fails, which ends this.
                for _ in 0..100 {
                    kiln_runtime::time::sleep(Duration::from_millis(300)).await;
                    if s.write_all(b" ").await.is_err() {
                        break;
                    }
                }
            };
            let ((), response) = kiln_runtime::join!(trickle, async {
                let mut r = TcpStream::connect(server.addr).await.unwrap(); // unrelated: still served
                r.write_all(b"GET /get-only HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
                read_response(&mut r).await
            });
            assert!(response.starts_with("HTTP/1.1 200 "));
            let answer = read_until_close(&mut s).await;
            assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
            server.shutdown().await;
        });
    }
}

#[test]
fn the_handler_timeout_fires_around_a_handler_that_spends_the_whole_budget() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            // A handler that never waits: each turn receives what the last one sent.
            let hog = Router::new().route(
                "/hog",
                get(|| async {
                    let (tx, mut rx) = kiln_runtime::sync::mpsc::unbounded_channel();
                    tx.send(()).unwrap();
                    loop {
                        rx.recv().await;
                        tx.send(()).unwrap();
                    }
                    #[allow(unreachable_code)]
                    "never"
                }),
            );
            let server = start(hog.layer(TimeoutLayer::new(Duration::from_millis(100))), patient()).await;
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            s.write_all(b"GET /hog HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
            let response = answer_before_body(&mut s).await;
            assert!(response.starts_with("HTTP/1.1 503 "), "{response}");
            server.shutdown().await;
        });
    }
}
