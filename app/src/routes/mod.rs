//! The HTTP routes of the service, one module per area, and the middleware around them.

mod auth;
mod me;

use crate::state::AppState;
use kiln_http::middleware::{CatchPanicLayer, RateLimitLayer, RequestIdLayer, TimeoutLayer, TraceLayer};
use kiln_http::router::get;
use kiln_http::{Router, Service, ServiceExt};
use std::time::Duration;

/// Requests per second per client IP on `/auth/*` (bursts of [`AUTH_BURST`]).
pub const AUTH_RATE: u32 = 5;
/// See [`AUTH_RATE`].
pub const AUTH_BURST: u32 = 20;

/// Every route with its state. The auth routes sit behind their own per-IP rate limit: they
/// are a router of their own, given its state, layered, and mounted as a service.
pub fn router(state: AppState) -> Router {
    let auth = auth::routes().with_state(state.clone()).layer(auth_rate_limit());
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route_service("/auth/{*rest}", auth)
        .merge(me::routes())
        .with_state(state)
}

/// The routes inside the middleware stack: request id → trace → catch-panic → timeout.
pub fn service(state: AppState) -> impl Service {
    router(state)
        .layer(TimeoutLayer::new(Duration::from_secs(30)))
        .layer(CatchPanicLayer::new())
        .layer(TraceLayer::new())
        .layer(RequestIdLayer::new())
}

/// The per-IP limit for the auth routes.
pub(crate) fn auth_rate_limit() -> RateLimitLayer {
    RateLimitLayer::per_second(AUTH_RATE, AUTH_BURST)
}
