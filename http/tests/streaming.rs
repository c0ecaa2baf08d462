//! Streamed bodies over real sockets: a handler reading an upload as it arrives, a response
//! streamed chunk by chunk as it is produced, `100 Continue` only for a handler that reads,
//! and what happens to a body the handler did not read (drained and the connection reused,
//! or the connection closed).

use bytes::Bytes;
use kiln_http::http::{Request, Response, StatusCode};
use kiln_http::router::{get, post};
use kiln_http::{Body, Router, ServerConfig};
use kiln_net::io::AsyncWriteExt;
use kiln_net::net::TcpStream;
use kiln_runtime::sync::mpsc;
use std::convert::Infallible;
use std::time::Duration;

use kiln_test_support::http::{body_of, read_chunk, read_head, read_response, read_until_close, start};
use kiln_test_support::runtimes;

/// A stream from an mpsc receiver (what a handler streaming live data would use).
fn channel_body(rx: mpsc::Receiver<&'static str>) -> Body {
    Body::from_stream(ReceiverStream(rx))
}

struct ReceiverStream(mpsc::Receiver<&'static str>);

impl futures_core::Stream for ReceiverStream {
    type Item = Result<Bytes, Infallible>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|o| o.map(|s| Ok(Bytes::from_static(s.as_bytes()))))
    }
}

#[test]
fn a_handler_reads_an_upload_while_it_arrives() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            // The handler reports each chunk it gets; the client sends the second chunk only
            // after the server has seen the first. A server that buffered whole bodies would
            // never report the first chunk, and the test would time out.
            let (seen_tx, mut seen_rx) = mpsc::channel::<usize>(8);
            let app = Router::new().route(
                "/upload",
                post(move |req: Request<Body>| {
                    let seen_tx = seen_tx.clone();
                    async move {
                        let mut body = req.into_body();
                        let mut total = 0;
                        while let Some(chunk) = body.chunk().await {
                            total += chunk.unwrap().len();
                            seen_tx.send(total).await.unwrap();
                        }
                        format!("got {total}")
                    }
                }),
            );
            let server = start(app, ServerConfig::default()).await;
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            s.write_all(
                b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n",
            )
            .await
            .unwrap();
            let first = kiln_runtime::time::timeout(Duration::from_secs(10), seen_rx.recv()).await;
            assert_eq!(first.expect("the handler saw the first chunk before the body ended"), Some(5));
            s.write_all(b"6\r\nsecond\r\n0\r\n\r\n").await.unwrap();
            assert_eq!(seen_rx.recv().await, Some(11));
            let r = read_response(&mut s).await;
            assert!(r.starts_with("HTTP/1.1 200") && body_of(&r) == "got 11", "{r}");
            // The connection is reusable after a streamed upload.
            s.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc").await.unwrap();
            assert_eq!(body_of(&read_response(&mut s).await), "got 3");
            server.shutdown().await;
        });
    }
}

#[test]
fn a_streamed_response_is_sent_chunk_by_chunk_as_it_is_produced() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let (producer, rx) = mpsc::channel::<&'static str>(4);
            let rx = std::sync::Arc::new(std::sync::Mutex::new(Some(rx)));
            let app = Router::new().route(
                "/live",
                get(move || {
                    let rx = rx.lock().unwrap().take().expect("one request");
                    async move { ([("content-type", "text/plain")], channel_body(rx)) }
                }),
            );
            let server = start(app, ServerConfig::default()).await;
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            s.write_all(b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            producer.send("tick 1").await.unwrap();
            let head = read_head(&mut s).await;
            assert!(
                head.contains("transfer-encoding: chunked") && !head.contains("content-length"),
                "{head}"
            );
            // Each chunk arrives before the next is produced: flushed, not buffered.
            assert_eq!(read_chunk(&mut s).await.as_deref(), Some("tick 1"));
            producer.send("tick 2").await.unwrap();
            assert_eq!(read_chunk(&mut s).await.as_deref(), Some("tick 2"));
            drop(producer);
            assert_eq!(read_chunk(&mut s).await, None, "the end of the stream ends the body");
            server.shutdown().await;
        });
    }
}

async fn streamed(length: Option<u64>) -> Response<Body> {
    let (tx, rx) = mpsc::channel(4);
    tx.send("abc").await.unwrap();
    tx.send("def").await.unwrap();
    drop(tx);
    Response::new(Body::from_stream_sized(ReceiverStream(rx), length))
}

