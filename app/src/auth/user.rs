//! `AuthUser`: the extractor a protected handler takes. It reads `Authorization: Bearer …`,
//! verifies the access token (see `jwt.rs`) and yields the user id — or answers 401 with
//! `WWW-Authenticate: Bearer` (no token) or `Bearer error="invalid_token"` (any bad token),
//! and the handler never runs.

use crate::clock::unix_now;
use crate::db::CachedStatements;
use crate::error::AppError;
use crate::state::AppState;
use kiln_http::extract::FromRequestParts;
use kiln_http::http::header::AUTHORIZATION;
use kiln_http::http::request::Parts;

/// The authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser {
    /// The user's id.
    pub id: i64,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<AuthUser, AppError> {
        let header = parts.headers.get(AUTHORIZATION).ok_or(AppError::MissingToken)?;
        let value = header.to_str().map_err(|_| AppError::InvalidToken)?;
        let token = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(AppError::InvalidToken)?;
        let claims = state.keys.verify(token, unix_now()).map_err(|e| {
            tracing::debug!(error = %e, "access token refused");
            AppError::InvalidToken
        })?;
        let id = claims.sub.parse().map_err(|_| AppError::InvalidToken)?;
        Ok(AuthUser { id })
    }
}

/// The user's role (`member` or `admin`); a token whose user is gone is invalid.
///
/// # Errors
/// 401 for a deleted user; storage failures.
pub async fn role(state: &AppState, id: i64) -> Result<String, AppError> {
    state
        .pool
        .read(move |c| {
            rusqlite::OptionalExtension::optional(c.query_row_cached(
                "SELECT role FROM users WHERE id = ?1",
                [id],
                |r| r.get(0),
            ))
            .map_err(AppError::from)
        })
        .await?
        .ok_or(AppError::InvalidToken)
}

/// An authenticated admin: [`AuthUser`] whose role is `admin`, else 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminUser {
    /// The admin's id.
    pub id: i64,
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<AdminUser, AppError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if role(state, user.id).await? == "admin" {
            Ok(AdminUser { id: user.id })
        } else {
            Err(AppError::Forbidden("only an admin may do this".into()))
        }
    }
}
