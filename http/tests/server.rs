//! The server over real loopback sockets, driven with raw bytes: keep-alive, pipelining,
//! HTTP/1.0, HEAD, 100-continue, half-close, refused framing, the slowloris timeout, and
//! graceful shutdown with a request in flight.

use kiln_http::h1::{HeadLimits, ReadLimits};
use kiln_http::http::{Method, Request, Response, StatusCode};
use kiln_http::{Body, ServerConfig};
use kiln_net::io::{AsyncReadExt, AsyncWriteExt};
use kiln_net::net::TcpStream;
use std::time::Duration;

use kiln_test_support::http::{exchange_until_close, read_response, start, Running};
use kiln_test_support::runtimes;

/// Echoes the body for POST, says hello otherwise, sleeps on /slow.
async fn app(req: Request<Body>) -> Response<Body> {
    match (req.method(), req.uri().path()) {
        (&Method::POST, "/echo") => Response::new(req.into_body()),
        (_, "/slow") => {
            kiln_runtime::time::sleep(Duration::from_millis(300)).await;
            Response::new(Body::from("slow done"))
        }
        (_, "/empty") => {
            Response::builder().status(StatusCode::NO_CONTENT).body(Body::from("ignored")).unwrap()
        }
        (_, path) => Response::new(Body::from(format!("hello {path}"))),
    }
}

async fn start_app(config: ServerConfig) -> Running {
    start(app, config).await
}

#[test]
fn keep_alive_pipelining_and_closing_rules() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let server = start_app(ServerConfig::default()).await;
            // Three pipelined requests in one write: answered in order on one connection.
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            s.write_all(
                b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n\
                  POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody\
                  GET /three HTTP/1.1\r\nHost: x\r\n\r\n",
            )
            .await
            .unwrap();
            let one = read_response(&mut s).await;
            assert!(one.starts_with("HTTP/1.1 200 OK\r\n") && one.ends_with("hello /one"), "{one}");
            assert!(
                one.contains("\r\ndate: ")
                    && one.contains("\r\nserver: kiln\r\n")
                    && one.contains("content-length: 10")
            );
            assert!(read_response(&mut s).await.ends_with("\r\n\r\nbody"));
            assert!(read_response(&mut s).await.ends_with("hello /three"));
            // Still open: a fourth request on the same connection works.
            s.write_all(b"GET /four HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            assert!(read_response(&mut s).await.ends_with("hello /four"));

            let closed =
                exchange_until_close(server.addr, b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .await;
            assert!(closed.contains("connection: close") && closed.ends_with("hello /c"), "{closed}");
            let http10 = exchange_until_close(server.addr, b"GET /old HTTP/1.0\r\n\r\n").await;
            assert!(
                http10.starts_with("HTTP/1.0 200 OK") && http10.ends_with("hello /old"),
                "HTTP/1.0 closes: {http10}"
            );

            let mut ka = TcpStream::connect(server.addr).await.unwrap();
            ka.write_all(b"GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").await.unwrap();
            let r = read_response(&mut ka).await;
            assert!(r.contains("connection: keep-alive"), "{r}");
            ka.write_all(b"GET /k2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").await.unwrap();
            assert!(read_response(&mut ka).await.ends_with("hello /k2"));

            server.stop.send(()).unwrap();
            server.task.await.unwrap();
        });
    }
}

#[test]
fn head_no_content_continue_and_half_close() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let server = start_app(ServerConfig::default()).await;
            let head = exchange_until_close(
                server.addr,
                b"HEAD /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            .await;
            assert!(head.contains("content-length: 8\r\n"), "HEAD reports GET's length: {head}");
            assert!(head.ends_with("\r\n\r\n"), "and sends no body: {head:?}");
            let empty = exchange_until_close(
                server.addr,
                b"GET /empty HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            .await;
            assert!(
                empty.starts_with("HTTP/1.1 204")
                    && empty.ends_with("\r\n\r\n")
                    && !empty.contains("content-length"),
                "{empty}"
            );

            // Expect: 100-continue — the body is sent only after the 100.
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            s.write_all(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
            )
            .await
            .unwrap();
            kiln_test_support::http::read_continue(&mut s).await;
            s.write_all(b"hello").await.unwrap();
            assert!(read_response(&mut s).await.ends_with("hello"));

            // Half-close: the client shuts its write side after the request; it still gets
            // the answer, then the server closes.
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            s.write_all(b"GET /half HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            s.shutdown().await.unwrap();
            let mut all = String::new();
            s.read_to_string(&mut all).await.unwrap();
            assert!(all.ends_with("hello /half"), "{all}");
            server.stop.send(()).unwrap();
            server.task.await.unwrap();
        });
    }
}

