//! Kiln's HTTP/1.1 layer: a strict protocol core, a server on it, an axum-shaped router
//! with extractors, middleware, and a client.
//!
//! ```no_run
//! use kiln_http::{extract::Path, router::get, Router, Server};
//!
//! async fn hello(Path(name): Path<String>) -> String { format!("hello, {name}") }
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = Router::new().route("/hello/{name}", get(hello));
//! let stop = async { let _ = kiln_net::shutdown::terminate_signal().await; };
//! Server::bind("127.0.0.1:8080").await?.serve(app, stop).await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `h1/` — the wire format: request heads and their framing per RFC 9112 (refusing every
//!   request-smuggling shape), the chunked coding, response heads, reading requests under
//!   limits and timeouts.
//! - `server/` — [`Server`]: accept loop, the per-connection loop (pipelining, keep-alive,
//!   streamed bodies, `100 Continue`), graceful shutdown.
//! - `body/` — [`Body`]: whole, streamed, or still arriving on the connection.
//! - `service.rs` — [`Service`] and [`Layer`]: what a server calls and how middleware wraps it.
//! - `router.rs` — [`Router`]: method and path routing, nesting, merging, state.
//! - `handler.rs` — [`Handler`]: async functions of extractors as route handlers.
//! - `extract/` — extractors: `State`, `Path`, `Query`, `Json`, headers, body, peer address.
//! - `response/` — [`IntoResponse`] and RFC 9457
//!   [`Problem`](response::Problem) bodies.
//! - `middleware/` — tracing, request id, CORS, rate limiting, timeout, body limit,
//!   catch-panic.
//! - `client.rs` — [`Client`]: requests over a keep-alive connection pool, with timeouts.
//! - `date.rs` — the shared, once-a-second `Date` header.

#![forbid(unsafe_code)]

pub mod body;
pub mod client;
pub mod date;
pub mod extract;
pub mod h1;
pub mod handler;
pub mod middleware;
pub mod response;
pub mod router;
pub mod server;
mod service;

pub use body::{Body, BodyError};
pub use client::Client;
pub use handler::Handler;
pub use response::IntoResponse;
pub use router::Router;
pub use server::{Server, ServerConfig};
pub use service::{Layer, Service, ServiceExt};

/// The `http` crate's types, re-exported: `Request`, `Response`, `StatusCode`, `Method`…
pub use http;
