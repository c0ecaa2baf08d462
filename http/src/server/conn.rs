//! One HTTP/1.1 connection: read a request, call the service, write the response, repeat.
//!
//! Pipelining: when a client sends several requests at once, they are all parsed from the
//! same read buffer and answered in order, and their responses are collected into one write
//! buffer that goes out when no complete request is left buffered (one `write` for the
//! batch) or when it passes [`WRITE_HIGH_WATER`] (so a client that pipelines without reading
//! cannot make the server hold an unbounded amount of output).
//!
//! Bodies: a small request body that has already arrived is handed over whole; any other is
//! handed over *incoming* — the body holds the connection's reader until it is read or
//! dropped (see `body/incoming.rs`). `100 Continue` is written only if the handler reads
//! such a body. A response decided before the body was read (a 401 from an extractor, a
//! 405, a 413) is written at once — never held back until the client has sent a body nobody
//! will read. The unread rest is then drained, up to [`DRAIN_LIMIT`] bytes within
//! [`DRAIN_TIMEOUT`], so the connection can be reused; past either bound it closes. Streamed responses
//! are written as their chunks come, flushed whenever the stream has nothing ready, with
//! `Content-Length` if their length is known and chunked (HTTP/1.1) or until-close
//! (HTTP/1.0) otherwise.
//!
//! The connection closes after a response when the request asked (`Connection: close`, or
//! HTTP/1.0 without `keep-alive`), when its framing was refused (400, 408, 413, …), when the
//! client closed its side, when it stays idle past `keep_alive`, or when the server shuts
//! down: an idle connection is closed at once, a request in progress is answered with
//! `Connection: close`.

use super::peer::WithPeer;
use super::ServerConfig;
use crate::body::{Incoming, ReaderSlot, Returned};
use crate::h1::encode::{write_chunk, write_last_chunk};
use crate::h1::read::BodyState;
use crate::h1::{write_response_head, BodyFraming, Framing, HeadError, RequestReader};
use crate::{Body, Service};
use http::{HeaderValue, Method, Request, Response, Version};
use kiln_net::idle::{Idle, Stage};
use kiln_net::io::AsyncWriteExt;
use kiln_net::net::tcp::OwnedWriteHalf;
use kiln_net::net::TcpStream;
use kiln_net::shutdown::ShutdownListener;
use kiln_runtime::time::Instant;
use std::io;
use std::net::SocketAddr;
use std::task::Poll;

/// Output buffered before it is written even though more pipelined requests wait.
pub const WRITE_HIGH_WATER: usize = 64 * 1024;

/// The interim response a client that sent `Expect: 100-continue` waits for.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Most bytes of an unread request body read and discarded to keep a connection open; a
/// larger remainder closes the connection instead.
pub const DRAIN_LIMIT: usize = 64 * 1024;

