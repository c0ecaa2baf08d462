//! `RequestReader` over an in-memory connection: pipelined requests, both body framings,
//! the body limit, and the slowloris and stalled-body timeouts on the paused clock.

use http::{Method, StatusCode};
use kiln_http::h1::{ReadLimits, RequestReader};
use kiln_net::io::{duplex, AsyncWriteExt, DuplexStream};
use std::time::Duration;

fn paused_runtime() -> kiln_runtime::runtime::Runtime {
    kiln_runtime::runtime::Builder::new_current_thread().start_paused(true).build().unwrap()
}

fn reader(limits: ReadLimits) -> (DuplexStream, RequestReader<DuplexStream>) {
    let (client, server) = duplex(64 * 1024);
    (client, RequestReader::new(server, limits))
}

#[test]
fn pipelined_requests_come_out_in_order_with_their_bodies() {
    paused_runtime().block_on(async {
        let (mut client, mut reader) = reader(ReadLimits::default());
        // Three requests in one write: sized body, chunked body (split oddly), no body.
        client
            .write_all(
                b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
                  POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;e=1\r\nde\r\n0\r\nT: 1\r\n\r\n\
                  GET /c HTTP/1.1\r\nHost: x\r\n\r\n",
            )
            .await
            .unwrap();
        let a = reader.next_request().await.unwrap().unwrap();
        assert_eq!((a.head.method, a.head.uri.path(), a.body.as_slice()), (Method::POST, "/a", &b"hello"[..]));
        assert!(reader.has_buffered(), "the next requests are already buffered");
        let b = reader.next_request().await.unwrap().unwrap();
        assert_eq!((b.head.uri.path(), b.body.as_slice()), ("/b", &b"abcde"[..]));
        let c = reader.next_request().await.unwrap().unwrap();
        assert_eq!((c.head.method, c.body.len()), (Method::GET, 0));
        drop(client);
        assert!(reader.next_request().await.unwrap().is_none(), "a clean close between requests");
    });
}

#[test]
fn a_body_arriving_in_pieces_is_assembled_and_not_overread() {
    paused_runtime().block_on(async {
        let (mut client, mut reader) = reader(ReadLimits::default());
        let writer = kiln_runtime::spawn(async move {
            client.write_all(b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123").await.unwrap();
            kiln_runtime::time::sleep(Duration::from_millis(100)).await;
            client.write_all(b"456789GET /next HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            client
        });
        let r = reader.next_request().await.unwrap().unwrap();
        assert_eq!(r.body, b"0123456789");
        let next = reader.next_request().await.unwrap().unwrap();
        assert_eq!(next.head.uri.path(), "/next");
        drop(writer.await.unwrap());
    });
}

#[test]
fn limits_and_timeouts_have_their_statuses() {
    paused_runtime().block_on(async {
        let limits = ReadLimits { max_body: 8, ..ReadLimits::default() };
        let (mut client, mut reader) = reader(limits);
        client.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n").await.unwrap();
        assert_eq!(reader.next_request().await.unwrap_err().status(), StatusCode::PAYLOAD_TOO_LARGE);

        let (mut client, mut reader) = self::reader(limits);
        client.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n").await.unwrap();
        assert_eq!(reader.next_request().await.unwrap_err().status(), StatusCode::PAYLOAD_TOO_LARGE, "chunked bodies count too");

        // Slowloris: a head that starts but never finishes.
        let (mut client, mut reader) = self::reader(ReadLimits::default());
        client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
        let started = kiln_runtime::time::Instant::now();
        assert_eq!(reader.next_request().await.unwrap_err().status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(started.elapsed(), ReadLimits::default().header_timeout, "exactly the header timeout (paused clock)");

        // A body that stalls.
        let (mut client, mut reader) = self::reader(ReadLimits::default());
        client.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part").await.unwrap();
        assert_eq!(reader.next_request().await.unwrap_err().status(), StatusCode::REQUEST_TIMEOUT);

        // A malformed chunked body is a 400.
        let (mut client, mut reader) = self::reader(ReadLimits::default());
        client.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").await.unwrap();
        assert_eq!(reader.next_request().await.unwrap_err().status(), StatusCode::BAD_REQUEST);

        // A client that closes mid-head or mid-body.
        let (mut client, mut reader) = self::reader(ReadLimits::default());
        client.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
        drop(client);
        assert_eq!(reader.next_request().await.unwrap_err().status(), StatusCode::BAD_REQUEST);
    });
}

#[test]
fn an_idle_connection_waits_without_a_header_timeout() {
    paused_runtime().block_on(async {
        let (client, mut reader) = reader(ReadLimits::default());
        // Nothing sent: keep-alive idleness is the connection loop's timeout, not this one.
        let waited = kiln_runtime::time::timeout(Duration::from_secs(60), reader.next_request()).await;
        assert!(waited.is_err(), "no 408 for a connection that has not started a request");
        drop(client);
    });
}
