//! Sockets on Kiln's reactor (`kiln::net`): TCP, UDP and Unix domain sockets.
//!
//! # Layout
//! - `poll_evented.rs` — a mio socket plus its reactor registration: the one place where
//!   "try the syscall, wait for readiness on `WouldBlock`" is written.
//! - `addr.rs` — [`ToSocketAddrs`] and [`lookup_host`] (DNS on the blocking pool).
//! - `tcp/` — [`TcpListener`], [`TcpStream`] and its splits, [`TcpSocket`].
//! - `udp.rs` — [`UdpSocket`].
//! - `unix.rs` — [`UnixListener`], [`UnixStream`].

mod addr;
mod poll_evented;
pub mod tcp;
mod udp;
mod unix;

pub use addr::{lookup_host, ToSocketAddrs};
pub use tcp::{TcpListener, TcpSocket, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};
