//! Reading whole requests off a connection: head, then body, with every limit enforced.
//!
//! [`RequestReader`] owns the connection's read buffer. Each call to
//! [`RequestReader::next_request`] returns the next complete request — several may have
//! arrived in one read (pipelining), and the bytes after one request stay buffered for the
//! next. The body is read according to the framing the head parser decided
//! (`Content-Length` or chunked), never beyond it, and never more than `max_body` bytes
//! (413). A head that does not arrive within `header_timeout` is a 408 (the slowloris
//! defence); a body that stalls for `body_timeout` between reads, or arrives slower on
//! average than `body_min_rate` past that grace, is a 408 too.
//!
//! This is the part of the server loop that decides where one request ends and the next
//! begins; the connection loop (responses, keep-alive, shutdown) sits on top of it.

use super::chunked::ChunkedDecoder;
use super::error::{Part, RequestError};
use super::head::{parse_request_head_reusing, Framing, HeadLimits, RequestHead};
use bytes::Bytes;
use http::HeaderMap;
use kiln_net::io::{AsyncRead, ReadBuf};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Default largest request body: 2 MiB.
pub const DEFAULT_MAX_BODY: usize = 2 * 1024 * 1024;
/// Default time for a whole request head to arrive.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default longest pause while a body is arriving, and the grace before its minimum rate
/// applies.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default slowest average rate a body may arrive at, past its grace: 1 KiB/s.
pub const DEFAULT_BODY_MIN_RATE: u32 = 1024;

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 16 * 1024;
/// Bytes of a connection's first read, which lands on the stack (see `first_fill`).
const FIRST_READ: usize = 1024;

fn read_failed(e: std::io::Error) -> RequestError {
    RequestError::Io(e)
}

/// Limits for [`RequestReader`].
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// Request-head limits (414, 431).
    pub head: HeadLimits,
    /// Largest body, in bytes (413).
    pub max_body: usize,
    /// Time allowed for a request head to arrive once its first byte has (408).
    pub header_timeout: Duration,
    /// Longest pause between body reads (408), and the grace before `body_min_rate`
    /// applies.
    pub body_timeout: Duration,
    /// Slowest average rate a body may arrive at, in bytes per second: the whole body must
    /// have arrived `body_timeout` plus one second per `body_min_rate` bytes after reading
    /// began (408). It cuts off a client that sends one byte just before each pause would
    /// time out. 0 turns the rule off.
    pub body_min_rate: u32,
}

impl Default for ReadLimits {
    fn default() -> ReadLimits {
        ReadLimits {
            head: HeadLimits::default(),
            max_body: DEFAULT_MAX_BODY,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            body_min_rate: DEFAULT_BODY_MIN_RATE,
        }
    }
}

/// A request with its whole body.
#[derive(Debug)]
pub struct FullRequest {
    /// The head.
    pub head: RequestHead,
    /// The body (empty when there is none).
    pub body: Vec<u8>,
}

/// Reads requests from `io`; see the module docs.
#[derive(Debug)]
pub struct RequestReader<R> {
    io: R,
    /// `buf[pos..end]` is received and not yet consumed. Consuming only moves `pos`, so
    /// taking one of several pipelined requests does not shift the others; the bytes are
    /// moved to the front when more must be read. `buf` is initialised once and only grows
    /// (zeroing just the new part): re-zeroing a read buffer before every read cost 5% of a
    /// busy server's CPU.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    limits: ReadLimits,
    /// A response's `HeaderMap`, emptied and reused for the next request's headers.
    spare_headers: Option<HeaderMap>,
}

impl<R: AsyncRead + Unpin> RequestReader<R> {
    /// A reader over `io` with `limits`.
    pub fn new(io: R, limits: ReadLimits) -> RequestReader<R> {
        // No buffer yet: the first read allocates it, once bytes have arrived.
        RequestReader { io, buf: Vec::new(), pos: 0, end: 0, limits, spare_headers: None }
    }

    /// Gives back a buffer that grew past its usual size for a large request, once nothing
    /// is buffered (called while the connection waits for its next request).
    pub fn shrink_idle(&mut self) {
        if self.buf.len() > READ_CHUNK && self.pos == self.end {
            self.buf.truncate(READ_CHUNK);
            self.buf.shrink_to_fit();
            (self.pos, self.end) = (0, 0);
        }
    }

    /// Hands back a `HeaderMap` that is no longer needed (a written response's), to hold the
    /// next request's headers instead of allocating a new map.
    pub fn recycle_headers(&mut self, headers: HeaderMap) {
        self.spare_headers = Some(headers);
    }

