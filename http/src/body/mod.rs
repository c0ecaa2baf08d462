//! `Body`: the bytes of a request or response, whole or streamed.
//!
//! A body is one of three things, and code that only reads or builds bodies never needs to
//! know which:
//! - **whole**: bytes already in memory ([`Bytes`], so a `&'static str` body costs no copy);
//! - **streamed**: any [`Stream`] of byte chunks a handler returns ([`Body::from_stream`]);
//!   sent with `Content-Length` when its length is known, chunked otherwise;
//! - **incoming**: a request body still arriving on the connection. The server hands the
//!   handler the connection's reader inside the body, so a handler can read a large upload
//!   chunk by chunk ([`Body::chunk`]) instead of the server buffering it whole, and a handler
//!   that never reads it costs no read at all (this is what lets `Expect: 100-continue` be
//!   answered only when the body is actually wanted). When the body is dropped the reader
//!   goes back to the connection for the next request.
//!
//! Reading is bounded: [`Body::collect`] takes a limit and fails with 413 past it, and an
//! incoming body also stops at the server's `max_body` and its body-read timeout (408).

mod incoming;

pub(crate) use incoming::{ConnReader, Incoming, ReaderSlot, Returned};

use crate::h1::RequestError;
use bytes::Bytes;
use futures_core::Stream;
use http::StatusCode;
use std::fmt;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

/// A boxed error a body stream may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

type BoxStream = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>;

/// A request or response body; see the module docs.
#[derive(Default)]
pub struct Body {
    kind: Kind,
}

enum Kind {
    Full(Bytes),
    // The Mutex makes `Body: Sync` for any `Send` stream without `unsafe`; it is never
    // locked, only reached through `get_mut` (we always hold `&mut Body` when polling).
    Stream { stream: Mutex<BoxStream>, len: Option<u64> },
    Incoming(Mutex<Box<Incoming>>),
}

impl Default for Kind {
    fn default() -> Kind {
        Kind::Full(Bytes::new())
    }
}

/// Why a body could not be read: the request's own framing, size, time or connection
/// ([`BodyError::Request`], with the status a server answers), or the source a streamed body
/// was made from failed (500).
#[derive(Debug)]
#[non_exhaustive]
pub enum BodyError {
    /// The request body could not be read: too large (413), too slow (408), malformed
    /// framing or a connection closed mid-body (400).
    Request(RequestError),
    /// The stream a body was made from yielded an error.
    Stream(BoxError),
}

impl BodyError {
    /// A body over `limit` bytes.
    pub(crate) fn too_large(limit: usize) -> BodyError {
        BodyError::Request(RequestError::BodyTooLarge { limit })
    }

    /// A streamed body's error: kept as is if it already is a `BodyError` (a limit
    /// wrapping another body), otherwise the stream's own failure.
    fn from_stream_error(e: BoxError) -> BodyError {
        match e.downcast::<BodyError>() {
            Ok(e) => *e,
            Err(e) => BodyError::Stream(e),
        }
    }

    /// The status a server answers when it cannot read a request body for this reason.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::Request(e) => e.status(),
            BodyError::Stream(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Request(e) => write!(f, "{e}"),
            BodyError::Stream(e) => write!(f, "body stream failed: {e}"),
        }
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BodyError::Request(e) => Some(e),
            BodyError::Stream(e) => Some(&**e),
        }
    }
}

impl Body {
    /// No bytes.
    pub fn empty() -> Body {
        Body::default()
    }

    /// A body streamed from `stream`, sent chunked (its length is unknown).
    pub fn from_stream<S, B, E>(stream: S) -> Body
    where
        S: Stream<Item = Result<B, E>> + Send + 'static,
        B: Into<Bytes>,
        E: Into<BoxError>,
    {
        Body::from_stream_sized(stream, None)
    }

    /// A body streamed from `stream` that will be exactly `len` bytes long when `len` is
    /// `Some` (sent with `Content-Length`; a stream that then yields a different number of
    /// bytes ends the connection, as the client could not tell where the body ends).
    pub fn from_stream_sized<S, B, E>(stream: S, len: Option<u64>) -> Body
    where
        S: Stream<Item = Result<B, E>> + Send + 'static,
        B: Into<Bytes>,
        E: Into<BoxError>,
    {
        let mapped = MapChunks { inner: Box::pin(stream) };
        Body { kind: Kind::Stream { stream: Mutex::new(Box::pin(mapped)), len } }
    }

    pub(crate) fn incoming(incoming: Incoming) -> Body {
        Body { kind: Kind::Incoming(Mutex::new(Box::new(incoming))) }
    }

    /// The body's exact length when it is known before reading it: a whole body, a sized
    /// stream, or a request body with `Content-Length`.
    pub fn size_hint(&self) -> Option<u64> {
        match &self.kind {
            Kind::Full(b) => Some(b.len() as u64),
            Kind::Stream { len, .. } => *len,
            Kind::Incoming(i) => i.lock().ok()?.size_hint(),
        }
    }

