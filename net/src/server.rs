//! The accept loop every Kiln server shares: limits, one task per connection, graceful stop.
//!
//! [`serve_connections`] accepts until `shutdown` completes. Each connection gets its own task,
//! a [`ShutdownListener`] and an [`Idle`] handle. At `max_connections` the connection idle
//! longest is told to close (see `idle.rs`: silent connections first) and the new client
//! takes its slot; only when none is idle is a client sent `full_message` and closed. When a
//! storm of connections has subsided, the allocator gives the memory back to the system. On shutdown the listener is dropped (no new connections), every connection task
//! is told, and they get `grace` to finish; whatever still runs then is aborted. The echo
//! server, the chat server and the HTTP server differ only in what a connection task does.

use crate::idle::{Idle, IdleConnections, Stage};
use crate::net::{TcpListener, TcpStream};
use crate::shutdown::{Shutdown, ShutdownListener};
use kiln_runtime::sync::Semaphore;
use kiln_runtime::task::JoinSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for the slot of a connection told to close at the limit, before the new
/// client is refused after all (an idle task closes in microseconds; one that became busy
/// just then finishes its request first).
pub const RECLAIM_WAIT: Duration = Duration::from_millis(500);

/// Connections open at once from which a drop is worth giving memory back for: once the
/// count has reached this, the allocator is trimmed each time it falls to a quarter of its
/// last peak, until fewer than 16 are open (`kiln_runtime::runtime::trim_allocator`, on the
/// blocking pool).
pub const TRIM_AFTER_PEAK: usize = 1024;

/// Limits of [`serve_connections`].
#[derive(Debug, Clone, Copy)]
pub struct AcceptLimits<'a> {
    /// Connections served at once.
    pub max_connections: usize,
    /// What a client over the limit is sent before it is closed.
    pub full_message: &'a [u8],
    /// After shutdown begins, how long connection tasks may take.
    pub grace: Duration,
}

/// What an accept loop did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AcceptSummary {
    /// Connections served.
    pub served: u64,
    /// Connections turned away by the limit.
    pub rejected: u64,
    /// Idle connections closed to make room for new ones.
    pub reclaimed: u64,
    /// Connection tasks still open when shutdown began (what the grace period waited for).
    pub open_at_shutdown: usize,
    /// Connection tasks still running when the grace period ended, and so aborted.
    pub forced: usize,
}

/// Accepts on `listener` until `shutdown` completes, running `connection` for each client;
/// see the module docs. Accept errors (e.g. out of file descriptors) concern one attempt:
/// they are logged to stderr and accepting resumes after a short pause.
pub async fn serve_connections<F, Fut>(
    listener: TcpListener,
    limits: AcceptLimits<'_>,
    shutdown: impl Future<Output = ()>,
    mut connection: F,
) -> AcceptSummary
where
    F: FnMut(TcpStream, SocketAddr, ShutdownListener, Idle) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let idle = IdleConnections::new();
    let mut peak = 0; // most connections open at once since the last trim
    let mut storm = false; // a peak of TRIM_AFTER_PEAK was reached and has not yet subsided
    let mut signal = Shutdown::new();
    let mut tasks = JoinSet::new();
    let mut summary = AcceptSummary::default();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        kiln_runtime::select! {
            biased;
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {
                // A storm subsiding: the memory its connections used goes back to the system,
                // at every fall to a quarter, until it is over.
                storm |= peak >= TRIM_AFTER_PEAK;
                if storm && tasks.len() <= peak / 4 {
                    peak = tasks.len();
                    storm = peak >= 16;
                    idle.prune(); // ended connections' slots, scattered over the heap, go first
                    kiln_runtime::task::spawn_blocking(kiln_runtime::runtime::trim_allocator);
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let mut permit = permits.clone().try_acquire_owned().ok();
                    if permit.is_none() && idle.reclaim_one() {
                        summary.reclaimed += 1;
                        let freed = kiln_runtime::time::timeout(RECLAIM_WAIT, permits.clone().acquire_owned());
                        permit = freed.await.ok().and_then(Result::ok);
                    }
                    match permit {
                        Some(permit) => {
                            summary.served += 1;
                            // Idle from the moment it is accepted, not from when its task
                            // first runs: a silent client is reclaimable at once.
                            let mut place = idle.handle();
                            place.enter(Stage::NeverSpoke);
                            let task = connection(stream, peer, signal.listener(), place);
                            tasks.spawn(async move {
                                let _permit = permit;
                                task.await;
                            });
                            peak = peak.max(tasks.len());
                        }
                        None => {
                            summary.rejected += 1;
                            reject(stream, limits.full_message);
                        }
                    }
                }
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    kiln_runtime::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    while tasks.try_join_next().is_some() {} // finished ones are not waited for
    summary.open_at_shutdown = tasks.len();
    // Tasks see the signal (or ignore it and simply finish); `wait` returns once every one
    // has dropped its listener.
    if !signal.wait(limits.grace).await {
        tasks.abort_all();
    }
    // Count as forced only tasks the abort really cut short: some in the set may have
    // finished on their own and not been joined yet.
    while let Some(done) = tasks.join_next().await {
        if done.is_err_and(|e| e.is_cancelled()) {
            summary.forced += 1;
        }
    }
    summary
}

/// Tells a client why it is being turned away, without waiting: a fresh connection's send
/// buffer is empty, so one non-blocking write of a short line goes through, and if it somehow
/// does not, the client still sees the close.
fn reject(stream: TcpStream, reason: &[u8]) {
    use std::io::Write;
    if let Ok(mut std_stream) = stream.into_std() {
        let _ = std_stream.write(reason);
    }
}
