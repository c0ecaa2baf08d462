//! Kiln's PostgreSQL client, on Kiln's runtime and sockets.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kiln_postgres::PgError> {
//! use kiln_postgres::{Config, Pool, PoolConfig};
//! let pool = Pool::connect(Config::from_url("postgres://app:secret@127.0.0.1/library")?, PoolConfig::default()).await?;
//! let mut db = pool.get().await?;
//! let title: String = db.query_one("SELECT title FROM books WHERE id = $1", &[&7i64]).await?.get(0);
//! let tx = db.transaction().await?;
//! tx.execute("UPDATE books SET available = available - 1 WHERE id = $1", &[&7i64]).await?;
//! tx.commit().await?;
//! # let _ = title; Ok(()) }
//! ```
//!
//! The protocol's messages are written and parsed by `postgres-protocol` (runtime-free, and
//! the SCRAM exchange with it); the connection, its pipelining, the statement cache,
//! transactions, notifications, cancellation and the pool are Kiln's.
//!
//! # Layout
//! - `config.rs` — [`Config`] from a `postgres://` URL.
//! - `connection.rs` — startup and authentication (SCRAM-SHA-256, md5, cleartext), then one
//!   socket shared by pipelined requests, answers matched in order at `ReadyForQuery`;
//!   `CancelRequest`.
//! - `client.rs` — [`Client`]: statements prepared in the same round trip as their first
//!   run and cached per connection, binary parameters and results, cancellation of a
//!   dropped query, bulk inserts as multi-row statements.
//! - `types.rs` — [`ToSql`] and [`FromSql`]: integers, floats, bool, text, bytea, JSON,
//!   timestamps, `Option`.
//! - `row.rs` — [`Row`], its columns and typed `get`.
//! - `transaction.rs` — [`Transaction`], rolled back unless committed; [`Isolation`];
//!   `run_transaction`, which runs a body again after a serialization failure or deadlock.
//! - `listen.rs` — [`Listener`] (`LISTEN`) and [`Client::notify`].
//! - `pool.rs` — [`Pool`]: bounded, fair, with a wait limit, lifetimes and idle checks.
//! - `error.rs` — [`PgError`], the server's errors with their SQLSTATE.

#![forbid(unsafe_code)]

mod client;
mod config;
mod connection;
mod error;
mod listen;
mod pool;
mod row;
mod transaction;
pub mod types;

pub use client::Client;
pub use config::Config;
pub use connection::Notification;
pub use error::{DbError, PgError};
pub use listen::Listener;
pub use pool::{Pool, PoolConfig, Pooled};
pub use row::{Column, ColumnIndex, Row};
pub use transaction::{BoxFuture, Isolation, Transaction, TransactionError, ATTEMPTS};
pub use types::{FromSql, Json, Timestamp, ToSql};

/// SQLSTATE codes a program commonly reacts to.
pub mod sqlstate {
    pub use crate::error::{
        DEADLOCK_DETECTED, FOREIGN_KEY_VIOLATION, QUERY_CANCELED, SERIALIZATION_FAILURE, UNIQUE_VIOLATION,
    };
}
