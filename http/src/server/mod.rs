//! The HTTP/1.1 server: accept connections, serve each on its own task, shut down gracefully.
//!
//! Connection model: one accept loop feeding the work-stealing scheduler (each connection is
//! a task any worker may run). One thread per core with its own `SO_REUSEPORT` listener
//! ([`Server::from_listener`]) measured no different on this project's machine; see
//! ARCHITECTURE.md, "Connection model".

mod conn;
mod peer;

pub use conn::{DRAIN_LIMIT, WRITE_HIGH_WATER};
pub use peer::PeerAddr;

use crate::h1::ReadLimits;
use crate::Service;
use kiln_net::net::TcpListener;
use kiln_net::server::{serve_connections, AcceptLimits};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Default time an idle keep-alive connection is kept open.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(60);
/// Default time in-flight requests get to finish after shutdown begins.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Default most connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// Default time a new connection may take to send its first byte.
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a client past `max_connections` receives, when no idle connection could make room,
/// before the connection is closed: a problem body and `Retry-After`.
fn service_unavailable() -> &'static [u8] {
    static RESPONSE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    RESPONSE.get_or_init(|| {
        let body = br#"{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"the server is at its connection limit; retry shortly"}"#;
        let mut r = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    })
}

/// Server settings; every limit has a named default.
#[derive(Debug, Clone, Copy)]
pub struct ServerConfig {
    /// Connections served at once. At the limit the connection idle longest is closed to
    /// make room (silent ones first); with none idle, a new client is answered 503.
    pub max_connections: usize,
    /// Request limits and read timeouts (414, 431, 413, 408).
    pub read_limits: ReadLimits,
    /// How long an idle keep-alive connection stays open.
    pub keep_alive: Duration,
    /// How long a new connection may stay silent before it is closed (shorter than
    /// `keep_alive`: a client that connects and never speaks holds a slot for nothing).
    pub first_byte_timeout: Duration,
    /// After shutdown begins, how long in-flight requests may take.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            read_limits: ReadLimits::default(),
            keep_alive: DEFAULT_KEEP_ALIVE,
            first_byte_timeout: DEFAULT_FIRST_BYTE_TIMEOUT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

/// What a server did, returned when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServeSummary {
    /// Connections accepted.
    pub connections: u64,
    /// Connections open when shutdown began: what the grace period waited for (idle
    /// keep-alive connections among them close at once).
    pub open_at_shutdown: usize,
    /// Connections still busy when the grace period ended, and so closed by force.
    pub forced: usize,
}

/// A bound HTTP server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    config: ServerConfig,
}

impl Server {
    /// Binds to `addr` with the default configuration.
    ///
    /// # Errors
    /// If the address cannot be bound.
    pub async fn bind(addr: impl kiln_net::net::ToSocketAddrs) -> io::Result<Server> {
        Ok(Server { listener: TcpListener::bind(addr).await?, config: ServerConfig::default() })
    }

    /// A server on a listener bound elsewhere — for instance one of several bound to the same
    /// port with `SO_REUSEPORT`, one per thread (the per-core model in ARCHITECTURE.md).
    pub fn from_listener(listener: TcpListener) -> Server {
        Server { listener, config: ServerConfig::default() }
    }

    /// Replaces the configuration.
    pub fn config(mut self, config: ServerConfig) -> Server {
        self.config = config;
        self
    }

    /// The bound address.
    ///
    /// # Errors
    /// As `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `service` (a [`Router`](crate::Router), a layered service, or an async
    /// closure) until `shutdown` completes; then stops accepting, closes idle
    /// connections at once, lets requests in progress finish (their responses carry
    /// `Connection: close`) for up to `shutdown_grace`, and aborts what remains.
    pub async fn serve<S: Service>(self, service: S, shutdown: impl Future<Output = ()>) -> ServeSummary {
        let Server { listener, config } = self;
        let limits = AcceptLimits {
            max_connections: config.max_connections,
            full_message: service_unavailable(),
            grace: config.shutdown_grace,
        };
        let grace = config.shutdown_grace;
        let shutdown = async move {
            shutdown.await;
            tracing::info!(
                grace_ms = grace.as_millis() as u64,
                "shutdown: stopped accepting; requests in flight may finish"
            );
        };
        let accepted = serve_connections(listener, limits, shutdown, |stream, peer, signal, idle| {
            conn::serve(stream, peer, service.clone(), config, signal, idle)
        })
        .await;
        tracing::info!(
            reclaimed_idle = accepted.reclaimed,
            refused_at_limit = accepted.rejected,
            waited_for = accepted.open_at_shutdown,
            forced = accepted.forced,
            served = accepted.served,
            "shutdown: complete"
        );
        ServeSummary {
            connections: accepted.served,
            open_at_shutdown: accepted.open_at_shutdown,
            forced: accepted.forced,
        }
    }
}
