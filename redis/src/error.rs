//! Why a Redis call failed, typed so a caller can react to the cause: retry on a lost
//! connection, reload a script on `NOSCRIPT`, report a `WRONGTYPE` as a bug.

/// An error a server sent (`-WRONGTYPE …`), by its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The key holds a value of another type.
    WrongType,
    /// `EVALSHA` for a script the server does not have (loaded again and retried by
    /// [`crate::Script`]).
    NoScript,
    /// Authentication needed or refused (`NOAUTH`, `WRONGPASS`).
    Auth,
    /// The server is loading its data set, or read-only, or out of memory (`LOADING`,
    /// `READONLY`, `OOM`, `BUSY`, `MASTERDOWN`): worth trying again later.
    Unavailable,
    /// `-ERR` and any other code.
    Other(String),
}

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RedisError {
    /// The server answered with an error.
    #[error("redis: {message}")]
    Server {
        /// Its code.
        kind: ErrorKind,
        /// The whole line (code and text).
        message: String,
    },
    /// The connection failed or closed; the command may or may not have run.
    #[error("redis connection: {0}")]
    Io(String),
    /// No answer within the time limit; the connection is dropped (its answers can no longer
    /// be matched to requests).
    #[error("redis: no answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The server sent bytes that are not RESP.
    #[error("redis protocol: {0}")]
    Protocol(String),
    /// The answer is not of the type asked for.
    #[error("redis: {0}")]
    Type(String),
}

impl RedisError {
    /// The error a server sent as `line` (without the `-`).
    pub(crate) fn server(line: String) -> RedisError {
        let code = line.split_whitespace().next().unwrap_or("");
        let kind = match code {
            "WRONGTYPE" => ErrorKind::WrongType,
            "NOSCRIPT" => ErrorKind::NoScript,
            "NOAUTH" | "WRONGPASS" | "NOPERM" => ErrorKind::Auth,
            "LOADING" | "READONLY" | "OOM" | "BUSY" | "MASTERDOWN" | "TRYAGAIN" => ErrorKind::Unavailable,
            other => ErrorKind::Other(other.to_owned()),
        };
        RedisError::Server { kind, message: line }
    }

    /// Whether the same call may succeed if tried again (a new connection, a server that
    /// finished loading).
    pub fn is_transient(&self) -> bool {
        match self {
            RedisError::Io(_) | RedisError::Timeout(_) => true,
            RedisError::Server { kind, .. } => *kind == ErrorKind::Unavailable,
            _ => false,
        }
    }

    /// The server's error code, if the server sent this error.
    pub fn kind(&self) -> Option<&ErrorKind> {
        match self {
            RedisError::Server { kind, .. } => Some(kind),
            _ => None,
        }
    }
}
