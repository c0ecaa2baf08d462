//! Echo servers, TCP and UDP: the "hello world" of networking, with the parts a real server
//! needs: many clients at once, a connection limit, and graceful shutdown.
//!
//! [`serve_tcp`] accepts connections and gives each its own task that copies what it reads
//! back to the writer. A [`Semaphore`] holds the connection limit: a client beyond it is told
//! `server full` and closed. The tasks live in a [`JoinSet`], which is what makes shutdown
//! graceful: when the `shutdown` future completes, the listener is dropped (no new
//! connections), the open ones get `grace` to finish, and whatever is still running then is
//! aborted. [`serve_udp`] answers each datagram with itself until shutdown.

use crate::io::{AsyncReadExt, AsyncWriteExt};
use crate::net::{TcpListener, TcpStream, UdpSocket};
use kiln_runtime::sync::Semaphore;
use kiln_runtime::task::JoinSet;
use std::future::Future;
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
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let mut tasks: JoinSet<u64> = JoinSet::new();
    let mut stats = EchoStats::default();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        kiln_runtime::select! {
            biased;
            () = &mut shutdown => break,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                stats.bytes += done.unwrap_or(0);
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => match permits.clone().try_acquire_owned() {
                    Ok(permit) => {
                        stats.served += 1;
                        tasks.spawn(async move {
                            let _permit = permit;
                            echo_connection(stream).await
                        });
                    }
                    Err(_) => {
                        stats.rejected += 1;
                        reject(stream, SERVER_FULL);
                    }
                },
                Err(e) => {
                    eprintln!("echo: accept failed: {e}");
                    kiln_runtime::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    let drained = kiln_runtime::time::timeout(config.grace, async {
        while let Some(done) = tasks.join_next().await {
            stats.bytes += done.unwrap_or(0);
        }
    })
    .await;
    if drained.is_err() {
        stats.forced = tasks.len();
        tasks.abort_all();
    }
    stats
}

/// Tells a client why it is being turned away, without waiting: a fresh connection's send
/// buffer is empty, so one non-blocking write of a short line goes through, and if it somehow
/// does not, the client still sees the close.
pub(crate) fn reject(stream: TcpStream, reason: &[u8]) {
    use std::io::Write;
    if let Ok(mut std_stream) = stream.into_std() {
        let _ = std_stream.write(reason);
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
