//! One error type for the service, and how each case answers: an RFC 9457 problem with the
//! status that fits. Internal errors are logged with their cause chain and answered with an
//! opaque 500 — a client never sees SQL or a file path.

use crate::db::DbError;
use kiln_http::http::header::{HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use kiln_http::http::{Response, StatusCode};
use kiln_http::response::{IntoResponse, Problem};
use kiln_http::Body;
use serde::Serialize;

/// One invalid field of a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's name in the JSON contract.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Fields failed validation (422, with `errors`).
    #[error("{} invalid field(s)", .0.len())]
    Validation(Vec<FieldError>),
    /// Login failed: the same answer whether the email exists or not (401).
    #[error("invalid email or password")]
    BadCredentials,
    /// No bearer token (401, `WWW-Authenticate: Bearer`).
    #[error("this endpoint needs a bearer token")]
    MissingToken,
    /// A bearer or refresh token that is not valid (401, `error="invalid_token"`).
    #[error("the token is invalid or expired")]
    InvalidToken,
    /// Authenticated but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such thing (404).
    #[error("{0}")]
    NotFound(String),
    /// Conflicts with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// Too many failed logins from this client (429 with `Retry-After`); see
    /// `auth/throttle.rs`.
    #[error("too many failed attempts; retry in {retry_after} s")]
    Throttled {
        /// Seconds until the next attempt is allowed.
        retry_after: u64,
    },
    /// The server is at a limit it will not queue past (503 with `Retry-After`): password
    /// hashing, say, during a login flood.
    #[error("the server is busy; retry in {retry_after} s")]
    Busy {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// Storage failed (500, opaque).
    #[error(transparent)]
    Db(#[from] DbError),
    /// Redis failed: unreachable or too slow (503 with `Retry-After`, the service is
    /// degraded and may recover), or answered an error (500, a bug).
    #[error(transparent)]
    Redis(#[from] kiln_redis::RedisError),
    /// Anything else that is the server's fault (500, opaque).
    #[error("{0}")]
    Internal(String),
}

impl From<rusqlite::Error> for AppError {
    fn from(e: rusqlite::Error) -> AppError {
        AppError::Db(DbError::Sqlite(e))
    }
}

/// A PostgreSQL failure: no pooled connection in time is the server at its limit (503);
/// anything else is the server's fault (500, logged).
impl From<kiln_postgres::PgError> for AppError {
    fn from(e: kiln_postgres::PgError) -> AppError {
        match e {
            kiln_postgres::PgError::PoolTimeout(_) => AppError::Busy { retry_after: 1 },
            e => AppError::Db(DbError::Postgres(e)),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response<Body> {
        let status = match &self {
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadCredentials | AppError::MissingToken | AppError::InvalidToken => {
                StatusCode::UNAUTHORIZED
            }
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Redis(e) if e.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Db(_) | AppError::Redis(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut problem = Problem::new(status);
        problem = match &self {
            AppError::Redis(e) if e.is_transient() => {
                tracing::warn!(error = %e, "redis unavailable");
                problem.detail("a backing service is unavailable; retry shortly")
            }
            AppError::Db(_) | AppError::Redis(_) | AppError::Internal(_) => {
                let mut chain = self.to_string();
                let mut source = std::error::Error::source(&self);
                while let Some(cause) = source {
                    chain.push_str(": ");
                    chain.push_str(&cause.to_string());
                    source = cause.source();
                }
                tracing::error!(error = %chain, "internal error");
                problem.detail("the server failed; the error is logged")
            }
            AppError::Validation(errors) => problem
                .detail(self.to_string())
                .member("errors", serde_json::to_value(errors).expect("field errors serialize")),
            _ => problem.detail(self.to_string()),
        };
        let mut response = problem.into_response();
        let headers = response.headers_mut();
        match &self {
            AppError::MissingToken => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            AppError::InvalidToken => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
            }
            AppError::Throttled { retry_after } | AppError::Busy { retry_after } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            AppError::Redis(e) if e.is_transient() => {
                headers.insert(RETRY_AFTER, HeaderValue::from(1));
            }
            _ => {}
        }
        response
    }
}
