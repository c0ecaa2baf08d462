//! One HTTP/1.1 connection: read a request, call the service, write the response, repeat.
//!
//! The connection is a state machine; each state is one method of [`Conn`], which does that
//! state's work and returns the next state:
//!
//! ```text
//!             ┌──────────────────────── more buffered ─────────────────────┐
//!             v                                                            │
//!   Idle ──> Serving ──> Writing ──(body lent)──> Recovering ──> next ─────┤
//!    ^  │  ^    │            │                                    │        │
//!    │  │  │    └─> Refusing ┴──> Closing <───── close ───────────┘        │
//!    │  │  └── ReadingHead <─────────────────────────────────────────── ───┘
//!    │  └─> Closing (client gone, idle too long, reclaimed, shutting down)
//!    └──────────────────────────── nothing buffered ─────────────────────────
//! ```
//!
//! - **Idle** ([`Conn::wait_for_request`]): nothing is buffered. What was produced is
//!   written, buffers shrink back, and the connection waits for the next head under three
//!   watches: the idle deadline (`first_byte_timeout` before the first request, then
//!   `keep_alive`), the shutdown signal (an idle connection closes at once), and the reclaim
//!   notice (a server at its connection limit asks the longest-idle to make room).
//! - **ReadingHead** ([`Conn::read_buffered_head`]): a pipelined request is already
//!   buffered; its head is taken without waiting or writing. So when a client sends several
//!   requests at once, they are all answered in order into one write buffer that goes out
//!   when no complete request is left (one `write` for the batch), or first when it passes
//!   [`WRITE_HIGH_WATER`] (a client that pipelines without reading cannot make the server
//!   hold unbounded output).
//! - **Serving** ([`Conn::serve_request`]): the head becomes a request. A small body that has
//!   already arrived is handed over whole; any other is handed over *incoming*: the body
//!   holds the connection's reader until it is read or dropped (`body/incoming.rs`).
//!   `100 Continue` is written only if the handler reads such a body. `OPTIONS *` asks about
//!   the server, not a resource, and the server answers it.
//! - **Writing** ([`Conn::write_whole`], [`Conn::write_streamed`]): a whole body is appended
//!   to the output at once, straight from Serving (nothing to wait for, so no trip through
//!   the loop); a streamed one is written as its chunks come, flushed whenever the stream has nothing ready, with
//!   `Content-Length` if its length is known and chunked (HTTP/1.1) or until-close
//!   (HTTP/1.0) otherwise. A response decided before the body was read (a 401 from an
//!   extractor, a 405, a 413) is written at once, never held back until the client has sent
//!   a body nobody will read.
//! - **Recovering** ([`Conn::recover_reader`]): the reader comes back from a lent body. What
//!   the handler left unread is drained, up to [`DRAIN_LIMIT`] bytes within
//!   [`DRAIN_TIMEOUT`], after the answer went out, so the connection can be reused; past
//!   either bound it closes.
//! - **Refusing** ([`Conn::refuse`]): a request that could not be read (its
//!   [`RequestError`] says why) is answered with its status and a problem body; its framing
//!   can no longer be trusted, so the connection closes.
//! - **Closing** ([`Conn::close`]): what is buffered is written and the write side shut down.
//!   A connection closes after a response when the request asked (`Connection: close`, or
//!   HTTP/1.0 without `keep-alive`), when it was refused, when the client closed its side,
//!   or when the server is shutting down (a request in progress is answered with
//!   `Connection: close`). A connection whose write failed is dropped without one
//!   (**Broken**): its client sees a truncated body, never a wrong one.

