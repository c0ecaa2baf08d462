//! `copy` and `copy_bidirectional`: pump bytes from a reader to a writer.
//!
//! Both are built on one `CopyBuffer`, a small state machine: read into an 8 KiB buffer, write
//! it all out, repeat; at end of stream flush the writer. `copy_bidirectional` runs two of them
//! (a→b and b→a) in one future and, when one direction ends, shuts down the writer on the
//! other side so the peer sees the half-close, while the other direction keeps going: the
//! shape of a TCP proxy.

use super::{AsyncRead, AsyncWrite, ReadBuf};
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

const COPY_BUF: usize = 8 * 1024;

struct CopyBuffer {
    buf: Box<[u8]>,
    /// `buf[pos..cap]` is read but not yet written.
    pos: usize,
    cap: usize,
    read_done: bool,
    flushed: bool,
    total: u64,
}

impl CopyBuffer {
    fn new() -> CopyBuffer {
        CopyBuffer {
            buf: vec![0; COPY_BUF].into_boxed_slice(),
            pos: 0,
            cap: 0,
            read_done: false,
            flushed: false,
            total: 0,
        }
    }

    /// Copies until `reader` ends and `writer` is flushed; returns the bytes copied.
    fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
        writer: &mut W,
    ) -> Poll<io::Result<u64>>
    where
        R: AsyncRead + Unpin + ?Sized,
        W: AsyncWrite + Unpin + ?Sized,
    {
        loop {
            if self.pos == self.cap && !self.read_done {
                let mut rb = ReadBuf::new(&mut self.buf);
                match Pin::new(&mut *reader).poll_read(cx, &mut rb) {
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        if n == 0 {
                            self.read_done = true;
                        }
                        self.pos = 0;
                        self.cap = n;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {
                        // Nothing to read for now: make sure what we wrote is not sitting in
                        // a writer's buffer while we wait.
                        if !self.flushed {
                            ready!(Pin::new(&mut *writer).poll_flush(cx))?;
                            self.flushed = true;
                        }
                        return Poll::Pending;
                    }
                }
            }
            while self.pos < self.cap {
                let n = ready!(Pin::new(&mut *writer).poll_write(cx, &self.buf[self.pos..self.cap]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the writer accepted no more bytes during copy",
                    )));
                }
                self.pos += n;
                self.total += n as u64;
                self.flushed = false;
            }
            if self.read_done {
                ready!(Pin::new(&mut *writer).poll_flush(cx))?;
                return Poll::Ready(Ok(self.total));
            }
        }
    }
}

/// Copies everything from `reader` to `writer`, then flushes it; returns the bytes copied.
///
/// # Errors
/// The first read or write error.
pub async fn copy<R, W>(reader: &mut R, writer: &mut W) -> io::Result<u64>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut buf = CopyBuffer::new();
    poll_fn(|cx| buf.poll_copy(cx, reader, writer)).await
}

enum Direction {
    Running(CopyBuffer),
    ShuttingDown(u64),
    Done(u64),
}

fn poll_direction<R, W>(
    state: &mut Direction,
    cx: &mut Context<'_>,
    r: &mut R,
    w: &mut W,
) -> Poll<io::Result<u64>>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    loop {
        match state {
            Direction::Running(buf) => {
                let n = ready!(buf.poll_copy(cx, r, w))?;
                *state = Direction::ShuttingDown(n);
            }
            Direction::ShuttingDown(n) => {
                ready!(Pin::new(&mut *w).poll_shutdown(cx))?;
                *state = Direction::Done(*n);
            }
            Direction::Done(n) => return Poll::Ready(Ok(*n)),
        }
    }
}

/// Copies `a` → `b` and `b` → `a` at the same time until both directions end; when one
/// direction's reader ends, the opposite writer is shut down. Returns the bytes copied
/// `(a to b, b to a)`.
///
/// # Errors
/// The first read, write or shutdown error, in either direction.
pub async fn copy_bidirectional<A, B>(a: &mut A, b: &mut B) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut a_to_b = Direction::Running(CopyBuffer::new());
    let mut b_to_a = Direction::Running(CopyBuffer::new());
    poll_fn(|cx| {
        let ab = poll_direction(&mut a_to_b, cx, a, b)?;
        let ba = poll_direction(&mut b_to_a, cx, b, a)?;
        match (ab, ba) {
            (Poll::Ready(x), Poll::Ready(y)) => Poll::Ready(Ok((x, y))),
            _ => Poll::Pending,
        }
    })
    .await
}
