//! Trace: one `tracing` span per request (`method`, `path`, `request_id`, the W3C ids
//! `trace_id`, `span_id` and `parent_id`, and — filled in as they become known — `route`, the
//! pattern that matched, `user_id`, which an authentication extractor records, and the
//! response's `status`), and one
//! event when the response is ready with its `status` and `latency_ms` — at `INFO` for 1xx–4xx
//! and `ERROR` for 5xx. Everything a handler logs happens inside the span, so a subscriber
//! prints it with the request's fields.
//!
//! # W3C trace context
//! A trace is one operation's story across processes: a 16-byte trace id shared by every span
//! in it, and per span an 8-byte span id and its parent's. Processes pass the caller's span on
//! in the `traceparent` header (`00-<trace id>-<span id>-<flags>`) with vendors' data in
//! `tracestate`. Here a request with a valid `traceparent` continues that trace, its span a
//! child of the caller's; any other request starts a trace. The request's own span is in its
//! extensions as a [`TraceContext`]: a handler hands it on to what it starts (a job, a call to
//! another service — [`Client`](crate::Client) writes the headers for a request that carries
//! one) so their spans join the trace as children. The ids are span fields, so any subscriber
//! can log them, and an exporter (the service's OTLP exporter) can rebuild the tree from them.
//!
//! `route` needs the router built [`with_matched_path`](crate::Router::with_matched_path).
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
        let caller = TraceContext::from_headers(request.headers());
        let ours = caller.as_ref().map_or_else(TraceContext::root, TraceContext::child);
        let span = tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.uri().path(),
            request_id = %request_id.as_deref().unwrap_or("-"),
            trace_id = %ours.trace_id,
            span_id = %ours.span_id,
            parent_id = caller.as_ref().map(|c| tracing::field::display(&c.span_id)),
            "otel.kind" = "server",
            route = tracing::field::Empty,
            user_id = tracing::field::Empty,
            status = tracing::field::Empty,
        );
        let mut request = request;
        request.extensions_mut().insert(ours);
        let started = std::time::Instant::now();
        let inner = span.in_scope(|| self.inner.call(request));
        async move {
            let response = inner.await;
            if let Some(route) = response.extensions().get::<crate::router::MatchedPath>() {
                tracing::Span::current().record("route", tracing::field::display(&route.0));
            }
            let status = response.status().as_u16();
            tracing::Span::current().record("status", status);
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

/// A span's place in a W3C trace: the trace, the span, and the vendors' `tracestate`. The
/// trace layer puts the request's in its extensions; pass it on to the work the request
/// starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex digits, not all zeros.
    pub trace_id: String,
    /// 16 lowercase hex digits, not all zeros.
    pub span_id: String,
    /// The `tracestate` header that came with the trace, passed on unchanged.
    pub tracestate: Option<String>,
}

/// The longest `tracestate` passed on; the W3C minimum a platform must propagate is 512.
const MAX_TRACESTATE: usize = 512;

impl TraceContext {
    /// A span starting a new trace.
    pub fn root() -> TraceContext {
        TraceContext { trace_id: random_hex(16), span_id: random_hex(8), tracestate: None }
    }

    /// A new span of the same trace: the context to give a span whose parent is this one.
    pub fn child(&self) -> TraceContext {
        TraceContext { span_id: random_hex(8), ..self.clone() }
    }

    /// The context a `traceparent` value (and the `tracestate` beside it) describe, if the
    /// `traceparent` is valid: see [`trace_id_of`] for the rules. A `tracestate` longer than
    /// 512 bytes or not printable ASCII is dropped.
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<TraceContext> {
        let (trace_id, span_id) = parse_traceparent(traceparent)?;
        let tracestate = tracestate
            .map(str::trim)
            .filter(|s| {
                !s.is_empty() && s.len() <= MAX_TRACESTATE && s.bytes().all(|b| (b' '..=b'~').contains(&b))
            })
            .map(str::to_owned);
        Some(TraceContext { trace_id: trace_id.to_owned(), span_id: span_id.to_owned(), tracestate })
    }

    /// The caller's context from a request's headers: none if `traceparent` is missing,
    /// invalid or repeated (the W3C rule: then a new trace starts, and `tracestate` goes).
    pub fn from_headers(headers: &http::HeaderMap) -> Option<TraceContext> {
        let mut parents = headers.get_all("traceparent").iter();
        let parent = parents.next()?.to_str().ok()?;
        if parents.next().is_some() {
            return None;
        }
        // Several `tracestate` lines are one list.
        let states: Vec<&str> =
            headers.get_all("tracestate").iter().filter_map(|v| v.to_str().ok()).collect();
        TraceContext::parse(parent, (!states.is_empty()).then(|| states.join(",")).as_deref())
    }

    /// This span as a `traceparent` value: what a callee continues from.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }

    /// Writes `traceparent` (and `tracestate`, if any) into `headers`, replacing theirs.
    pub fn write_headers(&self, headers: &mut http::HeaderMap) {
        if let Ok(value) = http::HeaderValue::from_str(&self.traceparent()) {
            headers.insert("traceparent", value);
        }
        match self.tracestate.as_deref().map(http::HeaderValue::from_str) {
            Some(Ok(state)) => {
                headers.insert("tracestate", state);
            }
            _ => {
                headers.remove("tracestate");
            }
        }
    }
}