use super::peer::WithPeer;
use super::ServerConfig;
use crate::body::{ConnReader, Incoming, ReaderSlot, Returned};
use crate::h1::encode::{write_chunk, write_last_chunk};
use crate::h1::read::BodyState;
use crate::h1::{
    write_response_head, BodyFraming, Framing, RequestError, RequestHead, RequestReader, ResponseHead,
};
use crate::{Body, Service};
use http::{HeaderValue, Method, Request, Response, Version};
use kiln_net::idle::{Idle, Stage};
use kiln_net::io::AsyncWriteExt;
use kiln_net::net::tcp::OwnedWriteHalf;
use kiln_net::net::TcpStream;
use kiln_net::shutdown::ShutdownListener;
use kiln_runtime::sync::oneshot;
use kiln_runtime::time::{Instant, Sleep};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

/// Output buffered before it is written even though more pipelined requests wait.
pub const WRITE_HIGH_WATER: usize = 64 * 1024;

/// The interim response a client that sent `Expect: 100-continue` waits for.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Most bytes of an unread request body read and discarded to keep a connection open; a
/// larger remainder closes the connection instead.
pub const DRAIN_LIMIT: usize = 64 * 1024;

/// Longest time spent draining an unread request body after its response was written; a
/// client still sending after that loses the connection (it has its answer).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Where a connection is; see the module doc for what each state does. What a state works
/// on (the head, the response, the refusal) waits in [`Conn`], not in the state: moving a
/// request head or a response through every transition cost a busy server ~20% more
/// instructions per request, in `memcpy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    ReadingHead,
    Serving,
    Writing,
    Recovering,
    Refusing,
    Closing,
    Broken,
}

/// One request's context, from its head until its response is written and the reader is
/// back.
#[derive(Default)]
struct Exchange {
    version: Version,
    is_head: bool,
    /// The connection must close after the response.
    close: bool,
    /// Where a lent reader comes back (only a lent reader needs one: no allocation otherwise).
    slot: Option<ReaderSlot>,
    /// The reader as it came back before the response was written.
    returned: Option<Returned>,
    /// Fires if the handler starts reading a body whose client waits for `100 Continue`.
    continue_rx: Option<oneshot::Receiver<()>>,
}

/// Serves one connection until it closes.
pub(crate) async fn serve<S: Service>(
    stream: TcpStream,
    peer: SocketAddr,
    service: S,
    config: ServerConfig,
    shutdown: ShutdownListener,
    idle_place: Idle,
) {
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    // One shutdown wait and one idle timer for the connection's whole life, not one of each
    // per request: registering and removing them per request would cost a busy server ~2% of
    // its CPU.
    let mut stop_listener = shutdown.clone();
    let mut stopped = std::pin::pin!(stop_listener.recv());
    let mut conn = Conn {
        reader: Some(RequestReader::new(read, config.read_limits)),
        write,
        out: Vec::new(), // allocated by the first response: a silent connection costs no buffers
        date: None,
        served_one: false,
        idle_since: Instant::now(),
        idle_limit: config.first_byte_timeout,
        idle_timer: kiln_runtime::time::sleep(config.first_byte_timeout),
        head: None,
        response: None,
        exchange: Exchange::default(),
        refusal: None,
        service,
        peer,
        config,
        shutdown,
        idle_place,
    };
    let mut state = State::Idle;
    loop {
        state = match state {
            State::Idle => conn.wait_for_request(stopped.as_mut()).await,
            State::ReadingHead => conn.read_buffered_head().await,
            State::Serving => conn.serve_request().await,
            State::Writing => conn.write_streamed().await,
            State::Recovering => conn.recover_reader().await,
            State::Refusing => conn.refuse(),
            State::Closing => return conn.close().await,
            State::Broken => return,
        };
    }
}