#[test]
fn refused_requests_get_their_status_a_json_body_and_a_close() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let config = ServerConfig {
                read_limits: ReadLimits {
                    max_body: 16,
                    header_timeout: Duration::from_millis(200),
                    head: HeadLimits { max_uri: 64, max_head: 512, max_headers: 8 },
                    ..ReadLimits::default()
                },
                ..ServerConfig::default()
            };
            let server = start_app(config).await;
            for (raw, status) in [
                (
                    &b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                        [..],
                    "400",
                ),
                (b"GET / HTTP/1.1\r\n\r\n", "400"),
                (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "501"),
                (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n", "413"),
                (b"GET / HTTP/1.1\r\nHost: x\r\nX-Slowloris: ", "408"),
            ]
            .into_iter()
            .map(|(raw, status)| (raw.to_vec(), status))
            .chain([
                (format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(100)).into_bytes(), "414"),
                (format!("GET / HTTP/1.1\r\nHost: x\r\n{}\r\n", "X-A: 1\r\n".repeat(9)).into_bytes(), "431"),
                (
                    format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "b".repeat(600)).into_bytes(),
                    "431",
                ),
            ]) {
                let raw = raw.as_slice();
                let reply = exchange_until_close(server.addr, raw).await;
                assert!(reply.starts_with(&format!("HTTP/1.1 {status} ")), "{reply}");
                assert!(
                    reply.contains("content-type: application/problem+json")
                        && reply.contains("connection: close"),
                    "{reply}"
                );
                let body = &reply[reply.find("\r\n\r\n").unwrap() + 4..];
                let json: serde_json::Value = serde_json::from_str(body).unwrap();
                assert_eq!(json["status"].as_u64().unwrap().to_string(), status);
            }
            server.stop.send(()).unwrap();
            server.task.await.unwrap();
        });
    }
}

#[test]
fn shutdown_closes_idle_connections_and_finishes_requests_in_flight() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let server = start_app(ServerConfig::default()).await;
            let mut idle = TcpStream::connect(server.addr).await.unwrap();
            idle.write_all(b"GET /warm HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            read_response(&mut idle).await;
            let mut busy = TcpStream::connect(server.addr).await.unwrap();
            busy.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            kiln_runtime::time::sleep(Duration::from_millis(50)).await; // the handler is running
            server.stop.send(()).unwrap();
            let mut rest = Vec::new();
            idle.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty(), "the idle connection is closed without a response");
            let mut answer = String::new();
            busy.read_to_string(&mut answer).await.unwrap();
            assert!(answer.contains("connection: close") && answer.ends_with("slow done"), "{answer}");
            let summary = server.task.await.unwrap();
            assert_eq!(summary.forced, 0);
            assert!(TcpStream::connect(server.addr).await.is_err(), "no longer accepting");
        });
    }
}

#[test]
fn an_idle_keep_alive_connection_is_closed_and_a_busy_one_is_not() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let server =
                start_app(ServerConfig { keep_alive: Duration::from_millis(300), ..ServerConfig::default() })
                    .await;
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            // A request that takes as long as the keep-alive period must not count as idle
            // time: the next request on the connection is still served.
            s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            assert!(read_response(&mut s).await.ends_with("slow done"));
            for i in 0..3 {
                kiln_runtime::time::sleep(Duration::from_millis(50)).await; // well under the limit
                s.write_all(format!("GET /n{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
                assert!(read_response(&mut s).await.ends_with(&format!("hello /n{i}")));
            }
            // Then silence: the server closes the connection without a response.
            let rest = kiln_test_support::http::read_until_close(&mut s).await;
            assert!(rest.is_empty(), "{rest}");
            server.stop.send(()).unwrap();
            server.task.await.unwrap();
        });
    }
}