    /// The bytes, if the body is whole (not a stream, not still arriving).
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match &self.kind {
            Kind::Full(b) => Some(b),
            _ => None,
        }
    }

    /// Polls for the next chunk of bytes; `None` at the end of the body.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        match &mut self.kind {
            Kind::Full(b) if b.is_empty() => Poll::Ready(None),
            Kind::Full(b) => Poll::Ready(Some(Ok(std::mem::take(b)))),
            Kind::Stream { stream, .. } => {
                let stream = stream.get_mut().unwrap_or_else(|e| e.into_inner());
                stream
                    .as_mut()
                    .poll_next(cx)
                    .map(|item| item.map(|r| r.map_err(BodyError::from_stream_error)))
            }
            Kind::Incoming(i) => i.get_mut().unwrap_or_else(|e| e.into_inner()).poll_chunk(cx),
        }
    }

    /// The next chunk of bytes, or `None` at the end of the body. Cancel-safe: a chunk is
    /// only taken from the body when this returns it.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, BodyError>> {
        std::future::poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// Reads the whole body into memory, failing with a 413 [`BodyError`] past `limit`
    /// bytes (checked against a known length before anything is read).
    ///
    /// # Errors
    /// [`BodyError`]: over the limit, or the body could not be read.
    pub async fn collect(mut self, limit: usize) -> Result<Bytes, BodyError> {
        if self.size_hint().is_some_and(|n| n > limit as u64) {
            return Err(BodyError::too_large(limit));
        }
        if let Kind::Full(b) = self.kind {
            return Ok(b);
        }
        // One chunk (the common case) is returned as is, without a copy.
        let mut first: Option<Bytes> = None;
        let mut joined: Vec<u8> = Vec::new();
        let mut total = 0;
        while let Some(chunk) = self.chunk().await {
            let chunk = chunk?;
            total += chunk.len();
            if total > limit {
                return Err(BodyError::too_large(limit));
            }
            if first.is_none() && joined.is_empty() {
                first = Some(chunk);
            } else {
                if let Some(f) = first.take() {
                    joined.extend_from_slice(&f);
                }
                joined.extend_from_slice(&chunk);
            }
        }
        Ok(first.unwrap_or_else(|| Bytes::from(joined)))
    }
}

impl Stream for Body {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_chunk(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, None)
    }
}

/// Adapts a user's stream of `Into<Bytes>` / `Into<BoxError>` items to the boxed form.
struct MapChunks<S> {
    inner: Pin<Box<S>>,
}

impl<S, B, E> Stream for MapChunks<S>
where
    S: Stream<Item = Result<B, E>>,
    B: Into<Bytes>,
    E: Into<BoxError>,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx).map(|o| o.map(|r| r.map(Into::into).map_err(Into::into)))
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Body {
        Body { kind: Kind::Full(b) }
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Body::from(Bytes::from(v))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::from(Bytes::from(s))
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Body::from(Bytes::from_static(s.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(b: &'static [u8]) -> Body {
        Body::from(Bytes::from_static(b))
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Full(b) => write!(f, "Body({} bytes)", b.len()),
            Kind::Stream { len, .. } => write!(f, "Body(stream, length {len:?})"),
            Kind::Incoming(_) => write!(f, "Body(incoming)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Chunks(Vec<Result<&'static str, std::io::Error>>);

    impl Stream for Chunks {
        type Item = Result<&'static str, std::io::Error>;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready(if self.0.is_empty() { None } else { Some(self.0.remove(0)) })
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        kiln_runtime::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn whole_and_streamed_bodies_collect_within_limits() {
        assert_eq!(block_on(Body::from("hello").collect(5)).unwrap(), "hello");
        assert_eq!(
            block_on(Body::from("hello").collect(4)).unwrap_err().status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let streamed = || Body::from_stream(Chunks(vec![Ok("ab"), Ok("cd"), Ok("e")]));
        assert_eq!(streamed().size_hint(), None);
        assert_eq!(block_on(streamed().collect(5)).unwrap(), "abcde");
        assert_eq!(block_on(streamed().collect(4)).unwrap_err().status(), StatusCode::PAYLOAD_TOO_LARGE);
        let failing = Body::from_stream(Chunks(vec![Ok("ab"), Err(std::io::Error::other("disk gone"))]));
        let err = block_on(failing.collect(100)).unwrap_err();
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(err.to_string().contains("disk gone"), "{err}");
        let sized = Body::from_stream_sized(Chunks(vec![Ok("abc")]), Some(3));
        assert_eq!(sized.size_hint(), Some(3));
        assert_eq!(
            block_on(Body::from_stream_sized(Chunks(vec![]), Some(9)).collect(5)).unwrap_err().status(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "a known length is checked before reading"
        );
    }

    #[test]
    fn chunks_come_out_in_order_then_none() {
        let mut body = Body::from_stream(Chunks(vec![Ok("one"), Ok("two")]));
        block_on(async {
            assert_eq!(body.chunk().await.unwrap().unwrap(), "one");
            assert_eq!(body.chunk().await.unwrap().unwrap(), "two");
            assert!(body.chunk().await.is_none());
        });
        let mut whole = Body::from("x");
        block_on(async {
            assert_eq!(whole.chunk().await.unwrap().unwrap(), "x");
            assert!(whole.chunk().await.is_none());
        });
    }
}