/// A connection's state between requests.
struct Conn<S> {
    /// The request reader; lent to a request's body while its handler may read it.
    reader: Option<ConnReader>,
    write: OwnedWriteHalf,
    /// Output not yet written: a batch of pipelined responses goes out in one write.
    out: Vec<u8>,
    /// The `Date` of the current write batch.
    date: Option<HeaderValue>,
    served_one: bool,
    /// When the connection last went idle (accepted, or its last response written).
    idle_since: Instant,
    /// How long it may stay idle: `first_byte_timeout`, then `keep_alive`.
    idle_limit: Duration,
    /// Moved only when it fires (to `idle_since + idle_limit`) or when the keep-alive
    /// deadline comes sooner, so a connection closes after exactly its idle limit.
    idle_timer: Sleep,
    /// The request head read, until the service is called with it.
    head: Option<RequestHead>,
    /// The service's response, until it is written.
    response: Option<Response<Body>>,
    /// The current request's context.
    exchange: Exchange,
    /// Why the current request is refused.
    refusal: Option<RequestError>,
    service: S,
    peer: SocketAddr,
    config: ServerConfig,
    shutdown: ShutdownListener,
    idle_place: Idle,
}

impl<S: Service> Conn<S> {
    /// **Idle**: writes what is buffered and waits for the next request's head.
    async fn wait_for_request(&mut self, mut stopped: Pin<&mut impl Future<Output = ()>>) -> State {
        if flush(&mut self.write, &mut self.out).await.is_err() {
            return State::Broken;
        }
        shrink(&mut self.out);
        let Some(reader) = self.reader.as_mut() else { return State::Closing };
        reader.shrink_idle();
        if self.served_one {
            self.idle_since = Instant::now();
            self.idle_limit = self.config.keep_alive;
            // The timer still stands at the first-byte deadline after the first request; a
            // keep-alive period ending sooner must not wait for it.
            let deadline = self.idle_since + self.idle_limit;
            if self.idle_timer.deadline() > deadline {
                Pin::new(&mut self.idle_timer).reset(deadline);
            }
        }
        self.idle_place.enter(if self.served_one { Stage::BetweenRequests } else { Stage::NeverSpoke });
        let head = {
            let mut next = std::pin::pin!(reader.next_head());
            loop {
                kiln_runtime::select! {
                    biased;
                    () = &mut stopped => return State::Closing,
                    // A request that has arrived is served, even if a timer is due too.
                    head = &mut next => break head,
                    () = self.idle_place.reclaimed() => return State::Closing, // room for a new client
                    () = &mut self.idle_timer => {
                        let deadline = self.idle_since + self.idle_limit;
                        if deadline <= Instant::now() {
                            return State::Closing; // silent or idle keep-alive connection
                        }
                        Pin::new(&mut self.idle_timer).reset(deadline);
                    },
                }
            }
        };
        self.idle_place.leave();
        self.on_head(head)
    }

    /// **ReadingHead**: takes a pipelined request's head from the buffer (waiting only if
    /// the rest of it is still on its way).
    async fn read_buffered_head(&mut self) -> State {
        if self.out.len() >= WRITE_HIGH_WATER && flush(&mut self.write, &mut self.out).await.is_err() {
            return State::Broken;
        }
        let Some(reader) = self.reader.as_mut() else { return State::Closing };
        let head = match reader.buffered_head() {
            Ok(None) => reader.next_head().await,
            taken => taken,
        };
        self.on_head(head)
    }

    fn on_head(&mut self, head: Result<Option<RequestHead>, RequestError>) -> State {
        self.served_one = true;
        match head {
            Ok(Some(head)) => {
                self.head = Some(head);
                State::Serving
            }
            Ok(None) => State::Closing, // the client closed between requests
            Err(e) => self.refusing(e),
        }
    }

    fn refusing(&mut self, e: RequestError) -> State {
        self.refusal = Some(e);
        State::Refusing
    }

