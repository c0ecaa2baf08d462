//! Request id: every request carries an `x-request-id`, propagated from the client (or a
//! proxy in front) when it sent a sane one, generated otherwise; the response echoes it, and
//! handlers and the trace span can read it as the [`RequestId`] extension.
//!
//! A sent id is kept only if it is 1–128 visible ASCII characters, so a client cannot push
//! megabytes or control characters into every log line. Generated ids are unique within
//! the process: a random per-process prefix and a counter (`3fa9c2e1d07b4c55-2a`).

use crate::{Body, Layer, Service};
use http::header::{HeaderName, HeaderValue};
use http::{Request, Response};
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The header name: `x-request-id`.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-sent id kept.
const MAX_ID_LEN: usize = 128;

/// The request's id, in its extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub HeaderValue);

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

/// Wraps a service in [`RequestIdService`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestIdLayer;

impl RequestIdLayer {
    /// The layer.
    pub fn new() -> RequestIdLayer {
        RequestIdLayer
    }
}

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestIdService<S>;
    fn layer(&self, inner: S) -> RequestIdService<S> {
        RequestIdService { inner }
    }
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct RequestIdService<S> {
    inner: S,
}

fn acceptable(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty() && b.len() <= MAX_ID_LEN && b.iter().all(|c| c.is_ascii_graphic())
}

/// A new process-unique id.
pub(crate) fn generate() -> HeaderValue {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = *PREFIX.get_or_init(|| {
        // std's RandomState is seeded from the OS once per process.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(std::process::id().into());
        h.finish()
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    HeaderValue::try_from(format!("{prefix:016x}-{n:x}"))
        .expect("hex digits and a dash are a valid header value")
}

impl<S: Service> Service for RequestIdService<S> {
    fn call(&self, mut request: Request<Body>) -> impl Future<Output = Response<Body>> + Send {
        let id = match request.headers().get(&REQUEST_ID) {
            Some(v) if acceptable(v) => v.clone(),
            _ => {
                let id = generate();
                request.headers_mut().insert(REQUEST_ID, id.clone());
                id
            }
        };
        request.extensions_mut().insert(RequestId(id.clone()));
        let inner = self.inner.call(request);
        async move {
            let mut response = inner.await;
            response.headers_mut().insert(REQUEST_ID, id);
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept_others_replaced() {
        assert!(acceptable(&HeaderValue::from_static("abc-123")));
        assert!(!acceptable(&HeaderValue::from_static("")));
        assert!(!acceptable(&HeaderValue::from_static("has space")));
        assert!(!acceptable(&HeaderValue::try_from("x".repeat(129)).unwrap()));
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(acceptable(&a));
    }
}