/// The trace id of a W3C `traceparent` value, if valid: version `00` with exactly its four
/// fields, or a later version (not `ff`) whose first four fields read as `00`'s followed by
/// the end or a `-`; the trace id 32 and the parent id 16 lowercase hex digits, neither all
/// zeros; the flags two hex digits.
pub fn trace_id_of(traceparent: &str) -> Option<&str> {
    parse_traceparent(traceparent).map(|(trace, _)| trace)
}

/// The trace and parent span ids of a valid `traceparent` (see [`trace_id_of`]).
fn parse_traceparent(traceparent: &str) -> Option<(&str, &str)> {
    let value = traceparent.trim();
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    // `vv-<32>-<16>-ff` is 55 bytes; a later version may carry more after a `-`.
    let head = value.get(..55)?;
    let rest = &value[55..];
    let (version, trace, parent, flags) = (&head[..2], &head[3..35], &head[36..52], &head[53..55]);
    let dashes = [2, 35, 52].iter().all(|&i| head.as_bytes()[i] == b'-');
    let tail_ok = if version == "00" { rest.is_empty() } else { rest.is_empty() || rest.starts_with('-') };
    let valid = dashes
        && hex(version)
        && version != "ff"
        && tail_ok
        && hex(trace)
        && hex(parent)
        && hex(flags)
        && nonzero(trace)
        && nonzero(parent);
    valid.then_some((trace, parent))
}

/// `bytes` random bytes as lowercase hex; never all zeros.
fn random_hex(bytes: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    // Hashes under fresh random keys (std's per-process random seed, stepped per instance):
    // random enough to tell traces and spans apart, without a dependency; not for secrets.
    let word = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
        );
        h.finish() | 1 // a zero word would make an all-zero id possible
    };
    let mut out = String::with_capacity(bytes * 2);
    while out.len() < bytes * 2 {
        out.push_str(&format!("{:016x}", word()));
    }
    out.truncate(bytes * 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_gives_its_ids_only_when_valid() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let parent = "00f067aa0ba902b7";
        assert_eq!(trace_id_of(&format!("00-{id}-{parent}-01")), Some(id));
        assert_eq!(parse_traceparent(&format!(" 00-{id}-{parent}-00 ")), Some((id, parent)));
        // A later version is read by its first four fields.
        assert_eq!(trace_id_of(&format!("cc-{id}-{parent}-01")), Some(id));
        assert_eq!(trace_id_of(&format!("cc-{id}-{parent}-01-what-the-future-holds")), Some(id));
        for bad in [
            format!("ff-{id}-{parent}-01"),                  // the forbidden version
            format!("00-{id}-{parent}-01-extra"),            // 00 has four fields only
            format!("cc-{id}-{parent}-01.x"),                // later: the end or a `-`
            format!("00-{}-{parent}-01", "0".repeat(32)),    // all-zero trace
            format!("00-{id}-0000000000000000-01"),          // all-zero parent
            format!("00-{}-{parent}-01", id.to_uppercase()), // upper case
            format!("00-{id}-{parent}"),                     // a field missing
            format!("00-{id}-{parent}-0g"),                  // flags not hex
            format!("00_{id}-{parent}-01"),                  // not a dash
            format!("00-{}-{parent}-01", &id[1..]),          // a short trace id
        ] {
            assert_eq!(trace_id_of(&bad), None, "{bad}");
        }
    }

    #[test]
    fn contexts_continue_their_trace_with_new_spans() {
        let root = TraceContext::root();
        assert!(root.trace_id.len() == 32 && root.span_id.len() == 16);
        let child = root.child();
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.span_id, root.span_id);
        assert_ne!(TraceContext::root().trace_id, root.trace_id);
        let back = TraceContext::parse(&child.traceparent(), Some("kiln=1")).unwrap();
        assert_eq!(back, TraceContext { tracestate: Some("kiln=1".into()), ..child });
    }

    #[test]
    fn headers_carry_one_traceparent_and_the_tracestate_list() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let mut headers = http::HeaderMap::new();
        assert_eq!(TraceContext::from_headers(&headers), None);
        headers.append("tracestate", "a=1".parse().unwrap());
        assert_eq!(TraceContext::from_headers(&headers), None, "a lone tracestate is no context");
        headers.append("traceparent", format!("00-{id}-00f067aa0ba902b7-01").parse().unwrap());
        headers.append("tracestate", "b=2".parse().unwrap());
        let cx = TraceContext::from_headers(&headers).unwrap();
        assert_eq!((cx.span_id.as_str(), cx.tracestate.as_deref()), ("00f067aa0ba902b7", Some("a=1,b=2")));
        let mut out = http::HeaderMap::new();
        cx.child().write_headers(&mut out);
        assert_eq!(trace_id_of(out["traceparent"].to_str().unwrap()), Some(id));
        assert_eq!(out["tracestate"], "a=1,b=2");
        headers.append("traceparent", format!("00-{id}-00f067aa0ba902b7-01").parse().unwrap());
        assert_eq!(TraceContext::from_headers(&headers), None, "two traceparents: a new trace");
    }
}
