//! `/jobs`: enqueue a job, see it, list jobs; admins retry dead jobs and cancel queued ones
//! (`POST /jobs/{id}/retry`, `POST /jobs/{id}/cancel`).
//!
//! A member sees the jobs they enqueued (another's is a 404, as if it did not exist); an
//! admin sees every job. Times are Unix milliseconds, as the queue keeps them.

use crate::auth::user::{role, Role};
use crate::auth::{AdminUser, AuthUser};
use crate::error::{AppError, FieldError};
use crate::jobs::{Job, JobFilter, JobState, Queue};
use crate::json::{some, some_integer, JsonObject};
use crate::state::AppState;
use kiln_http::extract::{Extension, Json, Path, Query, State};
use kiln_http::http::header::LOCATION;
use kiln_http::http::StatusCode;
use kiln_http::middleware::TraceContext;
use kiln_http::response::IntoResponse;
use kiln_http::router::{get, post};
use kiln_http::Router;
use serde::Deserialize;
use serde_json::{json, Value};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/jobs", post(enqueue).get(list))
        .route("/jobs/{id}", get(show))
        .route("/jobs/{id}/retry", post(retry))
        // A POST, not DELETE /jobs/{id}: a cancelled job stays, with its history, and can be
        // retried; DELETE would promise the resource is gone.
        .route("/jobs/{id}/cancel", post(cancel))
}

/// Highest (and, negated, lowest) priority a request may give.
pub const MAX_PRIORITY: i32 = 100;
/// Longest idempotency key.
pub const MAX_KEY: usize = 200;
/// Latest `run_at`: the last millisecond of the year 9999.
pub const MAX_RUN_AT: i64 = 253_402_300_799_999;
/// Default page of `GET /jobs`.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page of `GET /jobs`.
pub const MAX_LIMIT: u32 = 100;

/// The body of `POST /jobs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewJob {
    kind: String,
    #[serde(default, deserialize_with = "some")]
    payload: Option<serde_json::Map<String, Value>>,
    #[serde(default, deserialize_with = "some_integer")]
    run_at: Option<i64>,
    #[serde(default, deserialize_with = "some_integer")]
    priority: Option<i32>,
    #[serde(default, deserialize_with = "some")]
    idempotency_key: Option<String>,
}

async fn enqueue(
    State(state): State<AppState>,
    user: AuthUser,
    trace: Option<Extension<TraceContext>>,
    JsonObject(body): JsonObject<NewJob>,
) -> Result<impl IntoResponse, AppError> {
    let mut errors = Vec::new();
    let public = state.kinds.public_kinds();
    if !public.contains(&body.kind.as_str()) {
        errors.push(FieldError { field: "kind", message: format!("must be one of: {}", public.join(", ")) });
    }
    if body.run_at.is_some_and(|at| !(0..=MAX_RUN_AT).contains(&at)) {
        errors
            .push(FieldError { field: "run_at", message: format!("must be Unix ms from 0 to {MAX_RUN_AT}") });
    }
    if body.priority.is_some_and(|p| !(-MAX_PRIORITY..=MAX_PRIORITY).contains(&p)) {
        let message = format!("must be from -{MAX_PRIORITY} to {MAX_PRIORITY}");
        errors.push(FieldError { field: "priority", message });
    }
    let key_ok = |k: &String| (1..=MAX_KEY).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic());
    if body.idempotency_key.as_ref().is_some_and(|k| !key_ok(k)) {
        let message = format!("must be 1 to {MAX_KEY} visible ASCII characters");
        errors.push(FieldError { field: "idempotency_key", message });
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let mut spec = state.kinds.spec(&body.kind, Value::Object(body.payload.unwrap_or_default()));
    spec.run_at = body.run_at;
    spec.priority = body.priority.unwrap_or(0);
    // A key is the caller's: the same key from two users names two jobs.
    spec.idempotency_key = body.idempotency_key.map(|k| format!("user-{}:{k}", user.id));
    spec.created_by = Some(user.id);
    let spec = spec.traced(trace.as_ref().map(|Extension(t)| t));
    let enqueued = state.jobs.enqueue(spec).await?;
    let status = if enqueued.created { StatusCode::CREATED } else { StatusCode::OK };
    let location = format!("/jobs/{}", enqueued.job.id);
    Ok((status, [(LOCATION, location)], Json(view(&enqueued.job))))
}

