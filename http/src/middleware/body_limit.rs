//! Body limit: a route-level cap on request bodies, below the server's `max_body`.
//!
//! A request announcing a larger `Content-Length` is answered 413 before the handler runs.
//! A body whose length is not announced (chunked) is wrapped so that reading past the limit
//! fails with a 413 [`BodyError`](crate::BodyError), and the `Json`, `String` and `Bytes`
//! extractors see the limit through the [`BodyLimit`] extension.

use crate::extract::BodyLimit as BodyLimitExt;
use crate::response::error_response;
use crate::{Body, BodyError, Layer, Service};
use bytes::Bytes;
use futures_core::Stream;
use http::{Request, Response, StatusCode};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Wraps a service in [`BodyLimit`].
#[derive(Debug, Clone, Copy)]
pub struct BodyLimitLayer {
    limit: usize,
}

impl BodyLimitLayer {
    /// Request bodies of at most `limit` bytes.
    pub fn new(limit: usize) -> BodyLimitLayer {
        BodyLimitLayer { limit }
    }
}

impl<S> Layer<S> for BodyLimitLayer {
    type Service = BodyLimit<S>;
    fn layer(&self, inner: S) -> BodyLimit<S> {
        BodyLimit { inner, limit: self.limit }
    }
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct BodyLimit<S> {
    inner: S,
    limit: usize,
}

impl<S: Service> Service for BodyLimit<S> {
    #[allow(clippy::manual_async_fn)] // an `async fn` here would not promise `Send`
    fn call(&self, request: Request<Body>) -> impl Future<Output = Response<Body>> + Send {
        async move {
            let limit = self.limit;
            let (mut parts, body) = request.into_parts();
            let body = match body.size_hint() {
                Some(n) if n > limit as u64 => {
                    return error_response(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        &format!("body over {limit} bytes"),
                    );
                }
                Some(_) => body,
                None => Body::from_stream(Limited { body, left: limit, limit }),
            };
            parts.extensions.insert(BodyLimitExt(limit));
            self.inner.call(Request::from_parts(parts, body)).await
        }
    }
}

/// A body that fails once more than `limit` bytes have come out of it.
struct Limited {
    body: Body,
    left: usize,
    limit: usize,
}

impl Stream for Limited {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match this.body.poll_chunk(cx) {
            Poll::Ready(Some(Ok(chunk))) if chunk.len() > this.left => {
                Poll::Ready(Some(Err(BodyError::too_large(this.limit))))
            }
            Poll::Ready(Some(Ok(chunk))) => {
                this.left -= chunk.len();
                Poll::Ready(Some(Ok(chunk)))
            }
            other => other,
        }
    }
}
