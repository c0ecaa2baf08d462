//! `TcpStream`: a TCP connection on the reactor.
//!
//! Reading and writing go through [`PollEvented`]: try the non-blocking syscall, and on
//! `WouldBlock` wait for the reactor to report the next readiness edge. `connect` starts a
//! non-blocking connect, waits until the socket is writable, and then asks the socket whether
//! the connect succeeded (`SO_ERROR`).
//!
//! Two ways to use a stream from two places at once: [`TcpStream::split`] borrows it (both
//! halves in one task, e.g. in a `select!`), [`TcpStream::into_split`] gives owned halves that
//! can move to different tasks and be [`reunite`](super::OwnedReadHalf::reunite)d. Neither
//! takes a lock: a socket's read and write sides are independent in the kernel.

use super::split::{split_borrowed, split_owned, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::io::{compat::impl_futures_io, AsyncRead, AsyncWrite, ReadBuf};
use crate::net::addr::{resolve, try_each, ToSocketAddrs};
use crate::net::poll_evented::PollEvented;
use kiln_runtime::io::Interest;
use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// A TCP connection.
pub struct TcpStream {
    pub(super) io: PollEvented<mio::net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr` (each address it names in turn, until one works).
    ///
    /// # Errors
    /// The last address's connect error (for example `ConnectionRefused`), or a failed DNS
    /// lookup.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let addrs = resolve(&addr).await?;
        try_each(addrs, |a| async move { TcpStream::connect_mio(mio::net::TcpStream::connect(a)?).await })
            .await
    }

    /// Waits for a non-blocking connect to finish and reports its outcome.
    pub(crate) async fn connect_mio(stream: mio::net::TcpStream) -> io::Result<TcpStream> {
        let stream = TcpStream::from_mio(stream)?;
        loop {
            let event = stream.io.registration().writable().await?;
            if let Some(e) = stream.io.get_ref().take_error()? {
                return Err(e);
            }
            // Writable without an error normally means connected; a spurious wake-up shows as
            // `NotConnected` here, and then we wait for the next edge.
            match stream.io.get_ref().peer_addr() {
                Ok(_) => return Ok(stream),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    stream.io.registration().clear_readiness(event)
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub(crate) fn from_mio(stream: mio::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream { io: PollEvented::new(stream)? })
    }

    /// Wraps a connected std stream, which is switched to non-blocking mode.
    ///
    /// # Errors
    /// If it cannot be made non-blocking or registered.
    ///
    /// # Panics
    /// Outside a Kiln runtime.
    #[track_caller]
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::from_mio(mio::net::TcpStream::from_std(stream))
    }

    /// Deregisters the stream and returns it as a std one (still non-blocking).
    ///
    /// # Errors
    /// If deregistration fails.
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        Ok(self.io.into_inner()?.into())
    }

    /// The remote address.
    ///
    /// # Errors
    /// `NotConnected` if the connection is gone.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    /// As `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Turns Nagle's algorithm off (`true`) or on. Request-response protocols want it off.
    ///
    /// # Errors
    /// As `setsockopt`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// Whether Nagle's algorithm is off.
    ///
    /// # Errors
    /// As `getsockopt`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// Sets the IP time-to-live.
    ///
    /// # Errors
    /// As `setsockopt`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// Waits until the stream is readable (or closed, or in error).
    ///
    /// # Errors
    /// If the runtime has shut down.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.registration().readable().await.map(drop)
    }

    /// Waits until the stream is writable.
    ///
    /// # Errors
    /// If the runtime has shut down.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.registration().writable().await.map(drop)
    }

    /// Reads without waiting: `WouldBlock` if no data is ready. Pair it with
    /// [`TcpStream::readable`].
    ///
    /// # Errors
    /// `WouldBlock`, or the read's own error.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        use std::io::Read;
        self.io.registration().try_io(Interest::READABLE, || self.io.get_ref().read(buf))
    }

    /// Writes without waiting: `WouldBlock` if the send buffer is full.
    ///
    /// # Errors
    /// `WouldBlock`, or the write's own error.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        use std::io::Write;
        self.io.registration().try_io(Interest::WRITABLE, || self.io.get_ref().write(buf))
    }

    /// Reads without consuming: the same bytes are returned by the next read.
    ///
    /// # Errors
    /// As `recv(MSG_PEEK)`.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_peek(cx, &mut ReadBuf::new(buf))).await
    }

    /// Poll form of [`TcpStream::peek`]; returns how many bytes were peeked.
    ///
    /// # Errors
    /// As `recv(MSG_PEEK)`.
    pub fn poll_peek(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<usize>> {
        let n =
            ready!(self.io.registration().poll_read_io(cx, || self.io.get_ref().peek(buf.unfilled_mut())))?;
        buf.advance(n);
        Poll::Ready(Ok(n))
    }

    /// Borrowed read and write halves, for using both directions in one task.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        split_borrowed(self)
    }

    /// Owned halves that can move to different tasks; [`OwnedReadHalf::reunite`] puts them
    /// back together. Dropping the write half shuts down the write direction.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        split_owned(self)
    }

    pub(super) fn poll_read_priv(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.io.poll_read(cx, buf)
    }

    pub(super) fn poll_write_priv(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_write(cx, buf)
    }

    pub(super) fn poll_write_vectored_priv(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write_vectored(cx, bufs)
    }

    /// Half-closes the write direction (sends FIN). Reading still works. A second call, or a
    /// call after the peer closed the connection, is not an error.
    pub(super) fn shutdown_write(&self) -> io::Result<()> {
        match self.io.get_ref().shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => r,
        }
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.poll_read_priv(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_priv(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored_priv(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    /// TCP has no user-space buffer to flush.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown_write())
    }
}

impl_futures_io!(TcpStream);

impl std::os::fd::AsFd for TcpStream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl std::os::fd::AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}
