//! `AsyncBufReadExt`: `read_until`, `read_line` and `lines()` over an [`AsyncBufRead`].
//!
//! All three scan the reader's buffer for a delimiter and consume up to it. `Lines::next_line`
//! keeps its partial line inside the `Lines` value, so it is cancel-safe: a `next_line` future
//! dropped half-way (in a `select!` with a timeout, say) loses nothing, and the next call
//! carries on with the same line. `read_until` and `read_line` append to a buffer the caller
//! owns, so what they consumed before cancellation is in that buffer.

use super::AsyncBufRead;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Moves bytes up to and including `delim` from `reader` into `out`. Returns `Ready(Ok(true))`
/// when a delimiter was found, `Ok(false)` at end of stream.
fn poll_until<R: AsyncBufRead + Unpin + ?Sized>(
    reader: &mut R,
    cx: &mut Context<'_>,
    delim: u8,
    out: &mut Vec<u8>,
) -> Poll<io::Result<bool>> {
    loop {
        let available = ready!(Pin::new(&mut *reader).poll_fill_buf(cx))?;
        if available.is_empty() {
            return Poll::Ready(Ok(false));
        }
        let (done, used) = match available.iter().position(|&b| b == delim) {
            Some(i) => {
                out.extend_from_slice(&available[..=i]);
                (true, i + 1)
            }
            None => {
                out.extend_from_slice(available);
                (false, available.len())
            }
        };
        Pin::new(&mut *reader).consume(used);
        if done {
            return Poll::Ready(Ok(true));
        }
    }
}

fn utf8(bytes: Vec<u8>) -> io::Result<String> {
    String::from_utf8(bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("line is not UTF-8: {e}")))
}

/// Async line helpers for every [`AsyncBufRead`].
pub trait AsyncBufReadExt: AsyncBufRead {
    /// Appends bytes up to and including `delim` to `buf`; returns how many were appended
    /// (0 at end of stream).
    fn read_until<'a>(&'a mut self, delim: u8, buf: &'a mut Vec<u8>) -> ReadUntil<'a, Self>
    where
        Self: Unpin,
    {
        let start = buf.len();
        ReadUntil { reader: self, delim, buf, start }
    }

    /// Appends one line, including its `\n`, to `buf`; returns how many bytes were appended
    /// (0 at end of stream). Fails with `InvalidData`, leaving `buf` unchanged, if the line
    /// is not UTF-8.
    fn read_line<'a>(&'a mut self, buf: &'a mut String) -> ReadLine<'a, Self>
    where
        Self: Unpin,
    {
        ReadLine { reader: self, buf, bytes: Vec::new() }
    }

    /// The lines of this reader, without their `\n` or `\r\n`.
    fn lines(self) -> Lines<Self>
    where
        Self: Sized,
    {
        Lines { reader: self, buf: Vec::new() }
    }

    /// The buffered bytes, reading more if none are buffered.
    fn fill_buf(&mut self) -> impl Future<Output = io::Result<&[u8]>> + '_
    where
        Self: Unpin,
    {
        FillBuf { reader: Some(self) }
    }

    /// Marks `amt` buffered bytes as used.
    fn consume(&mut self, amt: usize)
    where
        Self: Unpin,
    {
        Pin::new(self).consume(amt)
    }
}

impl<R: AsyncBufRead + ?Sized> AsyncBufReadExt for R {}

struct FillBuf<'a, R: ?Sized> {
    reader: Option<&'a mut R>,
}

impl<'a, R: AsyncBufRead + Unpin + ?Sized> Future for FillBuf<'a, R> {
    type Output = io::Result<&'a [u8]>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&'a [u8]>> {
        let reader = self.reader.take().expect("FillBuf polled after completion");
        // Poll through a reborrow first: on Pending we must keep the reader for next time.
        match Pin::new(&mut *reader).poll_fill_buf(cx) {
            Poll::Pending => {
                self.reader = Some(reader);
                Poll::Pending
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // Ready: poll again with the full lifetime; a buffer that was just filled is
            // returned at once without reading.
            Poll::Ready(Ok(_)) => Pin::new(reader).poll_fill_buf(cx),
        }
    }
}

/// Future of [`AsyncBufReadExt::read_until`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct ReadUntil<'a, R: ?Sized> {
    reader: &'a mut R,
    delim: u8,
    buf: &'a mut Vec<u8>,
    start: usize,
}

impl<R: AsyncBufRead + Unpin + ?Sized> Future for ReadUntil<'_, R> {
    type Output = io::Result<usize>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(poll_until(this.reader, cx, this.delim, this.buf))?;
        Poll::Ready(Ok(this.buf.len() - this.start))
    }
}

/// Future of [`AsyncBufReadExt::read_line`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct ReadLine<'a, R: ?Sized> {
    reader: &'a mut R,
    buf: &'a mut String,
    bytes: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin + ?Sized> Future for ReadLine<'_, R> {
    type Output = io::Result<usize>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(poll_until(this.reader, cx, b'\n', &mut this.bytes))?;
        let line = utf8(std::mem::take(&mut this.bytes))?;
        this.buf.push_str(&line);
        Poll::Ready(Ok(line.len()))
    }
}

/// The lines of a reader; see [`AsyncBufReadExt::lines`].
#[derive(Debug)]
pub struct Lines<R> {
    reader: R,
    /// The line read so far: kept here, not in the future, so `next_line` is cancel-safe.
    buf: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> Lines<R> {
    /// The next line without its line ending, or `None` at end of stream. A last line
    /// without a `\n` is still returned. Cancel-safe.
    pub async fn next_line(&mut self) -> io::Result<Option<String>> {
        std::future::poll_fn(|cx| self.poll_next_line(cx)).await
    }

    /// Poll form of [`Lines::next_line`].
    pub fn poll_next_line(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<String>>> {
        let found = ready!(poll_until(&mut self.reader, cx, b'\n', &mut self.buf))?;
        if !found && self.buf.is_empty() {
            return Poll::Ready(Ok(None));
        }
        let mut line = std::mem::take(&mut self.buf);
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        Poll::Ready(utf8(line).map(Some))
    }

    /// The reader back.
    pub fn into_inner(self) -> R {
        self.reader
    }

    /// The reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }
}

impl<R: AsyncBufRead + Unpin> futures_core::Stream for Lines<R> {
    type Item = io::Result<String>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<String>>> {
        self.get_mut().poll_next_line(cx).map(Result::transpose)
    }
}
