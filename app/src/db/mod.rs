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
    /// A PostgreSQL statement failed.
    #[error("database error: {0}")]
    Postgres(#[from] kiln_postgres::PgError),
}

/// Where the service keeps its data: the embedded SQLite file (the default), or a
/// PostgreSQL server shared by every process (`--database-url`). Each storage function
/// matches on it and runs its statements the way that backend wants them: SQLite's in a
/// closure on the blocking pool, PostgreSQL's asynchronously on a pooled connection.
#[derive(Debug, Clone)]
pub enum Db {
    /// SQLite.
    Sqlite(Pool),
    /// PostgreSQL.
    Postgres(kiln_postgres::Pool),
}

impl Db {
    /// The backend's name and where it is, for the startup banner.
    pub fn describe(&self) -> String {
        match self {
            Db::Sqlite(_) => "SQLite".to_owned(),
            Db::Postgres(p) => format!("PostgreSQL at {}/{}", p.config().addr, p.config().database),
        }
    }
}
