//! The HTTP routes of the service, one module per area, and the middleware around them.

mod auth;
mod library;
mod me;

use crate::state::AppState;
use kiln_http::middleware::{CatchPanicLayer, RateLimitLayer, RequestIdLayer, TimeoutLayer, TraceLayer};
use kiln_http::router::get;
use kiln_http::{Router, Service, ServiceExt};
use std::time::Duration;

/// Every route with its state. The auth routes sit behind their own per-IP rate limit: they
/// are a router of their own, given its state, layered, and mounted as a service.
pub fn router(state: AppState) -> Router {
    let limit = RateLimitLayer::per_second(state.auth.rate_per_sec, state.auth.rate_burst);
    let auth = auth::routes().with_state(state.clone()).layer(limit);
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route_service("/auth/{*rest}", auth)
        .merge(me::routes())
        .merge(library::routes())
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
