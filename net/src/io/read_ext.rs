//! `AsyncReadExt`: `read`, `read_exact`, `read_to_end`, `read_to_string` and the big-endian
//! integer readers, as futures over [`AsyncRead::poll_read`].
//!
//! Each method returns a small named future that borrows the reader, so it is `Unpin` and
//! `Send` whenever the reader is, and can be used in `select!`. Cancel safety differs and each
//! method says which it is: `read` is cancel-safe (a cancelled read consumed nothing), while
//! `read_exact` and `read_to_end` may have consumed bytes into their buffer before they were
//! dropped.

use super::{AsyncRead, ReadBuf};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Reads `buf.len()` bytes or fewer; `Ok(0)` at end of stream. Shared by the futures below.
fn poll_read_into<R: AsyncRead + Unpin + ?Sized>(
    reader: &mut R,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    let mut rb = ReadBuf::new(buf);
    ready!(Pin::new(reader).poll_read(cx, &mut rb))?;
    Poll::Ready(Ok(rb.filled().len()))
}

/// Async read helpers for every [`AsyncRead`].
pub trait AsyncReadExt: AsyncRead {
    /// Reads some bytes into `buf`, returning how many; `Ok(0)` means end of stream (or an
    /// empty `buf`).
    ///
    /// Cancel-safe: if the future is dropped before it completes, no bytes were read.
    fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> ReadFut<'a, Self>
    where
        Self: Unpin,
    {
        ReadFut { reader: self, buf }
    }

    /// Reads exactly `buf.len()` bytes. Fails with `UnexpectedEof` if the stream ends first.
    ///
    /// Not cancel-safe: bytes read before cancellation are lost with the future.
    fn read_exact<'a>(&'a mut self, buf: &'a mut [u8]) -> ReadExact<'a, Self>
    where
        Self: Unpin,
    {
        ReadExact { reader: self, buf, pos: 0 }
    }

    /// Reads until end of stream, appending to `buf`; returns the number of bytes appended.
    ///
    /// Not cancel-safe in the sense that the bytes already appended stay in `buf`.
    fn read_to_end<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> ReadToEnd<'a, Self>
    where
        Self: Unpin,
    {
        let start = buf.len();
        ReadToEnd { reader: self, buf, start }
    }

    /// Reads until end of stream, appending UTF-8 text to `buf`. Fails with `InvalidData`
    /// (leaving `buf` unchanged) if the bytes are not UTF-8.
    fn read_to_string<'a>(&'a mut self, buf: &'a mut String) -> ReadToString<'a, Self>
    where
        Self: Unpin,
    {
        ReadToString { reader: self, buf, bytes: Vec::new() }
    }

    /// Reads one byte. Fails with `UnexpectedEof` at end of stream.
    fn read_u8(&mut self) -> impl Future<Output = io::Result<u8>> + Send + '_
    where
        Self: Unpin + Send,
    {
        async move {
            let mut b = [0; 1];
            self.read_exact(&mut b).await?;
            Ok(b[0])
        }
    }

    /// Reads a big-endian `u16`.
    fn read_u16(&mut self) -> impl Future<Output = io::Result<u16>> + Send + '_
    where
        Self: Unpin + Send,
    {
        async move {
            let mut b = [0; 2];
            self.read_exact(&mut b).await?;
            Ok(u16::from_be_bytes(b))
        }
    }

    /// Reads a big-endian `u32`.
    fn read_u32(&mut self) -> impl Future<Output = io::Result<u32>> + Send + '_
    where
        Self: Unpin + Send,
    {
        async move {
            let mut b = [0; 4];
            self.read_exact(&mut b).await?;
            Ok(u32::from_be_bytes(b))
        }
    }

    /// Reads a big-endian `u64`.
    fn read_u64(&mut self) -> impl Future<Output = io::Result<u64>> + Send + '_
    where
        Self: Unpin + Send,
    {
        async move {
            let mut b = [0; 8];
            self.read_exact(&mut b).await?;
            Ok(u64::from_be_bytes(b))
        }
    }
}

impl<R: AsyncRead + ?Sized> AsyncReadExt for R {}

/// Future of [`AsyncReadExt::read`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct ReadFut<'a, R: ?Sized> {
    reader: &'a mut R,
    buf: &'a mut [u8],
}

impl<R: AsyncRead + Unpin + ?Sized> Future for ReadFut<'_, R> {
    type Output = io::Result<usize>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        poll_read_into(this.reader, cx, this.buf)
    }
}

/// Future of [`AsyncReadExt::read_exact`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct ReadExact<'a, R: ?Sized> {
    reader: &'a mut R,
    buf: &'a mut [u8],
    pos: usize,
}

impl<R: AsyncRead + Unpin + ?Sized> Future for ReadExact<'_, R> {
    type Output = io::Result<usize>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        while this.pos < this.buf.len() {
            let n = ready!(poll_read_into(this.reader, cx, &mut this.buf[this.pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("stream ended after {} of {} bytes", this.pos, this.buf.len()),
                )));
            }
            this.pos += n;
        }
        Poll::Ready(Ok(this.pos))
    }
}

/// Future of [`AsyncReadExt::read_to_end`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct ReadToEnd<'a, R: ?Sized> {
    reader: &'a mut R,
    buf: &'a mut Vec<u8>,
    start: usize,
}

/// How much a growing read buffer asks for at a time.
const READ_CHUNK: usize = 8 * 1024;

/// Appends to `buf` until end of stream. Shared by `read_to_end` and `read_to_string`.
fn poll_read_to_end<R: AsyncRead + Unpin + ?Sized>(
    reader: &mut R,
    cx: &mut Context<'_>,
    buf: &mut Vec<u8>,
) -> Poll<io::Result<()>> {
    loop {
        let len = buf.len();
        buf.resize(len + READ_CHUNK, 0);
        let polled = poll_read_into(reader, cx, &mut buf[len..]);
        let n = match &polled {
            Poll::Ready(Ok(n)) => *n,
            _ => 0,
        };
        buf.truncate(len + n);
        match polled {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(0)) => return Poll::Ready(Ok(())),
            Poll::Ready(Ok(_)) => {}
        }
    }
}

impl<R: AsyncRead + Unpin + ?Sized> Future for ReadToEnd<'_, R> {
    type Output = io::Result<usize>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(poll_read_to_end(this.reader, cx, this.buf))?;
        Poll::Ready(Ok(this.buf.len() - this.start))
    }
}

/// Future of [`AsyncReadExt::read_to_string`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct ReadToString<'a, R: ?Sized> {
    reader: &'a mut R,
    buf: &'a mut String,
    bytes: Vec<u8>,
}

impl<R: AsyncRead + Unpin + ?Sized> Future for ReadToString<'_, R> {
    type Output = io::Result<usize>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(poll_read_to_end(this.reader, cx, &mut this.bytes))?;
        let text = std::str::from_utf8(&this.bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("stream is not UTF-8: {e}")))?;
        this.buf.push_str(text);
        Poll::Ready(Ok(text.len()))
    }
}