/// Longest time spent draining an unread request body after its response was written; a
/// client still sending after that loses the connection (it has its answer).
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Serves one connection until it closes.
pub(crate) async fn serve<S: Service>(
    stream: TcpStream,
    peer: SocketAddr,
    service: S,
    config: ServerConfig,
    shutdown: ShutdownListener,
    mut idle_place: Idle,
) {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut reader = Some(RequestReader::new(read, config.read_limits));
    // Allocated by the first response, not before: a connection that never speaks costs no
    // buffers.
    let mut out = Vec::new();
    let mut served_one = false;
    let mut date = None;
    let max_body = config.read_limits.max_body;
    // One shutdown wait and one idle timer for the connection's whole life, not one of each
    // per request: registering and removing them per request cost ~2% of a busy server's
    // CPU. The timer is moved only when it fires (to the last request + keep_alive), so a
    // connection still closes after exactly `keep_alive` without a request.
    let mut stop_listener = shutdown.clone();
    let mut stopped = std::pin::pin!(stop_listener.recv());
    let mut last_request = Instant::now(); // when the connection last went idle
    let mut idle_limit = config.first_byte_timeout; // keep_alive once a request was served
    let mut idle = kiln_runtime::time::sleep_until(last_request + idle_limit);
    'connection: while let Some(r) = reader.as_mut() {
        // Between requests: wait for the next one, unless idle too long or shutting down.
        // A pipelined request already buffered is taken at once.
        let head = if r.has_buffered() {
            match r.buffered_head() {
                Ok(None) => r.next_head().await, // the rest of a head is still on its way
                taken => taken,
            }
        } else {
            if flush(&mut write, &mut out).await.is_err() {
                return;
            }
            shrink(&mut out);
            r.shrink_idle();
            if served_one {
                last_request = Instant::now(); // idle from now
                idle_limit = config.keep_alive;
                // The timer still stands at the first-byte deadline after the first request;
                // a keep-alive period ending sooner must not wait for it.
                if idle.deadline() > last_request + idle_limit {
                    std::pin::Pin::new(&mut idle).reset(last_request + idle_limit);
                }
            }
            idle_place.enter(if served_one { Stage::BetweenRequests } else { Stage::NeverSpoke });
            let mut next = std::pin::pin!(r.next_head());
            let head = loop {
                kiln_runtime::select! {
                    biased;
                    () = &mut stopped => break 'connection,
                    // A request that has arrived is served, even if a timer is due too.
                    head = &mut next => break head,
                    () = idle_place.reclaimed() => break 'connection, // room for a new client
                    () = &mut idle => {
                        let deadline = last_request + idle_limit;
                        if deadline <= Instant::now() {
                            break 'connection; // silent or idle keep-alive connection
                        }
                        std::pin::Pin::new(&mut idle).reset(deadline);
                    },
                }
            };
            idle_place.leave();
            head
        };
        served_one = true;
        let head = match head {
            Ok(Some(head)) => head,
            Ok(None) => break,
            Err(e) => {
                error_response(&mut out, &e);
                break;
            }
        };
        if matches!(head.framing, Framing::Length(n) if n > max_body as u64) {
            // Refused before the handler runs: the declared size alone is over the limit.
            error_response(&mut out, &HeadError::too_large(max_body));
            break;
        }

        // Only a lent reader needs a slot to come back through (no allocation otherwise).
        let mut slot: Option<ReaderSlot> = None;
        let mut continue_rx = None;
        let body = match head.framing {
            Framing::Length(0) => Body::empty(),
            Framing::Length(n) if !head.expect_continue && r.buffered_len() as u64 >= n => {
                Body::from(r.take_buffered(n as usize).expect("checked buffered"))
            }
            framing => {
                let continue_tx = head.expect_continue.then(|| {
                    let (tx, rx) = kiln_runtime::sync::oneshot::channel();
                    continue_rx = Some(rx);
                    tx
                });
                let lent = reader.take().expect("reader is present in the loop");
                let home = slot.insert(ReaderSlot::default()).clone();
                Body::incoming(Incoming::new(lent, BodyState::new(framing), max_body, continue_tx, home))
            }
        };
        let is_head = head.method == Method::HEAD;
        let version = head.version;
        let keep_alive = head.keep_alive;
        let mut request = Request::new(body);
        *request.method_mut() = head.method;
        *request.uri_mut() = head.uri;
        *request.version_mut() = head.version;
        *request.headers_mut() = head.headers;

        let asterisk = request.method() == Method::OPTIONS && request.uri() == "*";
        let mut service_call = std::pin::pin!(service.call(request));
        let mut call = WithPeer { peer, future: service_call.as_mut() };
        let response = match continue_rx.as_mut() {
            // `OPTIONS *` asks about the server, not a resource: the server answers it.
            _ if asterisk => server_options(),
            None => call.await,
            Some(rx) => kiln_runtime::select! {
                biased;
                response = &mut call => response,
                wanted = rx => {
                    // The handler is reading the body: tell the client to send it.
                    if wanted.is_ok() {
                        out.extend_from_slice(CONTINUE);
                        if flush(&mut write, &mut out).await.is_err() {
                            return;
                        }
                    }
                    call.await
                }
            },
        };

        // A body the handler dropped has given the reader back already.
        let mut returned = slot.as_ref().and_then(ReaderSlot::take);
        let owed = returned.as_ref().is_some_and(|r| r.continue_owed);
        let mut close = !keep_alive || owed || shutdown.is_triggered();
        // A streamed response may be the request body itself (an echo): if the client still
        // waits for `100 Continue`, it must come before the response head.
        let still_owed = continue_rx.as_mut().is_some_and(|rx| {
            matches!(rx.try_recv(), Err(kiln_runtime::sync::oneshot::error::TryRecvError::Empty))
        });
        if still_owed && response.body().as_bytes().is_none() {
            out.extend_from_slice(CONTINUE);
        }
        let written = if response.body().as_bytes().is_some() {
            // The usual case, a whole body: no future to build, nothing to wait for.
            let (close, headers) =
                write_whole_response(&mut out, &mut date, version, is_head, close, response);
            if let Some(r) = reader.as_mut() {
                r.recycle_headers(headers); // the next request's headers go into this map
            }
            Ok(close)
        } else {
            write_response(&mut write, &mut out, &mut date, version, is_head, close, response).await
        };
        match written {
            Ok(closes) => close |= closes,
            Err(_) => {
                // Send what was produced, then cut the connection: the client sees a
                // truncated body, never a wrong one.
                let _ = flush(&mut write, &mut out).await;
                return;
            }
        }
        if reader.is_none() {
            // The response may have streamed the request body itself (an echo).
            returned = returned.or_else(|| slot.as_ref().and_then(ReaderSlot::take));
            reader = match returned {
                Some(r) if !close => {
                    if r.unread.is_some() && flush(&mut write, &mut out).await.is_err() {
                        return; // the answer goes out before the rest of the body is read
                    }
                    kiln_runtime::time::timeout(DRAIN_TIMEOUT, drain(r)).await.ok().flatten()
                }
                _ => None, // the body is still held somewhere, or failed: close
            };
        }
        if close || reader.is_none() {
            break;
        }
        if out.len() >= WRITE_HIGH_WATER && flush(&mut write, &mut out).await.is_err() {
            return;
        }
    }
    let _ = flush(&mut write, &mut out).await;
    let _ = write.shutdown().await;
}

