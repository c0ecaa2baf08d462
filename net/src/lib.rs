//! Kiln's networking layer: sockets on Kiln's reactor, the async IO traits, framing, the
//! accept loop servers share, and the week-2 echo server.
//!
//! The runtime (`kiln-runtime`) knows nothing of sockets: it offers `io::Registration`, "wake
//! me when this file descriptor is ready". This crate turns that into `TcpStream`,
//! `UdpSocket` and friends, with Tokio's names and shapes, so code written for
//! `tokio::net` and `tokio::io` ports by changing the crate path.
//!
//! # Layout
//! - [`io`] — `AsyncRead` / `AsyncWrite` / `AsyncBufRead`, their `*Ext` methods, `BufReader`,
//!   `BufWriter`, `copy`, `split`, `duplex`, and the `futures-io` bridge.
//! - [`net`] — `TcpListener`, `TcpStream`, `TcpSocket`, `UdpSocket`, `UnixListener`,
//!   `UnixStream`, address resolution.
//! - [`frame`] — line-delimited and length-delimited messages, with size limits.
//! - [`server`] — the accept loop the servers share: limit, task per connection, graceful stop.
//! - [`shutdown`] — the graceful-shutdown signal servers share with their connections.
//! - [`idle`] — which connections sit idle, so a server at its limit can reclaim one.
//! - [`echo`] — TCP and UDP echo servers (week 2).
//!
//! Applications live above this crate: the week-2 chat server is `kiln_app::chat`.

#![forbid(unsafe_code)]

pub mod echo;
pub mod frame;
pub mod idle;
pub mod io;
pub mod net;
pub mod server;
pub mod shutdown;
