//! `/dashboard`: one HTML page (no build step, no external assets) that polls `/stats` every
//! second and shows requests, jobs, caches and the runtime; `/stats`: the numbers, as JSON
//! (`stats.rs`). Both show counts only — no user's data — so they need no token; listing and
//! retrying dead jobs from the page uses an admin's token, through `/jobs`.

use crate::state::AppState;
use kiln_http::extract::{Json, State};
use kiln_http::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use kiln_http::response::IntoResponse;
use kiln_http::router::get;
use kiln_http::Router;

const PAGE: &str = include_str!("../../assets/dashboard.html");

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/dashboard", get(page)).route("/stats", get(stats))
}

async fn page() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/html; charset=utf-8"), (CACHE_CONTROL, "no-cache")], PAGE)
}

async fn stats(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(crate::stats::snapshot(&state).await)
}
