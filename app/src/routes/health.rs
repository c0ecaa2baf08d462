//! Liveness, readiness and metrics, for a load balancer, an orchestrator and Prometheus.
//!
//! `GET /healthz` (and `/health`) says the process answers: nothing else is checked, so a
//! database outage does not get healthy processes restarted. `GET /readyz` says whether this
//! process should be sent traffic: the database answers, its schema is the version this
//! binary migrates to, Redis answers (if configured), and the process is not shutting
//! down. Any of those false is a 503 with every check's result, each check bounded by
//! [`CHECK_LIMIT`] so a stalled dependency makes the probe fail, not hang.

use crate::db::Db;
use crate::error::AppError;
use crate::state::AppState;
use kiln_http::extract::{Json, State};
use kiln_http::http::StatusCode;
use kiln_http::router::get;
use kiln_http::Router;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long each readiness check may take.
pub const CHECK_LIMIT: Duration = Duration::from_secs(2);

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(live))
        .route("/healthz", get(live))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
}

async fn live() -> &'static str {
    "ok"
}

/// `GET /metrics` (`metrics.rs`).
async fn metrics(State(s): State<AppState>) -> impl kiln_http::IntoResponse {
    (
        [(kiln_http::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        crate::metrics::render(&s).await,
    )
}

/// The schema version the database is at.
async fn schema_version(db: &Db) -> Result<i64, AppError> {
    let sql = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";
    match db {
        Db::Sqlite(pool) => {
            pool.read(move |c| c.query_row(sql, [], |r| r.get(0)).map_err(AppError::from)).await
        }
        Db::Postgres(pg) => Ok(pg.get().await?.query_one(sql, &[]).await?.try_get(0)?),
    }
}

/// Runs `check` within [`CHECK_LIMIT`]: `Ok(detail)` or `Err(why)`.
async fn bounded<F: std::future::Future<Output = Result<String, String>>>(
    check: F,
) -> Result<String, String> {
    kiln_runtime::time::timeout(CHECK_LIMIT, check)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", CHECK_LIMIT.as_secs())))
}

async fn ready(State(s): State<AppState>) -> (StatusCode, Json<Value>) {
    let latest = crate::db::migrations::latest();
    let database = bounded(async {
        match schema_version(&s.db).await {
            Ok(v) if v == latest => Ok(format!("ok, schema version {v}")),
            Ok(v) => Err(format!("schema version {v}, this binary needs {latest}")),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
    let redis = match &s.redis {
        None => Ok("not configured".to_owned()),
        Some(r) => {
            bounded(async { r.ping().await.map(|()| "ok".to_owned()).map_err(|e| e.to_string()) }).await
        }
    };
    let draining = s.draining.load(Ordering::SeqCst);
    let ready = database.is_ok() && redis.is_ok() && !draining;
    let show = |r: Result<String, String>| match r {
        Ok(detail) => json!({ "ok": true, "detail": detail }),
        Err(why) => json!({ "ok": false, "detail": why }),
    };
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        status,
        Json(json!({
            "ready": ready,
            "database": show(database),
            "redis": show(redis),
            "draining": draining,
        })),
    )
}
