//! What the connection reuses between requests must never carry anything across: a
//! response's `HeaderMap` becomes the next request's header map (emptied first), and request
//! heads are copied into blocks of 192 or 1024 bytes or a vector beyond that. Real sockets,
//! pipelined and sequential requests, heads of every size class.

use kiln_http::http::{HeaderValue, Request, Response};
use kiln_http::{Body, ServerConfig};
use kiln_net::io::AsyncWriteExt;
use kiln_net::net::TcpStream;

use kiln_test_support::http::{body_of, read_response, start};
use kiln_test_support::runtimes;

/// Answers with the request's header names and the `x-pad` value, and sets a response header
/// named after the path, which the next request must not see.
async fn app(req: Request<Body>) -> Response<Body> {
    let mut names: Vec<&str> = req.headers().keys().map(|k| k.as_str()).collect();
    names.sort_unstable();
    let pad = req.headers().get("x-pad").map_or("", |v| v.to_str().unwrap()).to_owned();
    let mut r = Response::new(Body::from(format!("{} pad={pad}", names.join(","))));
    let marker = format!("x-from{}", req.uri().path().replace('/', "-"));
    r.headers_mut().insert(
        kiln_http::http::HeaderName::from_bytes(marker.as_bytes()).unwrap(),
        HeaderValue::from_static("secret"),
    );
    r
}

#[test]
fn a_recycled_header_map_carries_nothing_into_the_next_request() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let server = start(app, ServerConfig::default()).await;
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            // Pipelined, then one at a time: every response's map is recycled.
            s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\nX-One: 1\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let a = read_response(&mut s).await;
            assert!(a.contains("\r\nx-from-a: secret\r\n"), "{a}");
            assert_eq!(body_of(&a), "host,x-one pad=");
            let b = read_response(&mut s).await;
            assert_eq!(body_of(&b), "host pad=", "nothing of /a's request or response: {b}");
            assert!(b.contains("x-from-b") && !b.contains("x-from-a"), "{b}");
            s.write_all(b"GET /c HTTP/1.1\r\nHost: x\r\nX-Two: 2\r\nX-Three: 3\r\n\r\n").await.unwrap();
            let c = read_response(&mut s).await;
            assert_eq!(body_of(&c), "host,x-three,x-two pad=", "{c}");
            assert!(!c.contains("x-from-b"), "{c}");
            server.shutdown().await;
        });
    }
}

#[test]
fn heads_of_every_size_class_arrive_intact() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let server = start(app, ServerConfig::default()).await;
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            // Around each copy boundary (192 and 1024 bytes of head) and well beyond.
            for pad in [0, 100, 150, 160, 170, 900, 970, 990, 1000, 1010, 4000] {
                let value: String = (0..pad).map(|i| (b'a' + (i % 26) as u8) as char).collect();
                let head = format!("GET /p HTTP/1.1\r\nHost: x\r\nX-Pad: {value}\r\n\r\n");
                s.write_all(head.as_bytes()).await.unwrap();
                let r = read_response(&mut s).await;
                assert_eq!(body_of(&r), format!("host,x-pad pad={value}"), "head of {} bytes", head.len());
            }
            server.shutdown().await;
        });
    }
}