/// The reader back from a body, after reading and discarding what the handler left unread
/// (up to [`DRAIN_LIMIT`]); `None` if the connection cannot continue.
async fn drain(returned: Returned) -> Option<crate::body::ConnReader> {
    let Returned { reader, unread, continue_owed } = returned;
    let Some(state) = unread else { return Some(reader) };
    if continue_owed {
        return None; // the client may or may not send the body now: close
    }
    let slot = ReaderSlot::default();
    let mut rest = Body::incoming(Incoming::new(reader, state, DRAIN_LIMIT, None, slot.clone()));
    while let Some(chunk) = rest.chunk().await {
        chunk.ok()?;
    }
    drop(rest);
    slot.take().filter(|r| r.unread.is_none()).map(|r| r.reader)
}

/// Appends a response whose body is whole (`Body::as_bytes` is `Some`) to `out`. Returns
/// whether the connection must close afterwards, and the response's header map for reuse.
fn write_whole_response(
    out: &mut Vec<u8>,
    date: &mut Option<HeaderValue>,
    version: Version,
    is_head: bool,
    close: bool,
    response: Response<Body>,
) -> (bool, http::HeaderMap) {
    let (parts, body) = response.into_parts();
    let empty = bytes::Bytes::new();
    let bytes = body.as_bytes().unwrap_or(&empty); // the caller checked it is whole
    let framing = BodyFraming::Sized(bytes.len() as u64);
    let close = write_response_head(
        out,
        version,
        parts.status,
        &parts.headers,
        framing,
        is_head,
        close,
        batch_date(out, date),
    );
    if !is_head && !crate::h1::status_has_no_body(parts.status) {
        out.extend_from_slice(bytes);
    }
    (close, parts.headers)
}

/// The `Date` value for a response about to be appended to `out`: the first response of a
/// write batch reads the clock; the rest of the batch (pipelined responses written together)
/// reuse it.
fn batch_date<'d>(out: &[u8], date: &'d mut Option<HeaderValue>) -> &'d HeaderValue {
    if out.is_empty() || date.is_none() {
        *date = Some(crate::date::now());
    }
    date.as_ref().expect("just set")
}