    /// True if bytes of a next request are already buffered (a pipelined request).
    pub fn has_buffered(&self) -> bool {
        self.pos < self.end
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        }
    }

    /// The next request, or `None` if the client closed the connection cleanly between
    /// requests.
    ///
    /// # Errors
    /// [`RequestError`] with the status to answer (400, 408, 413, 414, 431, 501, 505); after any
    /// of them the connection must be closed. An IO error is reported as a 400 with the
    /// error's text (the connection is unusable anyway).
    pub async fn next_request(&mut self) -> Result<Option<FullRequest>, RequestError> {
        let Some(head) = self.next_head().await? else { return Ok(None) };
        let body = self.read_body(head.framing).await?;
        Ok(Some(FullRequest { head, body }))
    }

    /// The body of the request whose head [`RequestReader::next_head`] just returned.
    /// Separate from the head so the server can answer `Expect: 100-continue` in between.
    ///
    /// # Errors
    /// As [`RequestReader::next_request`].
    pub async fn read_body(&mut self, framing: Framing) -> Result<Vec<u8>, RequestError> {
        self.read_framed(framing).await
    }

    /// The next request head (its body is left unread), or `None` on a clean close.
    /// Cancel-safe while no byte of a new request has arrived, which is how a server closes
    /// idle keep-alive connections at shutdown.
    ///
    /// # Errors
    /// As [`RequestReader::next_request`].
    pub async fn next_head(&mut self) -> Result<Option<RequestHead>, RequestError> {
        let mut deadline = None;
        loop {
            if let Some(head) = self.buffered_head()? {
                return Ok(Some(head));
            }
            if self.has_buffered() {
                // The head has started: from now on it must finish within the timeout.
                deadline
                    .get_or_insert_with(|| kiln_runtime::time::Instant::now() + self.limits.header_timeout);
            }
            let read = match deadline {
                Some(at) => kiln_runtime::time::timeout_at(at, self.fill()).await.map_err(|_| timeout())?,
                None => self.fill().await,
            };
            if read? == 0 {
                return if !self.has_buffered() {
                    Ok(None)
                } else {
                    Err(RequestError::ClosedEarly(Part::Head))
                };
            }
        }
    }

    /// A complete request head already in the buffer (a pipelined request), parsed without
    /// reading; `None` if there is none yet. A server calls this before `next_head` so that
    /// answering a pipelined batch builds no read future per request.
    ///
    /// # Errors
    /// As [`RequestReader::next_request`].
    pub fn buffered_head(&mut self) -> Result<Option<RequestHead>, RequestError> {
        if !self.has_buffered() {
            return Ok(None);
        }
        let Some((head, len)) = parse_request_head_reusing(
            &self.buf[self.pos..self.end],
            &self.limits.head,
            &mut self.spare_headers,
        )?
        else {
            return Ok(None);
        };
        self.consume(len);
        Ok(Some(head))
    }

    /// Reads more bytes into the buffer; returns how many (0 at end of stream).
    /// Cancel-safe: bytes are only added by a completed read, so a dropped `fill` leaves the
    /// received data exactly as it was.
    async fn fill(&mut self) -> Result<usize, RequestError> {
        if self.buf.is_empty() {
            return std::future::poll_fn(|cx| self.poll_first_fill(cx)).await;
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.buf.len() - self.end < READ_CHUNK / 4 {
            // Little room left: grow (a head or body piece bigger than the buffer so far;
            // the head limits bound how far).
            self.buf.resize(self.buf.len() + READ_CHUNK, 0);
        }
        std::future::poll_fn(|cx| {
            let mut rb = ReadBuf::new(&mut self.buf[self.end..]);
            let polled = Pin::new(&mut self.io).poll_read(cx, &mut rb);
            let n = rb.filled().len();
            self.end += n;
            polled.map(|r| r.map(|()| n).map_err(read_failed))
        })
        .await
    }

    /// The first read of a connection, into a small buffer on the stack of this poll (not
    /// of a future, which every later read would carry): the read buffer is allocated only
    /// when bytes have arrived, so a connection that never speaks holds none.
    fn poll_first_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize, RequestError>> {
        let mut first = [0u8; FIRST_READ];
        let mut rb = ReadBuf::new(&mut first);
        if let Err(e) = std::task::ready!(Pin::new(&mut self.io).poll_read(cx, &mut rb)) {
            return Poll::Ready(Err(read_failed(e)));
        }
        let n = rb.filled().len();
        if n > 0 {
            self.buf = vec![0; READ_CHUNK];
            self.buf[..n].copy_from_slice(&first[..n]);
            (self.pos, self.end) = (0, n);
        }
        Poll::Ready(Ok(n))
    }

    async fn fill_body(&mut self) -> Result<(), RequestError> {
        let n = kiln_runtime::time::timeout(self.limits.body_timeout, self.fill())
            .await
            .map_err(|_| timeout())??;
        if n == 0 {
            return Err(closed_in_body());
        }
        Ok(())
    }

    /// Polls one read into the buffer (see [`RequestReader::fill`]); for a body being
    /// streamed to a handler, which keeps its own timeout.
    pub(crate) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize, RequestError>> {
        let mut fill = std::pin::pin!(self.fill());
        fill.as_mut().poll(cx)
    }

    /// The next piece of body that is already buffered, without reading: `Ok(None)` when
    /// more input is needed or the body is complete (`state` is then [`BodyState::Done`]).
    pub(crate) fn buffered_body(&mut self, state: &mut BodyState) -> Result<Option<Bytes>, RequestError> {
        loop {
            match state {
                BodyState::Done => return Ok(None),
                BodyState::Length(0) => {
                    *state = BodyState::Done;
                    return Ok(None);
                }
                BodyState::Length(left) => {
                    let n = usize::try_from(*left).unwrap_or(usize::MAX).min(self.pending().len());
                    if n == 0 {
                        return Ok(None);
                    }
                    let data = Bytes::copy_from_slice(&self.pending()[..n]);
                    self.consume(n);
                    *left -= n as u64;
                    return Ok(Some(data));
                }
                BodyState::Chunked(decoder) => {
                    let step =
                        decoder.decode(&self.buf[self.pos..self.end]).map_err(RequestError::Chunked)?;
                    let data = step.data.map(Bytes::copy_from_slice);
                    let (used, done) = (step.consumed, step.done);
                    self.consume(used);
                    if done {
                        *state = BodyState::Done;
                    }
                    if data.is_some() {
                        return Ok(data);
                    }
                    if used == 0 {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// The whole body of `length` bytes if it is already buffered (the common case for
    /// small requests: no streaming machinery, one copy).
    pub(crate) fn take_buffered(&mut self, length: usize) -> Option<Bytes> {
        let data = Bytes::copy_from_slice(self.pending().get(..length)?);
        self.consume(length);
        Some(data)
    }

    /// Bytes buffered and not yet consumed.
    pub(crate) fn buffered_len(&self) -> usize {
        self.end - self.pos
    }

    /// The limits this reader enforces.
    pub fn limits(&self) -> &ReadLimits {
        &self.limits
    }

    async fn read_framed(&mut self, framing: Framing) -> Result<Vec<u8>, RequestError> {
        if let Framing::Length(n) = framing {
            if n > self.limits.max_body as u64 {
                return Err(too_large(&self.limits));
            }
        }
        let mut state = BodyState::new(framing);
        let mut body = Vec::new();
        loop {
            while let Some(data) = self.buffered_body(&mut state)? {
                if body.len() + data.len() > self.limits.max_body {
                    return Err(too_large(&self.limits));
                }
                body.extend_from_slice(&data);
            }
            if matches!(state, BodyState::Done) {
                return Ok(body);
            }
            self.fill_body().await?;
        }
    }
}

/// Where a request body being read stands.
#[derive(Debug, Clone)]
pub(crate) enum BodyState {
    /// This many bytes of a sized body are left.
    Length(u64),
    /// Inside a chunked body.
    Chunked(ChunkedDecoder),
    /// The whole body has been read.
    Done,
}

impl BodyState {
    pub(crate) fn new(framing: Framing) -> BodyState {
        match framing {
            Framing::Length(n) => BodyState::Length(n),
            Framing::Chunked => BodyState::Chunked(ChunkedDecoder::new()),
        }
    }
}

pub(crate) fn closed_in_body() -> RequestError {
    RequestError::ClosedEarly(Part::Body)
}

pub(crate) fn timeout() -> RequestError {
    RequestError::Timeout
}

fn too_large(limits: &ReadLimits) -> RequestError {
    RequestError::BodyTooLarge { limit: limits.max_body }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_net::io::{duplex, AsyncWriteExt};

    #[test]
    fn no_buffer_until_bytes_arrive_and_a_grown_one_shrinks_back() {
        let rt = kiln_runtime::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let (mut client, server) = duplex(128 * 1024);
            let mut r = RequestReader::new(server, ReadLimits::default());
            assert_eq!(r.buf.capacity(), 0, "nothing allocated before a byte arrives");
            let big = format!("GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n", "a".repeat(40_000));
            client.write_all(big.as_bytes()).await.unwrap();
            let head = r.next_head().await.unwrap().expect("a head");
            assert_eq!(head.headers["x-big"].len(), 40_000);
            assert!(r.buf.len() > READ_CHUNK, "grew for the large head");
            r.shrink_idle();
            assert_eq!((r.buf.len(), r.buf.capacity()), (READ_CHUNK, READ_CHUNK));
            client.write_all(b"GET /next HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
            assert_eq!(r.next_head().await.unwrap().expect("a head").uri, "/next", "still reads");
        });
    }
}
