//! `AsyncWriteExt`: `write`, `write_all`, `flush`, `shutdown` and the big-endian integer
//! writers, as futures over [`AsyncWrite`].
//!
//! `write` is cancel-safe (a cancelled write wrote nothing); `write_all` is not: part of the
//! buffer may have been written when it is dropped, so a protocol that cancels writes (a
//! write timeout, say) must treat the connection as broken afterwards.

use super::AsyncWrite;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Async write helpers for every [`AsyncWrite`].
pub trait AsyncWriteExt: AsyncWrite {
    /// Writes some of `buf`, returning how many bytes were taken.
    fn write<'a>(&'a mut self, buf: &'a [u8]) -> WriteFut<'a, Self>
    where
        Self: Unpin,
    {
        WriteFut { writer: self, buf }
    }

    /// Writes all of `buf`. Fails with `WriteZero` if the writer stops taking bytes.
    fn write_all<'a>(&'a mut self, buf: &'a [u8]) -> WriteAll<'a, Self>
    where
        Self: Unpin,
    {
        WriteAll { writer: self, buf }
    }

    /// Flushes buffered data.
    fn flush(&mut self) -> Flush<'_, Self>
    where
        Self: Unpin,
    {
        Flush { writer: self }
    }

    /// Flushes and closes the write side (TCP: sends FIN).
    fn shutdown(&mut self) -> Shutdown<'_, Self>
    where
        Self: Unpin,
    {
        Shutdown { writer: self }
    }

    /// Writes one byte.
    fn write_u8(&mut self, n: u8) -> impl Future<Output = io::Result<()>> + Send + '_
    where
        Self: Unpin + Send,
    {
        async move { self.write_all(&[n]).await }
    }

    /// Writes a big-endian `u16`.
    fn write_u16(&mut self, n: u16) -> impl Future<Output = io::Result<()>> + Send + '_
    where
        Self: Unpin + Send,
    {
        async move { self.write_all(&n.to_be_bytes()).await }
    }

    /// Writes a big-endian `u32`.
    fn write_u32(&mut self, n: u32) -> impl Future<Output = io::Result<()>> + Send + '_
    where
        Self: Unpin + Send,
    {
        async move { self.write_all(&n.to_be_bytes()).await }
    }

    /// Writes a big-endian `u64`.
    fn write_u64(&mut self, n: u64) -> impl Future<Output = io::Result<()>> + Send + '_
    where
        Self: Unpin + Send,
    {
        async move { self.write_all(&n.to_be_bytes()).await }
    }
}

impl<W: AsyncWrite + ?Sized> AsyncWriteExt for W {}

/// Future of [`AsyncWriteExt::write`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct WriteFut<'a, W: ?Sized> {
    writer: &'a mut W,
    buf: &'a [u8],
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for WriteFut<'_, W> {
    type Output = io::Result<usize>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        Pin::new(&mut *this.writer).poll_write(cx, this.buf)
    }
}

/// Future of [`AsyncWriteExt::write_all`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct WriteAll<'a, W: ?Sized> {
    writer: &'a mut W,
    buf: &'a [u8],
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for WriteAll<'_, W> {
    type Output = io::Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while !this.buf.is_empty() {
            let n = ready!(Pin::new(&mut *this.writer).poll_write(cx, this.buf))?;
            if n == 0 {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the writer accepted no more bytes",
                )));
            }
            this.buf = &this.buf[n..];
        }
        Poll::Ready(Ok(()))
    }
}

/// Future of [`AsyncWriteExt::flush`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Flush<'a, W: ?Sized> {
    writer: &'a mut W,
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for Flush<'_, W> {
    type Output = io::Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().writer).poll_flush(cx)
    }
}

/// Future of [`AsyncWriteExt::shutdown`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Shutdown<'a, W: ?Sized> {
    writer: &'a mut W,
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for Shutdown<'_, W> {
    type Output = io::Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().writer).poll_shutdown(cx)
    }
}
