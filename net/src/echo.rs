//! Echo servers, TCP and UDP: the "hello world" of networking, with the parts a real server
//! needs: many clients at once, a connection limit, and graceful shutdown.
//!
//! [`serve_tcp`] runs the shared accept loop ([`crate::server::serve_connections`]: the
//! connection limit, a task per connection, graceful shutdown with a grace period) with a
//! connection task that copies what it reads back to the writer; a client beyond the limit is
//! told `server full`. [`serve_udp`] answers each datagram with itself until shutdown.

use crate::io::{AsyncReadExt, AsyncWriteExt};
use crate::net::{TcpListener, TcpStream, UdpSocket};
use crate::server::{serve_connections, AcceptLimits};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Limits of the TCP echo server.
#[derive(Debug, Clone)]
pub struct EchoConfig {
    /// Connections served at once; more are told `server full` and closed.
    pub max_connections: usize,
    /// After shutdown begins, how long open connections may take to finish.
    pub grace: Duration,
}

impl Default for EchoConfig {
    fn default() -> EchoConfig {
        EchoConfig { max_connections: 1024, grace: Duration::from_secs(5) }
    }
}

/// What a TCP echo server did, returned when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EchoStats {
    /// Connections served.
    pub served: u64,
    /// Connections turned away because the server was full.
    pub rejected: u64,
    /// Bytes echoed, over all finished connections.
    pub bytes: u64,
    /// Connections still open when the grace period ended, and so closed by force.
    pub forced: usize,
}

/// The line a client over the connection limit receives before it is closed.
pub const SERVER_FULL: &[u8] = b"server full\n";

/// Serves TCP echo on `listener` until `shutdown` completes, then stops gracefully (see the
/// module docs). Accept errors (such as running out of file descriptors) are logged to
/// stderr and accepting goes on after a short pause.
pub async fn serve_tcp(
    listener: TcpListener,
    config: EchoConfig,
    shutdown: impl Future<Output = ()>,
) -> EchoStats {
    let bytes = Arc::new(AtomicU64::new(0));
    let limits = AcceptLimits {
        max_connections: config.max_connections,
        full_message: SERVER_FULL,
        grace: config.grace,
    };
    let summary = serve_connections(listener, limits, shutdown, |stream, _peer, open, _idle| {
        // Echo ignores the shutdown signal: an open connection is served until the client
        // closes it or the grace period ends; holding the listener is what counts it as open.
        let bytes = bytes.clone();
        async move {
            let _open = open;
            bytes.fetch_add(echo_connection(stream).await, Ordering::Relaxed);
        }
    })
    .await;
    EchoStats {
        served: summary.served,
        rejected: summary.rejected,
        bytes: bytes.load(Ordering::Relaxed),
        forced: summary.forced,
    }
}

/// Echoes until the client closes its side; returns the bytes echoed. IO errors (a reset,
/// say) end the connection quietly: they are the client's business.
pub async fn echo_connection(mut stream: TcpStream) -> u64 {
    let mut buf = vec![0; 16 * 1024];
    let mut total = 0;
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).await.is_err() {
            break;
        }
        total += n as u64;
    }
    let _ = stream.shutdown().await;
    total
}

/// Answers every datagram on `socket` with itself until `shutdown` completes; returns how
/// many were echoed.
pub async fn serve_udp(socket: UdpSocket, shutdown: impl Future<Output = ()>) -> u64 {
    let mut buf = vec![0; 64 * 1024];
    let mut echoed = 0;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        kiln_runtime::select! {
            biased;
            () = &mut shutdown => return echoed,
            received = socket.recv_from(&mut buf) => match received {
                Ok((n, peer)) => {
                    if socket.send_to(&buf[..n], peer).await.is_ok() {
                        echoed += 1;
                    }
                }
                // An ICMP error from an earlier reply surfaces here on Linux; it concerns that
                // peer only.
                Err(_) => continue,
            },
        }
    }
}