    /// **Serving**: builds the request (its body whole, or lent the reader) and calls the
    /// service, writing `100 Continue` if the handler starts reading a body that waits for it.
    async fn serve_request(&mut self) -> State {
        let (Some(head), Some(reader)) = (self.head.take(), self.reader.as_mut()) else {
            return State::Closing;
        };
        let max_body = self.config.read_limits.max_body;
        if matches!(head.framing, Framing::Length(n) if n > max_body as u64) {
            // Refused before the handler runs: the declared size alone is over the limit.
            return self.refusing(RequestError::BodyTooLarge { limit: max_body });
        }
        let exchange = &mut self.exchange;
        *exchange = Exchange {
            version: head.version,
            is_head: head.method == Method::HEAD,
            close: !head.keep_alive,
            ..Exchange::default()
        };
        let body = match head.framing {
            Framing::Length(0) => Body::empty(),
            Framing::Length(n) if !head.expect_continue && reader.buffered_len() as u64 >= n => {
                Body::from(reader.take_buffered(n as usize).expect("checked buffered"))
            }
            framing => {
                let continue_tx = head.expect_continue.then(|| {
                    let (tx, rx) = oneshot::channel();
                    exchange.continue_rx = Some(rx);
                    tx
                });
                let lent = self.reader.take().expect("checked present");
                let home = exchange.slot.insert(ReaderSlot::default()).clone();
                Body::incoming(Incoming::new(lent, BodyState::new(framing), max_body, continue_tx, home))
            }
        };
        let mut request = Request::new(body);
        *request.method_mut() = head.method;
        *request.uri_mut() = head.uri;
        *request.version_mut() = head.version;
        *request.headers_mut() = head.headers;

        if request.method() == Method::OPTIONS && request.uri() == "*" {
            return self.write_whole(server_options());
        }
        let response = {
            let mut service_call = std::pin::pin!(self.service.call(request));
            let mut call = WithPeer { peer: self.peer, future: service_call.as_mut() };
            match self.exchange.continue_rx.as_mut() {
                None => call.await,
                Some(rx) => kiln_runtime::select! {
                    biased;
                    response = &mut call => response,
                    wanted = rx => {
                        // The handler is reading the body: tell the client to send it.
                        if wanted.is_ok() {
                            self.out.extend_from_slice(CONTINUE);
                            if flush(&mut self.write, &mut self.out).await.is_err() {
                                return State::Broken;
                            }
                        }
                        call.await
                    }
                },
            }
        };
        if response.body().as_bytes().is_some() {
            return self.write_whole(response);
        }
        self.response = Some(response);
        State::Writing
    }

    /// Before a response is written: the reader back from a body the handler dropped,
    /// whether the connection must close, and a `100 Continue` still owed to a client whose
    /// body a streamed response is about to read (an echo), which must come before the head.
    fn before_writing(&mut self, streamed: bool) {
        let exchange = &mut self.exchange;
        exchange.returned = exchange.slot.as_ref().and_then(ReaderSlot::take);
        let owed = exchange.returned.as_ref().is_some_and(|r| r.continue_owed);
        exchange.close |= owed || self.shutdown.is_triggered();
        let still_owed = exchange.continue_rx.as_mut().is_some_and(|rx| {
            matches!(rx.try_recv(), Err(kiln_runtime::sync::oneshot::error::TryRecvError::Empty))
        });
        if still_owed && streamed {
            self.out.extend_from_slice(CONTINUE);
        }
    }

    /// **Writing** a whole body, the usual case: appended to the output at once, with no
    /// future to build and nothing to wait for.
    fn write_whole(&mut self, response: Response<Body>) -> State {
        self.before_writing(false);
        let (close, headers) = write_whole_response(&mut self.out, &mut self.date, &self.exchange, response);
        self.exchange.close |= close;
        match self.reader.as_mut() {
            Some(reader) => {
                reader.recycle_headers(headers); // the next request's headers go into this map
                self.next()
            }
            None => State::Recovering,
        }
    }

    /// **Writing** a streamed body: written as its chunks come.
    async fn write_streamed(&mut self) -> State {
        let Some(response) = self.response.take() else { return State::Closing };
        self.before_writing(true);
        let written =
            write_streamed_response(&mut self.write, &mut self.out, &mut self.date, &self.exchange, response)
                .await;
        match written {
            Ok(close) => self.exchange.close |= close,
            Err(_) => {
                // Send what was produced, then cut the connection: the client sees a
                // truncated body, never a wrong one.
                let _ = flush(&mut self.write, &mut self.out).await;
                return State::Broken;
            }
        }
        if self.reader.is_none() {
            return State::Recovering;
        }
        self.next()
    }

