//! Bridges to the `futures-io` traits, which much of the async ecosystem is written against
//! (futures-util's io helpers, async-tungstenite, asynchronous-codec…).
//!
//! Kiln's sockets implement `futures_io::{AsyncRead, AsyncWrite}` directly (through
//! `impl_futures_io!`, used by each socket type), so they can be handed to such crates as they
//! are. For anything else there is [`Compat`], which wraps a value implementing one family of
//! traits and implements the other. The two families differ only in details: futures-io reads
//! into a plain `&mut [u8]` and calls shutdown `poll_close`.

use super::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Adapts between Kiln's IO traits and `futures-io`'s: a Kiln reader or writer wrapped in
/// `Compat` is a futures-io one, and a futures-io reader or writer wrapped in `Compat` is a
/// Kiln one.
#[derive(Debug)]
pub struct Compat<T> {
    inner: T,
}

impl<T> Compat<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Compat<T> {
        Compat { inner }
    }

    /// The wrapped value.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped value, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// The wrapped value back.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

/// Reads through a Kiln reader into a plain slice: the futures-io shape.
pub(crate) fn poll_read_slice<R: AsyncRead + ?Sized>(
    reader: Pin<&mut R>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    let mut rb = ReadBuf::new(buf);
    ready!(reader.poll_read(cx, &mut rb))?;
    Poll::Ready(Ok(rb.filled().len()))
}

impl<T: AsyncRead + Unpin> futures_io::AsyncRead for Compat<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        poll_read_slice(Pin::new(&mut self.get_mut().inner), cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> futures_io::AsyncWrite for Compat<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<T: AsyncBufRead + Unpin> futures_io::AsyncBufRead for Compat<T> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        Pin::new(&mut self.get_mut().inner).poll_fill_buf(cx)
    }
    fn consume(self: Pin<&mut Self>, amt: usize) {
        Pin::new(&mut self.get_mut().inner).consume(amt)
    }
}

impl<T: futures_io::AsyncRead + Unpin> AsyncRead for Compat<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let n = ready!(Pin::new(&mut self.get_mut().inner).poll_read(cx, buf.unfilled_mut()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<T: futures_io::AsyncWrite + Unpin> AsyncWrite for Compat<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

/// Implements `futures_io::AsyncRead` for a type that implements Kiln's, by forwarding.
macro_rules! impl_futures_read {
    ($($ty:ty),* $(,)?) => {$(
        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::io::compat::poll_read_slice(self, cx, buf)
            }
        }
    )*};
}

/// Implements `futures_io::AsyncWrite` for a type that implements Kiln's, by forwarding.
macro_rules! impl_futures_write {
    ($($ty:ty),* $(,)?) => {$(
        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::io::AsyncWrite::poll_write(self, cx, buf)
            }
            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                $crate::io::AsyncWrite::poll_flush(self, cx)
            }
            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                $crate::io::AsyncWrite::poll_shutdown(self, cx)
            }
        }
    )*};
}

/// Both of the above: the socket types implement the futures-io traits as they are.
macro_rules! impl_futures_io {
    ($($ty:ty),* $(,)?) => {
        $crate::io::compat::impl_futures_read!($($ty),*);
        $crate::io::compat::impl_futures_write!($($ty),*);
    };
}
pub(crate) use {impl_futures_io, impl_futures_read, impl_futures_write};
