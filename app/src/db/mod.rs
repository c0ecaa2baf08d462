//! Storage: SQLite through rusqlite — the connection pool (`pool.rs`), the schema
//! migrations (`migrations.rs`) and cached statements (`cached.rs`) — and the same schema
//! on PostgreSQL through `kiln-postgres` (`pg_migrations.rs`).

pub mod cached;
pub mod migrations;
pub mod pg_migrations;
pub mod pool;

pub use cached::CachedStatements;
pub use migrations::MigrationError;
pub use pool::{Pool, PoolConfig};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database file could not be opened.
    #[error("cannot open the database {0}: {1}")]
    Open(String, #[source] rusqlite::Error),
    /// A migration failed or the schema is too new.
    #[error(transparent)]
    Migration(#[from] MigrationError),
    /// A query failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The pool itself failed (a blocking job that did not finish).
    #[error("{0}")]
    Internal(String),
}