/// A job as the API shows it: the idempotency key without the owner prefix the queue adds.
fn view(job: &Job) -> Value {
    let mut v = serde_json::to_value(job).expect("a job serializes");
    if let Some(key) = job.idempotency_key.as_deref() {
        let shown = key.split_once(':').map_or(key, |(_, k)| k);
        v["idempotency_key"] = json!(shown);
    }
    v
}

/// Job `id` if `user` may see it (theirs, or any for an admin).
async fn visible(state: &AppState, user: AuthUser, id: i64) -> Result<Job, AppError> {
    let not_found = || AppError::NotFound(format!("no job with id {id}"));
    let job = state.jobs.get(id).await?.ok_or_else(not_found)?;
    // The role is read only when the job is not the caller's own.
    if job.created_by == Some(user.id) || role(state, user.id).await? == Role::Admin {
        Ok(job)
    } else {
        Err(not_found())
    }
}

async fn show(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(view(&visible(&state, user, id).await?)))
}

/// The query of `GET /jobs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    state: Option<String>,
    kind: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, AppError> {
    let mut errors = Vec::new();
    let job_state = match q.state.as_deref() {
        None => None,
        Some(name) => JobState::parse(name).or_else(|| {
            let names: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
            errors.push(FieldError {
                field: "state",
                message: format!("must be one of: {}", names.join(", ")),
            });
            None
        }),
    };
    let limit = match q.limit.as_deref().map(str::parse::<u32>) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            errors.push(FieldError {
                field: "limit",
                message: format!("must be an integer from 1 to {MAX_LIMIT}"),
            });
            DEFAULT_LIMIT
        }
    };
    // The cursor is the id of the last job of the previous page (newest first).
    let before_id = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => c.parse::<i64>().ok().filter(|id| *id > 0).or_else(|| {
            errors.push(FieldError {
                field: "cursor",
                message: "use the next_cursor of a previous page".into(),
            });
            None
        }),
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let admin = role(&state, user.id).await? == Role::Admin;
    let filter = JobFilter {
        state: job_state,
        kind: q.kind.clone(),
        created_by: (!admin).then_some(user.id),
        limit: limit + 1, // one more, to know whether there is a next page
        before_id,
    };
    let mut jobs = state.jobs.list(filter).await?;
    let more = jobs.len() > limit as usize;
    jobs.truncate(limit as usize);
    let next_cursor = jobs.last().filter(|_| more).map(|j| j.id.to_string());
    let next = next_cursor.as_ref().map(|cursor| {
        let mut query = vec![("limit", limit.to_string()), ("cursor", cursor.clone())];
        if let Some(s) = &q.state {
            query.push(("state", s.clone()));
        }
        if let Some(k) = &q.kind {
            query.push(("kind", k.clone()));
        }
        format!("/jobs?{}", serde_urlencoded::to_string(&query).expect("a flat query encodes"))
    });
    let items: Vec<Value> = jobs.iter().map(view).collect();
    Ok(Json(json!({ "items": items, "limit": limit, "next": next, "next_cursor": next_cursor })))
}

async fn retry(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<Value>, AppError> {
    match state.jobs.retry(id).await? {
        Some(job) => {
            tracing::info!(job = id, by = admin.id, "dead job retried by an admin");
            Ok(Json(view(&job)))
        }
        None => match state.jobs.get(id).await? {
            None => Err(AppError::NotFound(format!("no job with id {id}"))),
            Some(job) => Err(AppError::Conflict(format!(
                "job {id} is {}: only a dead or cancelled job can be retried",
                job.state.as_str()
            ))),
        },
    }
}

async fn cancel(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<Value>, AppError> {
    match state.jobs.cancel(id).await? {
        Some(Ok(job)) => {
            tracing::info!(job = id, by = admin.id, "queued job cancelled by an admin");
            Ok(Json(view(&job)))
        }
        Some(Err(current)) => Err(AppError::Conflict(format!(
            "job {id} is {}: only an available job can be cancelled",
            current.as_str()
        ))),
        None => Err(AppError::NotFound(format!("no job with id {id}"))),
    }
}
