//! Trace: one `tracing` span per request (`method`, `path`, `request_id`), and one event when
//! the response is ready with its `status` and `latency_ms` — at `INFO` for 1xx–4xx and
//! `ERROR` for 5xx. Everything a handler logs happens inside the span, so a subscriber
//! prints it with the request's fields.
//!
//! Put [`RequestIdLayer`](super::RequestIdLayer) *outside* this layer (a later `.layer`)
//! so the id exists when the span opens.

use super::RequestId;
use crate::{Body, Layer, Service};
use http::{Request, Response};
use std::future::Future;
use tracing::Instrument;

/// Wraps a service in [`Trace`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceLayer;

impl TraceLayer {
    /// The layer.
    pub fn new() -> TraceLayer {
        TraceLayer
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = Trace<S>;
    fn layer(&self, inner: S) -> Trace<S> {
        Trace { inner }
    }
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Trace<S> {
    inner: S,
}

impl<S: Service> Service for Trace<S> {
    fn call(&self, request: Request<Body>) -> impl Future<Output = Response<Body>> + Send {
        let request_id = request.extensions().get::<RequestId>().map(|id| id.as_str().to_owned());
        let span = tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.uri().path(),
            request_id = %request_id.as_deref().unwrap_or("-"),
        );
        let started = std::time::Instant::now();
        let inner = span.in_scope(|| self.inner.call(request));
        async move {
            let response = inner.await;
            let status = response.status().as_u16();
            let latency_ms = started.elapsed().as_micros() as f64 / 1e3; // µs precision reads better
            if response.status().is_server_error() {
                tracing::error!(status, latency_ms, "response");
            } else {
                tracing::info!(status, latency_ms, "response");
            }
            response
        }
        .instrument(span)
    }
}
