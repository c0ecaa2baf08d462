//! Middleware: [`Layer`](crate::Layer)s that wrap a service with one concern each.
//!
//! ```
//! use kiln_http::middleware::{CorsLayer, RateLimitLayer, RequestIdLayer, TimeoutLayer, TraceLayer};
//! use kiln_http::{router::get, Router, ServiceExt};
//! use std::time::Duration;
//!
//! let app = Router::new()
//!     .route("/", get(|| async { "hi" }))
//!     .layer(TimeoutLayer::new(Duration::from_secs(10)))
//!     .layer(RateLimitLayer::per_second(50, 100))
//!     .layer(CorsLayer::new().allow_origin("https://example.com"))
//!     .layer(TraceLayer::new())
//!     .layer(RequestIdLayer::new()); // outermost: the id exists before the trace span
//! # let _ = app;
//! ```
//!
//! The last `.layer(…)` is the outermost: a request passes the layers bottom-up and the
//! response top-down. Each layer is a small struct whose service's `call` returns a plain
//! `async` block around the inner call, so a stack costs no allocation per layer.

mod body_limit;
mod catch_panic;
mod cors;
mod rate_limit;
mod request_id;
mod timeout;
mod trace;

pub use body_limit::{BodyLimit, BodyLimitLayer};
pub use catch_panic::{CatchPanic, CatchPanicLayer};
pub use cors::{Cors, CorsLayer};
pub use rate_limit::{Decision, RateLimit, RateLimitLayer, SharedBuckets, DEFAULT_MAX_CLIENTS};
pub use request_id::{RequestId, RequestIdLayer, RequestIdService, REQUEST_ID};
pub use timeout::{Timeout, TimeoutLayer};
pub use trace::{trace_id_of, Trace, TraceContext, TraceLayer};
