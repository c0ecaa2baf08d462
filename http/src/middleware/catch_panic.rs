//! Catch-panic: a handler that panics is answered `500 Internal Server Error` (a problem
//! body that does not leak the panic message) instead of the connection simply dying, and
//! the panic message is logged with `tracing::error!`.
//!
//! Without this layer a panicking handler still cannot take the server down (each
//! connection is its own task, and a panicking task is caught by the runtime), but the
//! client sees its connection reset with no response.

use crate::response::error_response;
use crate::{Body, Layer, Service};
use http::{Request, Response, StatusCode};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Wraps a service in [`CatchPanic`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CatchPanicLayer;

impl CatchPanicLayer {
    /// The layer.
    pub fn new() -> CatchPanicLayer {
        CatchPanicLayer
    }
}

impl<S> Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;
    fn layer(&self, inner: S) -> CatchPanic<S> {
        CatchPanic { inner }
    }
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct CatchPanic<S> {
    inner: S,
}

impl<S: Service> Service for CatchPanic<S> {
    fn call(&self, request: Request<Body>) -> impl Future<Output = Response<Body>> + Send {
        // Building the inner future may itself panic (a service that panics before its
        // first await point), so that is caught too.
        let inner = std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request)));
        async move {
            let caught = match inner {
                Ok(future) => CaughtUnwind { future: Box::pin(future) }.await,
                Err(payload) => Err(payload),
            };
            caught.unwrap_or_else(|payload| {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-string panic payload".into());
                tracing::error!(panic = %message, "handler panicked");
                error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server failed while handling the request",
                )
            })
        }
    }
}

/// Polls a future, turning a panic inside `poll` into `Err(payload)`.
struct CaughtUnwind<F> {
    future: Pin<Box<F>>,
}

impl<F: Future> Future for CaughtUnwind<F> {
    type Output = Result<F::Output, Box<dyn std::any::Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // A future that panicked is never polled again (we return Ready with the payload),
        // so observing its possibly broken state afterwards is not a concern.
        let future = self.future.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}
