//! `AuthUser`: the extractor a protected handler takes. It reads `Authorization: Bearer …`,
//! verifies the access token (see `jwt.rs`), checks that the token's session has not ended
//! (`ended.rs`: a hash lookup, no database trip) and yields the user — or
//! answers 401 with `WWW-Authenticate: Bearer` (no token) or `Bearer error="invalid_token"`
//! (any bad token, or one whose session ended), and the handler never runs.
//!
//! User ids are never reused (migration 3), so a token can never name another account than
//! the one it was issued for; a deleted account's sessions have ended, so its tokens get 401
//! on every route.

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
        if state.sessions.is_ended(&claims.sid) {
            tracing::debug!(session = %claims.sid, "access token of an ended session refused");
            return Err(AppError::InvalidToken);
        }
        let id = claims.sub.parse().map_err(|_| AppError::InvalidToken)?;
        // The request's span (`TraceLayer`) carries who asked, in every line it logs.
        tracing::Span::current().record("user_id", id);
        Ok(AuthUser { id })
    }
}

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads the library, borrows and returns.
    Member,
    /// Also changes books and revokes sessions.
    Admin,
}

impl Role {
    /// The role as the `users.role` column stores it (its CHECK allows only these two).
    pub fn as_stored(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
        }
    }

    /// The role `stored` names (as [`Role::as_stored`] writes it).
    ///
    /// # Errors
    /// An internal error for a name no role has (the column's CHECK allows none).
    pub fn from_stored(stored: &str) -> Result<Role, AppError> {
        Role::parse(stored).ok_or_else(|| AppError::Internal(format!("no role is called {stored:?}")))
    }

    fn parse(stored: &str) -> Option<Role> {
        [Role::Member, Role::Admin].into_iter().find(|r| r.as_stored() == stored)
    }
}

impl rusqlite::types::ToSql for Role {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_stored().into())
    }
}

impl rusqlite::types::FromSql for Role {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Role> {
        let stored = value.as_str()?;
        Role::parse(stored).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(format!("no role is called {stored:?}").into())
        })
    }
}

/// The user's role; a token whose user is gone is invalid.
///
/// # Errors
/// 401 for a deleted user; storage failures.
pub async fn role(state: &AppState, id: i64) -> Result<Role, AppError> {
    let role = match &state.db {
        crate::db::Db::Sqlite(pool) => {
            pool.read(move |c| {
                rusqlite::OptionalExtension::optional(c.query_row_cached(
                    "SELECT role FROM users WHERE id = ?1",
                    [id],
                    |r| r.get::<_, Role>(0),
                ))
                .map_err(AppError::from)
            })
            .await?
        }
        crate::db::Db::Postgres(pg) => {
            match pg.get().await?.query_opt("SELECT role FROM users WHERE id = $1", &[&id]).await? {
                Some(row) => Some(Role::from_stored(&row.try_get::<_, String>(0)?)?),
                None => None,
            }
        }
    };
    role.ok_or(AppError::InvalidToken)
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
        if role(state, user.id).await? == Role::Admin {
            Ok(AdminUser { id: user.id })
        } else {
            Err(AppError::Forbidden(
                "only an admin may do this (the first account to sign up is an admin; an admin is made with `cargo run --release -- admin promote EMAIL`)".into(),
            ))
        }
    }
}