/// Appends a streamed response to `out`, writing as its chunks come (a whole body goes
/// through `write_whole_response` instead). Returns whether the connection must close
/// afterwards (an HTTP/1.0 body of unknown length ends by closing).
///
/// # Errors
/// The connection failed, or a streamed body failed or lied about its length: the
/// connection must be dropped, as the client cannot tell where the response ends.
#[allow(clippy::too_many_arguments)]
async fn write_response(
    write: &mut OwnedWriteHalf,
    out: &mut Vec<u8>,
    date: &mut Option<HeaderValue>,
    version: Version,
    is_head: bool,
    mut close: bool,
    response: Response<Body>,
) -> io::Result<bool> {
    let (parts, mut body) = response.into_parts();
    let framing = match body.size_hint() {
        Some(n) => BodyFraming::Sized(n),
        None if version == Version::HTTP_11 => BodyFraming::Chunked,
        None => {
            close = true;
            BodyFraming::UntilClose
        }
    };
    let date = batch_date(out, date);
    let close =
        write_response_head(out, version, parts.status, &parts.headers, framing, is_head, close, date);
    if is_head || crate::h1::status_has_no_body(parts.status) {
        return Ok(close);
    }
    let mut sent: u64 = 0;
    loop {
        // Take what is ready; before waiting for more, send what is buffered.
        let next = match std::future::poll_fn(|cx| Poll::Ready(body.poll_chunk(cx))).await {
            Poll::Ready(next) => next,
            Poll::Pending => {
                flush(write, out).await?;
                body.chunk().await
            }
        };
        let chunk = match next {
            None => break,
            Some(Ok(chunk)) => chunk,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "response body failed; closing the connection");
                return Err(io::Error::other(e));
            }
        };
        sent += chunk.len() as u64;
        match framing {
            BodyFraming::Sized(n) if sent > n => return Err(length_mismatch(n)),
            BodyFraming::Chunked => write_chunk(out, &chunk),
            _ => out.extend_from_slice(&chunk),
        }
        if out.len() >= WRITE_HIGH_WATER {
            flush(write, out).await?;
        }
    }
    match framing {
        BodyFraming::Sized(n) if sent != n => return Err(length_mismatch(n)),
        BodyFraming::Chunked => write_last_chunk(out),
        _ => {}
    }
    Ok(close)
}

fn length_mismatch(announced: u64) -> io::Error {
    tracing::warn!(announced, "a sized response body yielded a different length; closing the connection");
    io::Error::other("body length differs from its announced length")
}

/// Output capacity an idle connection keeps; a buffer that grew past it for a large
/// response is given back while the connection waits.
const IDLE_OUT_CAPACITY: usize = 16 * 1024;

fn shrink(out: &mut Vec<u8>) {
    if out.capacity() > IDLE_OUT_CAPACITY {
        out.shrink_to(IDLE_OUT_CAPACITY);
    }
}

async fn flush(write: &mut OwnedWriteHalf, out: &mut Vec<u8>) -> io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let r = write.write_all(out).await;
    out.clear();
    r
}

/// The answer to `OPTIONS *` (RFC 9110 §9.3.7): what the server as a whole accepts.
fn server_options() -> Response<Body> {
    let mut r = Response::new(Body::empty());
    r.headers_mut().insert(http::header::ALLOW, HeaderValue::from_static(SERVER_METHODS));
    r
}

/// The methods a Kiln server serves (a route may accept fewer); `CONNECT` and `TRACE` are not
/// among them.
const SERVER_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/// Appends the response for a refused request: the status, a JSON body saying why, and
/// `Connection: close`.
fn error_response(out: &mut Vec<u8>, e: &HeadError) {
    let response = crate::response::error_response(e.status, &e.reason);
    let (parts, body) = response.into_parts();
    let bytes = body.as_bytes().cloned().unwrap_or_default();
    let framing = BodyFraming::Sized(bytes.len() as u64);
    write_response_head(
        out,
        Version::HTTP_11,
        e.status,
        &parts.headers,
        framing,
        false,
        true,
        &crate::date::now(),
    );
    out.extend_from_slice(&bytes);
}
