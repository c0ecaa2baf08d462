//! `UdpSocket`: datagrams on the reactor.
//!
//! Every operation is the non-blocking syscall plus a wait for readiness on `WouldBlock`. All
//! methods take `&self`, so one socket can be shared (in an `Arc`) by a task that receives
//! and tasks that send. `recv` and `recv_from` are cancel-safe: a datagram is taken from the
//! kernel only in the poll that returns it.

use crate::net::addr::{resolve, resolve_first, try_each, ToSocketAddrs};
use crate::net::poll_evented::PollEvented;
use kiln_runtime::io::Interest;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

/// A UDP socket.
pub struct UdpSocket {
    io: PollEvented<mio::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr` (port 0 picks a free port).
    ///
    /// # Errors
    /// The last address's bind error, or a failed DNS lookup.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let addrs = resolve(&addr).await?;
        try_each(addrs, |a| async move { UdpSocket::from_mio(mio::net::UdpSocket::bind(a)?) }).await
    }

    fn from_mio(socket: mio::net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket { io: PollEvented::new(socket)? })
    }

    /// Wraps a std socket, which is switched to non-blocking mode.
    ///
    /// # Errors
    /// If it cannot be made non-blocking or registered.
    ///
    /// # Panics
    /// Outside a Kiln runtime.
    #[track_caller]
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        UdpSocket::from_mio(mio::net::UdpSocket::from_std(socket))
    }

    /// Sets the default destination for `send` and the only source `recv` accepts.
    ///
    /// # Errors
    /// As `connect(2)`, or a failed DNS lookup.
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let addrs = resolve(&addr).await?;
        try_each(addrs, |a| async move { self.io.get_ref().connect(a) }).await
    }

    /// The bound address.
    ///
    /// # Errors
    /// As `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer.
    ///
    /// # Errors
    /// `NotConnected` unless [`UdpSocket::connect`] was called.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Sends one datagram to the connected peer; returns the bytes sent.
    ///
    /// # Errors
    /// As `send(2)` (for example `ConnectionRefused` after an ICMP port-unreachable).
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_send(cx, buf)).await
    }

    /// Poll form of [`UdpSocket::send`].
    ///
    /// # Errors
    /// As `send(2)`.
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.registration().poll_write_io(cx, || self.io.get_ref().send(buf))
    }

    /// Receives one datagram from the connected peer. A datagram longer than `buf` is cut
    /// short (the rest is discarded by the kernel). Cancel-safe.
    ///
    /// # Errors
    /// As `recv(2)`.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_recv(cx, buf)).await
    }

    /// Poll form of [`UdpSocket::recv`].
    ///
    /// # Errors
    /// As `recv(2)`.
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.registration().poll_read_io(cx, || self.io.get_ref().recv(buf))
    }

    /// Sends one datagram to `target`.
    ///
    /// # Errors
    /// As `sendto(2)`, or a failed DNS lookup.
    pub async fn send_to(&self, buf: &[u8], target: impl ToSocketAddrs) -> io::Result<usize> {
        let target = resolve_first(&target).await?;
        std::future::poll_fn(|cx| self.poll_send_to(cx, buf, target)).await
    }

    /// Poll form of [`UdpSocket::send_to`].
    ///
    /// # Errors
    /// As `sendto(2)`.
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.io.registration().poll_write_io(cx, || self.io.get_ref().send_to(buf, target))
    }

    /// Receives one datagram and its sender. Cancel-safe.
    ///
    /// # Errors
    /// As `recvfrom(2)`.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        std::future::poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// Poll form of [`UdpSocket::recv_from`].
    ///
    /// # Errors
    /// As `recvfrom(2)`.
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.registration().poll_read_io(cx, || self.io.get_ref().recv_from(buf))
    }

    /// Receives without waiting: `WouldBlock` if no datagram is queued.
    ///
    /// # Errors
    /// `WouldBlock`, or the receive's own error.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.registration().try_io(Interest::READABLE, || self.io.get_ref().recv_from(buf))
    }

    /// Sends without waiting: `WouldBlock` if the send buffer is full.
    ///
    /// # Errors
    /// `WouldBlock`, or the send's own error.
    pub fn try_send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.io.registration().try_io(Interest::WRITABLE, || self.io.get_ref().send_to(buf, target))
    }

    /// Waits until a datagram can be received.
    ///
    /// # Errors
    /// If the runtime has shut down.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.registration().readable().await.map(drop)
    }

    /// Waits until a datagram can be sent.
    ///
    /// # Errors
    /// If the runtime has shut down.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.registration().writable().await.map(drop)
    }

    /// `SO_BROADCAST`.
    ///
    /// # Errors
    /// As `setsockopt`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_broadcast(on)
    }

    /// Sets the IP time-to-live.
    ///
    /// # Errors
    /// As `setsockopt`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }
}

impl std::os::fd::AsFd for UdpSocket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl std::os::fd::AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket").field("local_addr", &self.local_addr().ok()).finish()
    }
}
