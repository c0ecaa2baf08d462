//! Kiln's Redis client, on Kiln's runtime and sockets.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kiln_redis::RedisError> {
//! use kiln_redis::{cmd, Client, ClientConfig};
//! let redis = Client::connect(ClientConfig::from_url("redis://127.0.0.1:6379")?).await?;
//! redis.set("greeting", "hello", None).await?;
//! let n: i64 = redis.query(&cmd("INCR").arg("visits")).await?;
//! # let _ = n; Ok(()) }
//! ```
//!
//! # Layout
//! - `codec.rs` — RESP2 and RESP3 on the wire: commands out, values in, incrementally and
//!   with bounds.
//! - `value.rs` — [`Value`], and [`FromValue`] into Rust types.
//! - `connection.rs` — one socket shared by many tasks: pipelined requests matched to
//!   answers in order.
//! - `client.rs` — [`Client`]: a pool of multiplexed connections (one by default), the
//!   handshake (`HELLO 3`, `AUTH`, `SELECT`), reconnection with backoff, time limits,
//!   [`Cmd`], [`Script`] (`EVALSHA`, reloaded after `NOSCRIPT`).
//! - `pubsub.rs` — [`Subscription`] (RESP3 pushes on a connection of its own) and `PUBLISH`.
//! - `error.rs` — [`RedisError`], with the server's error codes typed.

#![forbid(unsafe_code)]

mod client;
pub mod codec;
mod connection;
mod error;
mod pubsub;
mod value;

pub use client::{cmd, Client, ClientConfig, Cmd, Script, ToArg};
pub use connection::Connection;
pub use error::{ErrorKind, RedisError};
pub use pubsub::{Message, Subscription};
pub use value::{FromValue, Value};
