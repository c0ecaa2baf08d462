//! `/users/{id}/sessions`: an admin ends every session of a user — a stolen laptop, a
//! member who must be signed out everywhere now. Their refresh tokens are revoked and their
//! access tokens refused from the next request on (`auth/ended.rs`).

use crate::auth::ended::EndReason;
use crate::auth::{session, AdminUser};
use crate::clock::unix_now;
use crate::db::CachedStatements;
use crate::error::AppError;
use crate::state::AppState;
use kiln_http::extract::{Json, Path, State};
use kiln_http::router::delete;
use kiln_http::Router;
use serde_json::{json, Value};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/users/{id}/sessions", delete(revoke))
}

async fn revoke(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<Value>, AppError> {
    let now = unix_now();
    let sessions = state.sessions.clone();
    let no_user = move || AppError::NotFound(format!("no user with id {id}"));
    let ended = match &state.db {
        crate::db::Db::Sqlite(pool) => {
            pool.transaction(move |tx| {
                let exists: bool =
                    tx.query_row_cached("SELECT EXISTS(SELECT 1 FROM users WHERE id = ?1)", [id], |r| {
                        r.get(0)
                    })?;
                if !exists {
                    return Err(no_user());
                }
                Ok(session::end_all_sessions(&sessions, tx, id, EndReason::AdminRevoked, now)?)
            })
            .await?
        }
        crate::db::Db::Postgres(pg) => {
            let mut c = pg.get().await?;
            let tx = c.transaction().await?;
            if tx.query_opt("SELECT 1 FROM users WHERE id = $1", &[&id]).await?.is_none() {
                return Err(no_user());
            }
            let ended =
                session::pg_end_all_sessions(&sessions, &tx, id, EndReason::AdminRevoked, now).await?;
            tx.commit().await?;
            ended
        }
    };
    tracing::info!(user = id, by = admin.id, sessions = ended, "sessions revoked by an admin");
    Ok(Json(json!({ "user_id": id, "sessions_ended": ended })))
}
