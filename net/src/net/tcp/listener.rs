//! `TcpListener`: accepts TCP connections on the reactor.

use super::TcpStream;
use crate::net::addr::{resolve, try_each, ToSocketAddrs};
use crate::net::poll_evented::PollEvented;
use kiln_runtime::io::Interest;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

/// A TCP socket listening for connections.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use kiln_net::net::TcpListener;
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// println!("listening on {}", listener.local_addr()?);
/// loop {
///     let (stream, peer) = listener.accept().await?;
///     // hand `stream` to a task…
/// #   let _ = (stream, peer);
/// }
/// # }
/// ```
pub struct TcpListener {
    io: PollEvented<mio::net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` (each address it names in turn, until one works). `SO_REUSEADDR` is
    /// set, so a restarted server can bind at once; the backlog is 1024 (use
    /// [`TcpSocket`](super::TcpSocket) for other options).
    ///
    /// # Errors
    /// The last address's bind error, or a failed DNS lookup.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let addrs = resolve(&addr).await?;
        try_each(addrs, |a| async move { TcpListener::from_mio(mio::net::TcpListener::bind(a)?) }).await
    }

    pub(crate) fn from_mio(listener: mio::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener { io: PollEvented::with_interest(listener, Interest::READABLE)? })
    }

    /// Wraps a std listener, which is switched to non-blocking mode.
    ///
    /// # Errors
    /// If it cannot be made non-blocking or registered.
    ///
    /// # Panics
    /// Outside a Kiln runtime.
    #[track_caller]
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        TcpListener::from_mio(mio::net::TcpListener::from_std(listener))
    }

    /// Deregisters the listener and returns it as a std one (still non-blocking).
    ///
    /// # Errors
    /// If deregistration fails.
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        Ok(self.io.into_inner()?.into())
    }

    /// Waits for a connection. Cancel-safe: a connection is taken from the OS only in the
    /// poll that returns it, so dropping this future loses none.
    ///
    /// # Errors
    /// Accept errors (for example, out of file descriptors). They concern one connection
    /// attempt, not the listener: a server should log them and keep accepting.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Poll form of [`TcpListener::accept`].
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (stream, peer) =
            std::task::ready!(self.io.registration().poll_read_io(cx, || self.io.get_ref().accept()))?;
        Poll::Ready(Ok((TcpStream::from_mio(stream)?, peer)))
    }

    /// The address the listener is bound to (with the real port after binding port 0).
    ///
    /// # Errors
    /// As `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets the IP time-to-live of accepted connections.
    ///
    /// # Errors
    /// As `setsockopt`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The IP time-to-live.
    ///
    /// # Errors
    /// As `getsockopt`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }
}

impl std::os::fd::AsFd for TcpListener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl std::os::fd::AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener").field("local_addr", &self.local_addr().ok()).finish()
    }
}
