//! Kiln's HTTP/1.1 layer (in progress: see issue 5): a strict protocol core and a server on
//! it; the router, extractors, middleware and client come next.
//!
//! # Layout
//! - `h1/head.rs` — parsing a request head and deciding its body framing per RFC 9112,
//!   refusing every request-smuggling shape with the right status.
//! - `h1/chunked.rs` — an incremental, strict decoder for the chunked transfer coding.
//! - `h1/encode.rs` — response heads: framing headers owned by the connection, no body for
//!   1xx/204/304/HEAD, `Date`, `Server`, `Connection`.
//! - `h1/read.rs` — whole requests off a connection: pipelined heads, sized and chunked
//!   bodies, the body limit (413) and the header and body timeouts (408).
//! - `server/` — [`Server`]: accept loop, per-connection loop with pipelining and keep-alive,
//!   graceful shutdown; [`Handler`], what it calls.
//! - `router.rs` — [`Router`]: method and path routing with `{param}` and `{*wildcard}`,
//!   most-specific match, 405 with `Allow`, JSON 404 or a fallback.
//! - `client.rs` — [`Client`]: requests over a keep-alive connection pool, with timeouts.
//! - `body.rs` — [`Body`].
//! - `date.rs` — the shared, once-a-second `Date` header.

#![forbid(unsafe_code)]

mod body;
pub mod client;
pub mod date;
pub mod h1;
pub mod router;
pub mod server;

pub use body::Body;
pub use client::Client;
pub use router::Router;
pub use server::{Handler, Server, ServerConfig};

/// The `http` crate's types, re-exported: `Request`, `Response`, `StatusCode`, `Method`…
pub use http;
