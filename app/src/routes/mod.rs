//! The HTTP routes of the service, one module per area, and the middleware around them.

mod auth;
mod dashboard;
pub mod health;
pub(crate) mod jobs;
mod library;
pub(crate) mod me;
mod users;

use crate::state::AppState;
use kiln_http::extract::Json;
use kiln_http::middleware::{
    BodyLimitLayer, CatchPanicLayer, RateLimitLayer, RequestIdLayer, TimeoutLayer, TraceLayer,
};
use kiln_http::router::get;
use kiln_http::{Router, Service, ServiceExt};
use std::time::Duration;

/// The routes that need no rate limit of their own.
fn open_routes() -> Router<AppState> {
    Router::new()
        .merge(health::routes())
        .route("/openapi.json", get(|| async { Json(crate::openapi::document()) }))
        .merge(me::routes())
        .merge(library::routes())
        .merge(users::routes())
        .merge(jobs::routes())
        .merge(dashboard::routes())
}

/// Every route with its state. The auth routes sit behind their own per-IP rate limit: they
/// are a router of their own, given its state, layered, and mounted as a service.
pub fn router(state: AppState) -> Router {
    let mut limit = RateLimitLayer::per_second(state.auth.rate_per_sec, state.auth.rate_burst);
    if let Some(redis) = &state.redis {
        limit = limit.shared(std::sync::Arc::new(crate::rate_buckets::RedisBuckets::new(
            redis.clone(),
            "{kiln}:rate:auth:",
        )));
    }
    let auth = auth::routes().with_state(state.clone()).with_matched_path().layer(limit);
    open_routes().route_service("/auth/{*rest}", auth).with_state(state).with_matched_path()
}

/// Every route's pattern and methods, the auth routes included (unlike
/// `router(…).routes()`, which sees them as one mounted service).
pub fn route_table() -> Vec<(String, Vec<kiln_http::http::Method>)> {
    open_routes().merge(auth::routes()).routes()
}

/// A worker process's own small server: `/healthz`, `/readyz` and `/metrics` only
/// (`kiln worker --metrics-addr`), so Prometheus scrapes its jobs and runtime and an
/// orchestrator probes it like an API process.
pub fn probes(state: AppState) -> impl Service {
    health::routes().with_state(state).with_matched_path().layer(CatchPanicLayer::new())
}

/// Largest request body the service reads (every body it takes is a small JSON object).
pub const MAX_BODY: usize = 64 * 1024;

/// The routes inside the middleware stack: request id → trace → metrics and request stats →
/// catch-panic → timeout → body limit.
pub fn service(state: AppState) -> impl Service {
    let metrics = crate::metrics::HttpMetricsLayer {
        metrics: state.http_metrics.clone(),
        stats: state.http_stats.clone(),
    };
    router(state)
        .layer(BodyLimitLayer::new(MAX_BODY))
        .layer(TimeoutLayer::new(Duration::from_secs(30)))
        .layer(CatchPanicLayer::new())
        .layer(metrics)
        .layer(TraceLayer::new())
        .layer(RequestIdLayer::new())
}
