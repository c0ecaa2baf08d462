//! One HTTP/1.1 connection: read a request, call the handler, write the response, repeat.
//!
//! Pipelining: when a client sends several requests at once, they are all parsed from the
//! same read buffer and answered in order, and their responses are collected into one write
//! buffer that goes out when no complete request is left buffered (one `write` for the
//! batch) or when it passes [`WRITE_HIGH_WATER`] (so a client that pipelines without reading
//! cannot make the server hold an unbounded amount of output).
//!
//! The connection closes after a response when the request asked (`Connection: close`, or
//! HTTP/1.0 without `keep-alive`), when its framing was refused (400, 408, 413, …), when the
//! client closed its side, when it stays idle past `keep_alive`, or when the server shuts
//! down: an idle connection is closed at once, a request in progress is answered with
//! `Connection: close`.

use super::ServerConfig;
use crate::h1::{write_response_head, BodyFraming, HeadError, RequestReader};
use crate::{Body, Handler};
use http::{Method, Request, Response};
use kiln_net::io::AsyncWriteExt;
use kiln_net::net::TcpStream;
use kiln_net::shutdown::ShutdownListener;
use std::net::SocketAddr;

/// Output buffered before it is written even though more pipelined requests wait.
pub const WRITE_HIGH_WATER: usize = 64 * 1024;

/// The peer's address, put in each request's extensions for handlers that want it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Serves one connection until it closes.
pub(crate) async fn serve<H: Handler>(
    stream: TcpStream,
    peer: SocketAddr,
    handler: H,
    config: ServerConfig,
    mut shutdown: ShutdownListener,
) {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut reader = RequestReader::new(read, config.read_limits);
    let mut out = Vec::with_capacity(4096);
    loop {
        // Between requests: wait for the next one, unless idle too long or shutting down.
        // A pipelined request already buffered is taken at once.
        let head = if reader.has_buffered() {
            reader.next_head().await
        } else {
            if flush(&mut write, &mut out).await.is_err() {
                return;
            }
            kiln_runtime::select! {
                biased;
                () = shutdown.recv() => break,
                waited = kiln_runtime::time::timeout(config.keep_alive, reader.next_head()) => match waited {
                    Ok(head) => head,
                    Err(_) => break, // idle keep-alive connection
                },
            }
        };
        let head = match head {
            Ok(Some(head)) => head,
            Ok(None) => break,
            Err(e) => {
                error_response(&mut out, &e);
                break;
            }
        };
        if head.expect_continue && head.framing != crate::h1::Framing::Length(0) {
            // The client waits for this before sending the body. (Kiln reads every body
            // before calling the handler for now, so the 100 is sent whenever a body is
            // announced.)
            out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            if flush(&mut write, &mut out).await.is_err() {
                return;
            }
        }
        let body = match reader.read_body(head.framing).await {
            Ok(b) => b,
            Err(e) => {
                error_response(&mut out, &e);
                break;
            }
        };
        let is_head = head.method == Method::HEAD;
        let version = head.version;
        let keep_alive = head.keep_alive;
        let mut request = Request::new(Body::from(body));
        *request.method_mut() = head.method;
        *request.uri_mut() = head.uri;
        *request.version_mut() = head.version;
        *request.headers_mut() = head.headers;
        request.extensions_mut().insert(PeerAddr(peer));
        let response = handler.call(request).await;
        let close = !keep_alive || shutdown.is_triggered() || wants_close(&response);
        let (parts, body) = response.into_parts();
        let framing = BodyFraming::Sized(body.len() as u64);
        write_response_head(&mut out, version, parts.status, &parts.headers, framing, is_head, close);
        if !is_head && !crate::h1::status_has_no_body(parts.status) {
            out.extend_from_slice(body.as_bytes());
        }
        if close {
            break;
        }
        if out.len() >= WRITE_HIGH_WATER && flush(&mut write, &mut out).await.is_err() {
            return;
        }
    }
    let _ = flush(&mut write, &mut out).await;
    let _ = write.shutdown().await;
}

fn wants_close(response: &Response<Body>) -> bool {
    response
        .headers()
        .get(http::header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
}

async fn flush(write: &mut kiln_net::net::tcp::OwnedWriteHalf, out: &mut Vec<u8>) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let r = write.write_all(out).await;
    out.clear();
    r
}

/// Appends the response for a refused request: the status, a JSON body saying why, and
/// `Connection: close`.
fn error_response(out: &mut Vec<u8>, e: &HeadError) {
    let response = crate::router::json_error(e.status, &e.reason);
    let framing = BodyFraming::Sized(response.body().len() as u64);
    write_response_head(out, http::Version::HTTP_11, e.status, response.headers(), framing, false, true);
    out.extend_from_slice(response.body().as_bytes());
}
