//! Kiln: an async backend stack built from the executor up, measured against Tokio.
//!
//! This crate is the facade: it re-exports the layers so that code written for Tokio ports by
//! changing the crate path. Each layer is also usable on its own, and each is a feature of
//! this crate that brings the layers below it:
//!
//! | layer | feature | crate | what it holds |
//! |---|---|---|---|
//! | runtime | (always) | `kiln-runtime` | executor, reactor, timers, tasks, sync, signals |
//! | net | `net` | `kiln-net` | TCP/UDP/Unix sockets, async IO traits, framing, accept loop, echo server |
//! | http | `http` | `kiln-http` | HTTP/1.1 parsing, server, router, extractors, middleware, client |
//! | redis | `redis` | `kiln-redis` | a Redis client: pipelining, RESP3, reconnection, scripts |
//! | postgres | `postgres` | `kiln-postgres` | a PostgreSQL client: pipelining, statement cache, transactions, LISTEN/NOTIFY, a pool |
//! | app | `app` (default) | `kiln-app` | the service (auth, books, loans) and the week-2 chat; the `kiln` binary |
//!
//! The default is everything, so `cargo run --release` starts the service. A program that
//! only needs the stack leaves SQLite and bcrypt out:
//!
//! ```toml
//! kiln = { version = "0.1", default-features = false, features = ["http"] }
//! ```
//!
//! ```
//! #[kiln::main(flavor = "current_thread")]
//! async fn main() {
//!     let handle = kiln::spawn(async { 6 * 7 });
//!     assert_eq!(handle.await.unwrap(), 42);
//! }
//! # main();
//! ```

#![forbid(unsafe_code)]

pub use kiln_runtime::{join, main, pin, runtime, select, signal, spawn, sync, task, test, time, try_join};

/// Reactor registration for IO sources (what `kiln::net` builds on).
pub use kiln_runtime::io as reactor;

#[cfg(feature = "net")]
pub use kiln_net::{echo, frame, io, net, shutdown};

/// HTTP/1.1: [`http::Server`], [`http::Router`], [`http::extract`], [`http::middleware`], [`http::Client`], the wire format in [`http::h1`].
#[cfg(feature = "http")]
pub use kiln_http as http;

/// Kiln's Redis client: RESP2/RESP3, pipelining on one connection, reconnection, scripts.
#[cfg(feature = "redis")]
pub use kiln_redis as redis;

/// Kiln's PostgreSQL client: protocol v3, SCRAM, pipelining, a statement cache, transactions,
/// LISTEN/NOTIFY, cancellation, a pool.
#[cfg(feature = "postgres")]
pub use kiln_postgres as postgres;

/// The applications: the service (configuration, storage, auth, the library's routes) and the
/// week-2 chat server.
#[cfg(feature = "app")]
pub use kiln_app as app;

#[doc(hidden)]
pub use kiln_runtime::__private;
