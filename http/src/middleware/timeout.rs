//! Timeout: a request whose handler takes longer than a limit is answered
//! `503 Service Unavailable` (a problem body saying the limit), and the handler's future is
//! dropped — cancelled at its next `.await`, like any Kiln future.
//!
//! (408 would be wrong here: it means the *client* was slow to send its request, which the
//! server's own header and body timeouts already answer.)

use crate::response::{error_response, IntoResponse};
use crate::{Body, Layer, Service};
use http::{Request, Response, StatusCode};
use std::future::Future;
use std::time::Duration;

/// Wraps a service in [`Timeout`].
#[derive(Debug, Clone, Copy)]
pub struct TimeoutLayer {
    limit: Duration,
}

impl TimeoutLayer {
    /// Requests get at most `limit`.
    pub fn new(limit: Duration) -> TimeoutLayer {
        TimeoutLayer { limit }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;
    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout { inner, limit: self.limit }
    }
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Timeout<S> {
    inner: S,
    limit: Duration,
}

impl<S: Service> Service for Timeout<S> {
    fn call(&self, request: Request<Body>) -> impl Future<Output = Response<Body>> + Send {
        let inner = self.inner.call(request);
        let limit = self.limit;
        async move {
            match kiln_runtime::time::timeout(limit, inner).await {
                Ok(response) => response,
                Err(_) => {
                    tracing::warn!(limit_ms = limit.as_millis() as u64, "handler timed out");
                    error_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &format!("the request took longer than {limit:?}"),
                    )
                    .into_response()
                }
            }
        }
    }
}
