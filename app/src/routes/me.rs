//! `/me`: the caller's own profile (protected: `AuthUser`) — read it, change the display
//! name and bio, change the password (which needs the current one and ends every session,
//! this one included), or delete the account (which needs the password too).

use crate::auth::ended::EndReason;
use crate::auth::identity::check_display_name;
use crate::auth::{password, session, AuthUser};
use crate::clock::unix_now;
use crate::db::CachedStatements;
use crate::db::Db;
use crate::error::{AppError, FieldError};
use crate::json::JsonObject;
use crate::state::AppState;
use kiln_http::extract::{Json, State};
use kiln_http::http::StatusCode;
use kiln_http::router::{get, put};
use kiln_http::server::PeerAddr;
use kiln_http::Router;
use rusqlite::{params, OptionalExtension};
use serde::Deserialize;
use serde_json::{json, Value};

/// Longest bio, in characters.
pub const MAX_BIO: usize = 1000;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/me", get(me).patch(update).delete(remove))
        .route("/me/password", put(change_password))
}

async fn profile(state: &AppState, id: i64) -> Result<Value, AppError> {
    let pool = match &state.db {
        Db::Sqlite(pool) => pool,
        Db::Postgres(pg) => {
            let row = pg
                .get()
                .await?
                .query_opt(
                    "SELECT email, display_name, bio, role, created_at FROM users WHERE id = $1",
                    &[&id],
                )
                .await?
                .ok_or(AppError::InvalidToken)?;
            return Ok(json!({
                "id": id,
                "email": row.try_get::<_, String>(0)?,
                "display_name": row.try_get::<_, String>(1)?,
                "bio": row.try_get::<_, String>(2)?,
                "role": row.try_get::<_, String>(3)?,
                "created_at": row.try_get::<_, i64>(4)?,
            }));
        }
    };
    let row = pool
        .read(move |c| {
            c.query_row_cached(
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
    row.ok_or(AppError::InvalidToken)
}

async fn me(State(state): State<AppState>, user: AuthUser) -> Result<Json<Value>, AppError> {
    Ok(Json(profile(&state, user.id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfilePatch {
    #[serde(default, deserialize_with = "crate::json::some")]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "crate::json::some")]
    bio: Option<String>,
}

async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    JsonObject(patch): JsonObject<ProfilePatch>,
) -> Result<Json<Value>, AppError> {
    let mut errors = Vec::new();
    if let Some(name) = &patch.display_name {
        if let Err(rule) = check_display_name(name) {
            errors.push(FieldError { field: "display_name", message: rule.to_string() });
        }
    }
    if patch.bio.as_ref().is_some_and(|b| b.chars().count() > MAX_BIO) {
        errors.push(FieldError { field: "bio", message: format!("must be at most {MAX_BIO} characters") });
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let id = user.id;
    let name = patch.display_name.map(|n| n.trim().to_owned());
    match &state.db {
        Db::Sqlite(pool) => {
            pool.write(move |c| {
                c.execute_cached(
                    "UPDATE users SET display_name = COALESCE(?2, display_name), bio = COALESCE(?3, bio) WHERE id = ?1",
                    params![id, name, patch.bio],
                )
                .map_err(AppError::from)
            })
            .await?;
        }
        Db::Postgres(pg) => {
            pg.get()
                .await?
                .execute(
                    "UPDATE users SET display_name = COALESCE($2, display_name), bio = COALESCE($3, bio) WHERE id = $1",
                    &[&id, &name, &patch.bio],
                )
                .await?;
        }
    }
    Ok(Json(profile(&state, user.id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(state): State<AppState>,
    user: AuthUser,
    PeerAddr(peer): PeerAddr,
    JsonObject(body): JsonObject<PasswordChange>,
) -> Result<StatusCode, AppError> {
    if let Err(rule) = password::check(&body.new_password) {
        return Err(AppError::Validation(vec![FieldError {
            field: "new_password",
            message: rule.to_string(),
        }]));
    }
    let id = user.id;
    session::reauthenticate(&state, id, &body.current_password, "current_password", peer.ip()).await?;
    let new_hash = state.hasher.hash(body.new_password).await?;
    let now = unix_now();
    let sessions = state.sessions.clone();
    // Every session of this user ends with the change: a stolen token dies with the old password.
    let ended = match &state.db {
        Db::Sqlite(pool) => {
            pool.transaction(move |tx| {
                tx.execute_cached(
                    "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                    params![id, new_hash],
                )?;
                Ok::<_, AppError>(session::end_all_sessions(
                    &sessions,
                    tx,
                    id,
                    EndReason::PasswordChanged,
                    now,
                )?)
            })
            .await?
        }
        Db::Postgres(pg) => {
            let mut c = pg.get().await?;
            let tx = c.transaction().await?;
            tx.execute("UPDATE users SET password_hash = $2 WHERE id = $1", &[&id, &new_hash]).await?;
            let ended =
                session::pg_end_all_sessions(&sessions, &tx, id, EndReason::PasswordChanged, now).await?;
            tx.commit().await?;
            ended
        }
    };
    tracing::info!(user = id, sessions = ended, "password changed; every session ended");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Deletion {
    password: String,
}

async fn remove(
    State(state): State<AppState>,
    user: AuthUser,
    PeerAddr(peer): PeerAddr,
    JsonObject(body): JsonObject<Deletion>,
) -> Result<StatusCode, AppError> {
    let id = user.id;
    session::reauthenticate(&state, id, &body.password, "password", peer.ip()).await?;
    let now = unix_now();
    let sessions = state.sessions.clone();
    let open_loans = |open: i64| AppError::Conflict(format!("return your {open} open loan(s) first"));
    match &state.db {
        Db::Sqlite(pool) => {
            pool.transaction(move |tx| {
                let open: i64 = tx.query_row_cached(
                    "SELECT COUNT(*) FROM loans WHERE user_id = ?1 AND returned_at IS NULL",
                    [id],
                    |r| r.get(0),
                )?;
                if open > 0 {
                    return Err(open_loans(open));
                }
                session::end_all_sessions(&sessions, tx, id, EndReason::AccountDeleted, now)?;
                tx.execute_cached("DELETE FROM users WHERE id = ?1", [id])?; // tokens and loans cascade
                Ok(())
            })
            .await?;
        }
        Db::Postgres(pg) => {
            let mut c = pg.get().await?;
            let tx = c.transaction().await?;
            // The member's row locked first: a borrow racing the deletion waits for it.
            tx.query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", &[&id]).await?;
            let open: i64 = tx
                .query_one("SELECT COUNT(*) FROM loans WHERE user_id = $1 AND returned_at IS NULL", &[&id])
                .await?
                .try_get(0)?;
            if open > 0 {
                return Err(open_loans(open));
            }
            session::pg_end_all_sessions(&sessions, &tx, id, EndReason::AccountDeleted, now).await?;
            tx.execute("DELETE FROM users WHERE id = $1", &[&id]).await?;
            tx.commit().await?;
        }
    }
    tracing::info!(user = id, "account deleted; every session ended");
    Ok(StatusCode::NO_CONTENT)
}
