//! `/auth/*`: signup, login, refresh, logout (the logic is in `auth/session.rs`).

use crate::auth::session;
use crate::error::AppError;
use crate::state::AppState;
use kiln_http::extract::{Json, State};
use kiln_http::http::StatusCode;
use kiln_http::router::post;
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
    Json(body): Json<Signup>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let id = session::signup(&state, &body.email, &body.password, &body.display_name).await?;
    tracing::info!(user = id, "signed up");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "email": body.email.trim(), "display_name": body.display_name.trim() })),
    ))
}

async fn login(
    State(state): State<AppState>,
    Json(body): Json<Login>,
) -> Result<Json<session::TokenPair>, AppError> {
    Ok(Json(session::login(&state, &body.email, &body.password).await?))
}

async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshToken>,
) -> Result<Json<session::TokenPair>, AppError> {
    Ok(Json(session::refresh(&state, &body.refresh_token).await?))
}

async fn logout(
    State(state): State<AppState>,
    Json(body): Json<RefreshToken>,
) -> Result<StatusCode, AppError> {
    session::logout(&state, &body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}
