//! Trace: one `tracing` span per request (`method`, `path`, `request_id`, `trace_id`, and —
//! filled in as they become known — `route`, the pattern that matched, and `user_id`, which
//! an authentication extractor records), and one event when the response is ready with its
//! `status` and `latency_ms` — at `INFO` for 1xx–4xx and `ERROR` for 5xx. Everything a
//! handler logs happens inside the span, so a subscriber prints it with the request's fields.
//!
//! `trace_id` is the W3C trace context's: taken from the request's `traceparent` header when
//! it carries a valid one (the caller's trace continues here), else new. `route` needs the
//! router built [`with_matched_path`](crate::Router::with_matched_path).
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
        let trace_id = request
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(trace_id_of)
            .map_or_else(new_trace_id, str::to_owned);
        let mut request = request;
        request.extensions_mut().insert(TraceContext { trace_id: trace_id.clone() });
        let span = tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.uri().path(),
            request_id = %request_id.as_deref().unwrap_or("-"),
            trace_id = %trace_id,
            route = tracing::field::Empty,
            user_id = tracing::field::Empty,
        );
        let started = std::time::Instant::now();
        let inner = span.in_scope(|| self.inner.call(request));
        async move {
            let response = inner.await;
            if let Some(route) = response.extensions().get::<crate::router::MatchedPath>() {
                tracing::Span::current().record("route", tracing::field::display(&route.0));
            }
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

/// The request's W3C trace, in its extensions: a handler passes it on to what it starts (a
/// job, a call to another service) so their work joins the same trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 hex digits.
    pub trace_id: String,
}

impl TraceContext {
    /// A `traceparent` header value for a call made on this trace's behalf (a new span id).
    pub fn child_traceparent(&self) -> String {
        child_traceparent(&self.trace_id)
    }
}

/// A `traceparent` value continuing trace `trace_id` with a new span id.
pub fn child_traceparent(trace_id: &str) -> String {
    format!("00-{trace_id}-{}-01", &new_trace_id()[..16])
}

/// The trace id of a W3C `traceparent` value (`00-<32 hex>-<16 hex>-<2 hex>`), if valid: the
/// version known, every field hex of its length, and neither id all zeros.
pub fn trace_id_of(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let valid = version == "00"
        && parts.next().is_none()
        && hex(trace, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0');
    valid.then_some(trace)
}

/// A new trace id: 32 hex digits, random.
fn new_trace_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    // Two hashes under fresh random keys (std's per-process random seed): random enough to
    // tell traces apart, without a dependency; not for secrets.
    let half = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
        );
        h.finish()
    };
    format!("{:016x}{:016x}", half(), half())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_gives_its_trace_id_only_when_valid() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(trace_id_of(&format!("00-{id}-00f067aa0ba902b7-01")), Some(id));
        for bad in [
            format!("01-{id}-00f067aa0ba902b7-01"),               // unknown version
            format!("00-{}-00f067aa0ba902b7-01", "0".repeat(32)), // all-zero trace
            format!("00-{id}-0000000000000000-01"),               // all-zero parent
            format!("00-{}-00f067aa0ba902b7-01", id.to_uppercase()), // upper case
            format!("00-{id}-00f067aa0ba902b7"),                  // a field missing
            format!("00-{id}-00f067aa0ba902b7-01-extra"),         // one too many
        ] {
            assert_eq!(trace_id_of(&bad), None, "{bad}");
        }
        let (a, b) = (new_trace_id(), new_trace_id());
        assert!(a.len() == 32 && a != b && trace_id_of(&format!("00-{a}-00f067aa0ba902b7-01")).is_some());
    }
}
