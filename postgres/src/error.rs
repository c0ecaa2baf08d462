//! Why a call failed, typed so a caller can react to the cause: a unique violation is a
//! conflict to report, a serialization failure a transaction to run again, a lost
//! connection a call to retry elsewhere.
//!
//! A server error carries its SQLSTATE (`23505`, `40001`, …): the five-character code
//! PostgreSQL documents for every error, stable across versions and languages, unlike the
//! message.

use std::time::Duration;

/// An error the server sent (an `ErrorResponse`), with its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    /// `ERROR`, `FATAL`, `PANIC` (not localized).
    pub severity: String,
    /// The SQLSTATE code.
    pub code: String,
    /// The primary message.
    pub message: String,
    /// More detail, if the server gave it.
    pub detail: Option<String>,
    /// A hint, if any.
    pub hint: Option<String>,
    /// The constraint violated, if one was.
    pub constraint: Option<String>,
    /// The table concerned, if one was.
    pub table: Option<String>,
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.severity, self.message, self.code)?;
        if let Some(detail) = &self.detail {
            write!(f, "; {detail}")?;
        }
        Ok(())
    }
}

/// SQLSTATE `23505`: a unique constraint refused the row.
pub const UNIQUE_VIOLATION: &str = "23505";
/// SQLSTATE `23503`: a foreign key refused the row.
pub const FOREIGN_KEY_VIOLATION: &str = "23503";
/// SQLSTATE `40001`: a serializable transaction must be run again.
pub const SERIALIZATION_FAILURE: &str = "40001";
/// SQLSTATE `40P01`: the transaction was chosen as a deadlock's victim; run it again.
pub const DEADLOCK_DETECTED: &str = "40P01";
/// SQLSTATE `57014`: the statement was cancelled (a cancel request or `statement_timeout`).
pub const QUERY_CANCELED: &str = "57014";

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PgError {
    /// The server refused the statement.
    #[error("postgres: {0}")]
    Db(Box<DbError>),
    /// The connection failed or closed; the statement may or may not have run.
    #[error("postgres connection: {0}")]
    Io(String),
    /// No answer within the time limit.
    #[error("postgres: no answer within {0:?}")]
    Timeout(Duration),
    /// The server sent something this client does not expect.
    #[error("postgres protocol: {0}")]
    Protocol(String),
    /// A value could not be converted to or from its column's type.
    #[error("postgres: {0}")]
    Type(String),
    /// Authentication was refused or needs a method this client does not speak.
    #[error("postgres authentication: {0}")]
    Auth(String),
    /// No pooled connection became free within the pool's wait limit.
    #[error("postgres pool: no connection free within {0:?}")]
    PoolTimeout(Duration),
    /// A URL or setting that does not parse.
    #[error("postgres configuration: {0}")]
    Config(String),
}

impl PgError {
    /// The SQLSTATE, if the server sent this error.
    pub fn code(&self) -> Option<&str> {
        match self {
            PgError::Db(e) => Some(&e.code),
            _ => None,
        }
    }

    /// The server's error, if it sent one.
    pub fn db(&self) -> Option<&DbError> {
        match self {
            PgError::Db(e) => Some(e),
            _ => None,
        }
    }

    /// A unique constraint refused the row (a conflict, 409 in a service).
    pub fn is_unique_violation(&self) -> bool {
        self.code() == Some(UNIQUE_VIOLATION)
    }

    /// The transaction lost a race with another and should be run again from the start.
    pub fn is_retryable_transaction(&self) -> bool {
        matches!(self.code(), Some(SERIALIZATION_FAILURE | DEADLOCK_DETECTED))
    }

    /// Whether the same call may succeed on another connection or a little later.
    pub fn is_transient(&self) -> bool {
        match self {
            PgError::Io(_) | PgError::Timeout(_) | PgError::PoolTimeout(_) => true,
            // 08: connection exceptions; 53: insufficient resources; 57P0x: shutting down.
            PgError::Db(e) => {
                e.code.starts_with("08") || e.code.starts_with("53") || e.code.starts_with("57P0")
            }
            _ => false,
        }
    }
}

impl From<DbError> for PgError {
    fn from(e: DbError) -> PgError {
        PgError::Db(Box::new(e))
    }
}

/// The fields of an `ErrorResponse` (or `NoticeResponse`) body.
pub(crate) fn db_error(fields: &mut postgres_protocol::message::backend::ErrorFields<'_>) -> DbError {
    use fallible_iterator::FallibleIterator;
    let mut e = DbError {
        severity: String::new(),
        code: String::new(),
        message: String::new(),
        detail: None,
        hint: None,
        constraint: None,
        table: None,
    };
    while let Ok(Some(field)) = fields.next() {
        let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
        match field.type_() {
            b'V' => e.severity = value,
            b'S' if e.severity.is_empty() => e.severity = value,
            b'C' => e.code = value,
            b'M' => e.message = value,
            b'D' => e.detail = Some(value),
            b'H' => e.hint = Some(value),
            b'n' => e.constraint = Some(value),
            b't' => e.table = Some(value),
            _ => {}
        }
    }
    e
}
