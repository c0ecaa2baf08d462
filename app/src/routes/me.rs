//! `/me`: the caller's own profile (protected: `AuthUser`).

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::AppState;
use kiln_http::extract::{Json, State};
use kiln_http::router::get;
use kiln_http::Router;
use rusqlite::OptionalExtension;
use serde_json::{json, Value};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/me", get(me))
}

async fn me(State(state): State<AppState>, user: AuthUser) -> Result<Json<Value>, AppError> {
    let id = user.id;
    let row = state
        .pool
        .read(move |c| {
            c.query_row(
                "SELECT email, display_name, bio, role, created_at FROM users WHERE id = ?1",
                [id],
                |r| {
                    Ok(json!({
                        "id": id,
                        "email": r.get::<_, String>(0)?,
                        "display_name": r.get::<_, String>(1)?,
                        "bio": r.get::<_, String>(2)?,
                        "role": r.get::<_, String>(3)?,
                        "created_at": r.get::<_, i64>(4)?,
                    }))
                },
            )
            .optional()
            .map_err(AppError::from)
        })
        .await?;
    // A valid token for a deleted account: the token outlived its user.
    row.map(Json).ok_or(AppError::InvalidToken)
}