#[test]
fn streamed_bodies_on_http_1_0_and_with_a_known_or_wrong_length() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let app = Router::new()
                .route("/unsized", get(|| streamed(None)))
                .route("/sized", get(|| streamed(Some(6))))
                .route("/lying", get(|| streamed(Some(10))));
            let server = start(app, ServerConfig::default()).await;
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            s.write_all(b"GET /sized HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            let r = read_response(&mut s).await;
            assert!(r.contains("content-length: 6\r\n") && body_of(&r) == "abcdef", "{r}");
            // HTTP/1.0 has no chunked coding: the body ends when the connection closes.
            let r =
                kiln_test_support::http::exchange_until_close(server.addr, b"GET /unsized HTTP/1.0\r\n\r\n")
                    .await;
            assert!(r.starts_with("HTTP/1.0 200") && !r.contains("transfer-encoding"), "{r}");
            assert!(r.contains("connection: close") && body_of(&r) == "abcdef", "{r}");
            // A stream shorter than its announced length: the connection is cut, so the
            // client sees a truncated body rather than a wrong one.
            let r = kiln_test_support::http::exchange_until_close(
                server.addr,
                b"GET /lying HTTP/1.1\r\nHost: x\r\n\r\n",
            )
            .await;
            assert!(r.contains("content-length: 10") && body_of(&r).len() < 10, "{r}");
            server.shutdown().await;
        });
    }
}

#[test]
fn continue_is_sent_only_to_a_handler_that_reads_the_body() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let app = Router::new()
                .route("/refuse", post(|| async { StatusCode::UNAUTHORIZED }))
                .route("/read", post(|body: String| async move { format!("read {body}") }));
            let server = start(app, ServerConfig::default()).await;
            // The handler answers without reading: no 100, the final answer, and a close
            // (the client may or may not send the body now).
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            s.write_all(
                b"POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
            )
            .await
            .unwrap();
            let r = read_until_close(&mut s).await;
            assert!(r.starts_with("HTTP/1.1 401") && !r.contains("100 Continue"), "{r}");
            assert!(r.contains("connection: close"), "{r}");
            // The handler reads: 100 first, then the body, then the answer.
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            s.write_all(
                b"POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
            )
            .await
            .unwrap();
            kiln_test_support::http::read_continue(&mut s).await;
            s.write_all(b"hello").await.unwrap();
            assert_eq!(body_of(&read_response(&mut s).await), "read hello");
            server.shutdown().await;
        });
    }
}

#[test]
fn an_unread_body_is_drained_when_small_and_closes_the_connection_when_large() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let app = Router::new().route("/ignore", post(|| async { "ignored" }));
            let server = start(app, ServerConfig::default()).await;
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            // The body arrives after the head (not in the same read), so it reaches the
            // handler as an incoming body that the handler then drops unread.
            s.write_all(b"POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n").await.unwrap();
            kiln_runtime::time::sleep(Duration::from_millis(20)).await;
            s.write_all(b"0123456789POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
                .await
                .unwrap();
            let first = read_response(&mut s).await;
            let second = read_response(&mut s).await;
            assert!(body_of(&first) == "ignored" && !first.contains("connection: close"), "{first}");
            assert_eq!(body_of(&second), "ignored", "the drained connection served the next request");

            // More than DRAIN_LIMIT left unread: answered, then closed.
            let big = kiln_http::server::DRAIN_LIMIT + 1;
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            s.write_all(
                format!("POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: {big}\r\n\r\n").as_bytes(),
            )
            .await
            .unwrap();
            let writer = kiln_runtime::spawn(async move {
                let _ = s.write_all(&vec![b'x'; big]).await;
                s
            });
            let mut s = writer.await.unwrap();
            let r = read_until_close(&mut s).await;
            assert!(r.starts_with("HTTP/1.1 200") && body_of(&r) == "ignored", "{r}");
            server.shutdown().await;
        });
    }
}

#[test]
fn a_body_kept_past_the_response_closes_the_connection() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let (keep_tx, mut keep_rx) = mpsc::channel::<Body>(1);
            let app = Router::new().route(
                "/keep",
                post(move |body: Body| {
                    let keep_tx = keep_tx.clone();
                    async move {
                        keep_tx.send(body).await.unwrap();
                        "kept"
                    }
                }),
            );
            let server = start(app, ServerConfig::default()).await;
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            s.write_all(b"POST /keep HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                .await
                .unwrap();
            let r = read_until_close(&mut s).await;
            assert!(body_of(&r) == "kept", "answered, then closed: {r}");
            drop(keep_rx.recv().await);
            server.shutdown().await;
        });
    }
}
