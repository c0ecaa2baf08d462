//! Connections that hold a slot and do nothing: the first-byte timeout, room made at the
//! connection limit by closing the connection idle longest (silent ones first), the 503 when
//! every connection is busy, and a real client answered while hundreds of silent connections
//! are open. Raw sockets, both runtime flavours.

use kiln_http::http::{Request, Response};
use kiln_http::{Body, ServerConfig};
use kiln_net::io::AsyncWriteExt;
use kiln_net::net::TcpStream;
use kiln_runtime::sync::Notify;
use std::sync::Arc;
use std::time::Duration;

use kiln_test_support::http::{read_response, read_until_close, start, Running};
use kiln_test_support::runtimes;

/// `/hold` tells `held` it has started and answers once `release` is notified (a busy
/// connection); any other path says hello.
#[derive(Clone, Default)]
struct Hold {
    held: Arc<Notify>,
    release: Arc<Notify>,
}

async fn serve(hold: Hold, req: Request<Body>) -> Response<Body> {
    if req.uri().path() == "/hold" {
        hold.held.notify_one();
        hold.release.notified().await;
    }
    Response::new(Body::from(format!("hello {}", req.uri().path())))
}

async fn start_with(config: ServerConfig) -> (Running, Hold) {
    let hold = Hold::default();
    let h = hold.clone();
    (start(move |req| serve(h.clone(), req), config).await, hold)
}

/// Patient defaults, so that only what a test arranges closes a connection.
fn config(max_connections: usize) -> ServerConfig {
    ServerConfig {
        max_connections,
        first_byte_timeout: Duration::from_secs(60),
        keep_alive: Duration::from_secs(60),
        ..ServerConfig::default()
    }
}

async fn get(s: &mut TcpStream, path: &str) -> String {
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes()).await.unwrap();
    read_response(s).await
}

#[test]
fn every_slot_busy_is_a_503_problem_with_retry_after() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let (server, hold) = start_with(config(1)).await;
            let mut busy = TcpStream::connect(server.addr).await.unwrap();
            busy.write_all(b"GET /hold HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
            hold.held.notified().await; // the only slot is busy in the handler
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            let refused = read_until_close(&mut s).await;
            assert!(refused.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{refused}");
            assert!(refused.contains("\r\nretry-after: 1\r\n"), "{refused}");
            assert!(refused.contains("\r\ncontent-type: application/problem+json\r\n"), "{refused}");
            let body: serde_json::Value =
                serde_json::from_str(kiln_test_support::http::body_of(&refused)).unwrap();
            assert_eq!(body["status"], 503);
            hold.release.notify_one();
            assert!(read_response(&mut busy).await.ends_with("hello /hold"));
            server.shutdown().await;
        });
    }
}

#[test]
fn at_the_limit_the_idle_connection_makes_room() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let (server, _) = start_with(config(1)).await;
            let mut old = TcpStream::connect(server.addr).await.unwrap();
            assert!(get(&mut old, "/first").await.ends_with("hello /first"));
            // `old` waits between requests; a new client takes its slot.
            let mut new = TcpStream::connect(server.addr).await.unwrap();
            assert!(get(&mut new, "/second").await.ends_with("hello /second"));
            assert_eq!(read_until_close(&mut old).await, "", "the idle one was closed, without a response");
            server.shutdown().await;
        });
    }
}

#[test]
fn silent_connections_make_room_first_then_the_longest_idle() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let (server, _) = start_with(config(3)).await;
            let mut keep_alive = TcpStream::connect(server.addr).await.unwrap();
            assert!(get(&mut keep_alive, "/a").await.ends_with("hello /a"));
            let mut silent_old = TcpStream::connect(server.addr).await.unwrap();
            let mut silent_young = TcpStream::connect(server.addr).await.unwrap();
            // Each newcomer is served once the right connection made room, in this order. The
            // newcomers stay connected (idle between requests, younger than `keep_alive`).
            let mut newcomers = Vec::new();
            for (victim, path) in
                [(&mut silent_old, "/b"), (&mut silent_young, "/c"), (&mut keep_alive, "/d")]
            {
                let mut newcomer = TcpStream::connect(server.addr).await.unwrap();
                assert!(get(&mut newcomer, path).await.ends_with(&format!("hello {path}")));
                assert_eq!(read_until_close(victim).await, "", "{path}: the expected connection closed");
                newcomers.push(newcomer);
            }
            server.shutdown().await;
        });
    }
}

#[test]
fn a_silent_connection_is_closed_after_the_first_byte_timeout_and_keep_alive_is_longer() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let cfg = ServerConfig { first_byte_timeout: Duration::from_millis(500), ..config(10) };
            let (server, _) = start_with(cfg).await;
            let mut silent = TcpStream::connect(server.addr).await.unwrap();
            let mut talking = TcpStream::connect(server.addr).await.unwrap();
            assert!(get(&mut talking, "/one").await.ends_with("hello /one"));
            assert_eq!(read_until_close(&mut silent).await, "", "closed without a word");
            // Past the first-byte timeout, the connection that spoke is still kept alive.
            assert!(get(&mut talking, "/two").await.ends_with("hello /two"));
            server.shutdown().await;
        });
    }
}

#[test]
fn a_client_is_answered_while_hundreds_of_silent_connections_are_open() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let (server, _) = start_with(config(100)).await;
            let mut silent = Vec::new();
            for _ in 0..300 {
                silent.push(TcpStream::connect(server.addr).await.unwrap());
            }
            let mut client = TcpStream::connect(server.addr).await.unwrap();
            assert!(get(&mut client, "/real").await.ends_with("hello /real"));
            drop(silent);
            server.shutdown().await;
        });
    }
}
