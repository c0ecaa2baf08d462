//! `TcpSocket`: a TCP socket configured before it becomes a listener or a connection.
//!
//! `TcpListener::bind` and `TcpStream::connect` choose sensible defaults; servers that need
//! `SO_REUSEPORT` (several listeners on one port, one per process or thread), a different
//! backlog, buffer sizes or keepalive set them here, on a `socket2` socket, and then call
//! [`TcpSocket::listen`] or [`TcpSocket::connect`].

use super::{TcpListener, TcpStream};
use socket2::{Domain, Protocol, Socket, TcpKeepalive, Type};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// A TCP socket that is neither listening nor connected yet.
pub struct TcpSocket {
    inner: Socket,
}

impl TcpSocket {
    fn new(domain: Domain) -> io::Result<TcpSocket> {
        let inner = Socket::new(domain, Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))?;
        Ok(TcpSocket { inner })
    }

    /// A new IPv4 socket.
    ///
    /// # Errors
    /// As `socket(2)`.
    pub fn new_v4() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV4)
    }

    /// A new IPv6 socket.
    ///
    /// # Errors
    /// As `socket(2)`.
    pub fn new_v6() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV6)
    }

    /// A socket of the right family for `addr`.
    ///
    /// # Errors
    /// As `socket(2)`.
    pub fn for_addr(addr: SocketAddr) -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::for_address(addr))
    }

    /// `SO_REUSEADDR`: bind even while old connections on the port are in TIME_WAIT.
    ///
    /// # Errors
    /// As `setsockopt`.
    pub fn set_reuseaddr(&self, reuse: bool) -> io::Result<()> {
        self.inner.set_reuse_address(reuse)
    }

    /// `SO_REUSEPORT`: several sockets may bind the same port; the kernel spreads incoming
    /// connections between them.
    ///
    /// # Errors
    /// As `setsockopt`.
    pub fn set_reuseport(&self, reuse: bool) -> io::Result<()> {
        self.inner.set_reuse_port(reuse)
    }

    /// `SO_SNDBUF`.
    ///
    /// # Errors
    /// As `setsockopt`.
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        self.inner.set_send_buffer_size(size as usize)
    }

    /// `SO_RCVBUF`.
    ///
    /// # Errors
    /// As `setsockopt`.
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        self.inner.set_recv_buffer_size(size as usize)
    }

    /// `SO_KEEPALIVE`, with the kernel's default timings.
    ///
    /// # Errors
    /// As `setsockopt`.
    pub fn set_keepalive(&self, keepalive: bool) -> io::Result<()> {
        self.inner.set_keepalive(keepalive)
    }

    /// `SO_KEEPALIVE` with the first probe after `idle` and then every `interval`.
    ///
    /// # Errors
    /// As `setsockopt`.
    pub fn set_keepalive_params(&self, idle: Duration, interval: Duration) -> io::Result<()> {
        self.inner.set_tcp_keepalive(&TcpKeepalive::new().with_time(idle).with_interval(interval))
    }

    /// `TCP_NODELAY`.
    ///
    /// # Errors
    /// As `setsockopt`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_tcp_nodelay(nodelay)
    }

    /// `SO_LINGER`: `Some(Duration::ZERO)` makes close send a reset instead of a FIN.
    ///
    /// # Errors
    /// As `setsockopt`.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.inner.set_linger(linger)
    }

    /// Binds to `addr`.
    ///
    /// # Errors
    /// As `bind(2)` (for example `AddrInUse`).
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.inner.bind(&addr.into())
    }

    /// The bound address.
    ///
    /// # Errors
    /// As `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP socket"))
    }

    /// Starts listening with room for `backlog` connections not yet accepted.
    ///
    /// # Errors
    /// As `listen(2)`.
    ///
    /// # Panics
    /// Outside a Kiln runtime.
    #[track_caller]
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        self.inner.listen(backlog.min(i32::MAX as u32) as i32)?;
        TcpListener::from_mio(mio::net::TcpListener::from_std(self.inner.into()))
    }

    /// Connects to `addr`.
    ///
    /// # Errors
    /// As `connect(2)` (for example `ConnectionRefused`).
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        match self.inner.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        TcpStream::connect_mio(mio::net::TcpStream::from_std(self.inner.into())).await
    }
}

impl fmt::Debug for TcpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpSocket").field("local_addr", &self.local_addr().ok()).finish()
    }
}