    /// **Recovering**: takes the reader back from the request's body, draining what the
    /// handler left unread.
    async fn recover_reader(&mut self) -> State {
        let exchange = &mut self.exchange;
        // The response may have streamed the request body itself (an echo).
        let returned = exchange.returned.take().or_else(|| exchange.slot.as_ref().and_then(ReaderSlot::take));
        self.reader = match returned {
            Some(r) if !exchange.close => {
                if r.unread.is_some() && flush(&mut self.write, &mut self.out).await.is_err() {
                    return State::Broken; // the answer goes out before the rest of the body is read
                }
                kiln_runtime::time::timeout(DRAIN_TIMEOUT, drain(r)).await.ok().flatten()
            }
            _ => None, // the body is still held somewhere, or failed: close
        };
        self.next()
    }

    /// After a response: close, or take the next request (buffered or not).
    fn next(&self) -> State {
        match &self.reader {
            Some(reader) if !self.exchange.close => {
                if reader.has_buffered() {
                    State::ReadingHead
                } else {
                    State::Idle
                }
            }
            _ => State::Closing,
        }
    }

    /// **Refusing**: answers a request that could not be read.
    fn refuse(&mut self) -> State {
        if let Some(e) = self.refusal.take() {
            error_response(&mut self.out, &e);
        }
        State::Closing
    }

    /// **Closing**: writes what is buffered and shuts the write side down.
    async fn close(mut self) {
        let _ = flush(&mut self.write, &mut self.out).await;
        let _ = self.write.shutdown().await;
    }
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
    exchange: &Exchange,
    response: Response<Body>,
) -> (bool, http::HeaderMap) {
    let (parts, body) = response.into_parts();
    let empty = bytes::Bytes::new();
    let bytes = body.as_bytes().unwrap_or(&empty); // the caller checked it is whole
    let head = ResponseHead {
        version: exchange.version,
        status: parts.status,
        headers: &parts.headers,
        framing: BodyFraming::Sized(bytes.len() as u64),
        is_head: exchange.is_head,
        close: exchange.close,
        date: batch_date(out, date),
    };
    let close = write_response_head(out, &head);
    if !exchange.is_head && !crate::h1::status_has_no_body(parts.status) {
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
async fn write_streamed_response(
    write: &mut OwnedWriteHalf,
    out: &mut Vec<u8>,
    date: &mut Option<HeaderValue>,
    exchange: &Exchange,
    response: Response<Body>,
) -> io::Result<bool> {
    let (parts, mut body) = response.into_parts();
    let mut close = exchange.close;
    let framing = match body.size_hint() {
        Some(n) => BodyFraming::Sized(n),
        None if exchange.version == Version::HTTP_11 => BodyFraming::Chunked,
        None => {
            close = true;
            BodyFraming::UntilClose
        }
    };
    let head = ResponseHead {
        version: exchange.version,
        status: parts.status,
        headers: &parts.headers,
        framing,
        is_head: exchange.is_head,
        close,
        date: batch_date(out, date),
    };
    let close = write_response_head(out, &head);
    if exchange.is_head || crate::h1::status_has_no_body(parts.status) {
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
fn error_response(out: &mut Vec<u8>, e: &RequestError) {
    let status = e.status();
    let response = crate::response::error_response(status, &e.to_string());
    let (parts, body) = response.into_parts();
    let bytes = body.as_bytes().cloned().unwrap_or_default();
    let head = ResponseHead {
        version: Version::HTTP_11,
        status,
        headers: &parts.headers,
        framing: BodyFraming::Sized(bytes.len() as u64),
        is_head: false,
        close: true,
        date: &crate::date::now(),
    };
    write_response_head(out, &head);
    out.extend_from_slice(&bytes);
}
