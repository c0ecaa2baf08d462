//! Kiln: an async backend stack built from the executor up, measured against Tokio.
//!
//! This crate is the facade: it re-exports the layers so that code written for Tokio ports by
//! changing the crate path. Each layer is also usable on its own.
//!
//! | layer | crate | what it holds |
//! |---|---|---|
//! | runtime | `kiln-runtime` | executor, reactor, timers, tasks, signals |
//! | net | `kiln-net` | TCP/UDP/Unix sockets, async IO traits, framing, echo and chat servers |
//! | http | `kiln-http` | HTTP/1.1 parsing, server, router, extractors, middleware, client |
//! | app | `kiln-app` | the service (in progress): config, SQLite pool, auth; the `kiln` binary |
//!
//! ```
//! #[kiln::main(flavor = "current_thread")]
//! async fn main() {
//!     let handle = kiln::spawn(async { 6 * 7 });
//!     assert_eq!(handle.await.unwrap(), 42);
//! }
//! # main();
//! ```

pub use kiln_runtime::{join, main, pin, runtime, select, signal, spawn, sync, task, test, time, try_join};

/// Reactor registration for IO sources (what `kiln::net` builds on).
pub use kiln_runtime::io as reactor;

pub use kiln_net::{chat, echo, frame, io, net, shutdown};

/// HTTP/1.1: [`http::Server`], [`http::Router`], [`http::extract`], [`http::middleware`], [`http::Client`], the wire format in [`http::h1`].
pub use kiln_http as http;

#[doc(hidden)]
pub use kiln_runtime::__private;
