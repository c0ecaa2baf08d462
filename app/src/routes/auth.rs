//! `/auth/*`: signup, login, refresh, logout (the logic is in `auth/session.rs`).
//!
//! Login throttles by the client's address as the TCP connection shows it (`PeerAddr`).
//! `X-Forwarded-For` is not trusted: any client can write it. Behind a reverse proxy every
//! client shares the proxy's address, so the proxy must do the per-client throttling.

use crate::auth::session;
use crate::error::{AppError, FieldError};
use crate::json::JsonObject;
use crate::state::AppState;
use kiln_http::extract::Extension;
use kiln_http::extract::{Json, State};
use kiln_http::http::StatusCode;
use kiln_http::middleware::RequestId;
use kiln_http::router::post;
use kiln_http::server::PeerAddr;
use kiln_http::Router;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Signup {
    email: String,
    password: String,
    display_name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    email: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshToken {
    refresh_token: String,
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/signup", post(signup))
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
}

async fn signup(
    State(state): State<AppState>,
    request_id: Option<Extension<RequestId>>,
    trace: Option<Extension<kiln_http::middleware::TraceContext>>,
    JsonObject(body): JsonObject<Signup>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    // Carried into the welcome email's job, so the job and the mailer's log name this
    // request and its trace.
    let origin = session::Origin {
        request_id: request_id.and_then(|Extension(RequestId(id))| id.to_str().ok().map(str::to_owned)),
        trace: trace.map(|Extension(t)| t),
    };
    let user = session::signup(&state, &body.email, &body.password, &body.display_name, origin).await?;
    tracing::info!(user = user.id, "signed up");
    Ok((StatusCode::CREATED, Json(json!(user))))
}

async fn login(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    JsonObject(body): JsonObject<Login>,
) -> Result<Json<session::TokenPair>, AppError> {
    Ok(Json(session::login(&state, &body.email, &body.password, peer.ip()).await?))
}

/// The refresh token of a refresh or logout request, which must not be empty: an empty
/// token answered 204 would tell a client it logged out when nothing was revoked.
fn presented(body: &RefreshToken) -> Result<&str, AppError> {
    let token = body.refresh_token.trim();
    if token.is_empty() {
        return Err(AppError::Validation(vec![FieldError {
            field: "refresh_token",
            message: "must not be empty".into(),
        }]));
    }
    Ok(token)
}

async fn refresh(
    State(state): State<AppState>,
    JsonObject(body): JsonObject<RefreshToken>,
) -> Result<Json<session::TokenPair>, AppError> {
    Ok(Json(session::refresh(&state, presented(&body)?).await?))
}

async fn logout(
    State(state): State<AppState>,
    JsonObject(body): JsonObject<RefreshToken>,
) -> Result<StatusCode, AppError> {
    session::logout(&state, presented(&body)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
