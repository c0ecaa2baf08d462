//! `duplex`: an in-memory, bidirectional byte pipe, for tests and for wiring two pieces of a
//! program together without a socket.
//!
//! Each direction is a bounded buffer: a writer that finds it full waits (backpressure, as a
//! socket's send buffer would), a reader that finds it empty waits. Dropping (or shutting
//! down) one end is seen by the other as end of stream once the buffer is drained, and its
//! writes then fail with `BrokenPipe`.

use super::{AsyncRead, AsyncWrite, ReadBuf};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// One end of an in-memory pipe; see [`duplex`].
#[derive(Debug)]
pub struct DuplexStream {
    read: Arc<Mutex<Pipe>>,
    write: Arc<Mutex<Pipe>>,
}

#[derive(Debug)]
struct Pipe {
    buf: VecDeque<u8>,
    max: usize,
    /// The writing end shut down or was dropped: readers see EOF after the buffer drains.
    write_closed: bool,
    /// The reading end was dropped: writers fail.
    read_closed: bool,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
}

impl Pipe {
    fn new(max: usize) -> Pipe {
        Pipe {
            buf: VecDeque::new(),
            max,
            write_closed: false,
            read_closed: false,
            read_waker: None,
            write_waker: None,
        }
    }
}

fn lock(m: &Mutex<Pipe>) -> MutexGuard<'_, Pipe> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Two connected ends; bytes written to one are read from the other. Each direction buffers
/// at most `max_buf_size` bytes.
///
/// # Panics
/// If `max_buf_size` is 0 (nothing could ever be written).
pub fn duplex(max_buf_size: usize) -> (DuplexStream, DuplexStream) {
    assert!(max_buf_size > 0, "duplex: max_buf_size must be at least 1");
    let a_to_b = Arc::new(Mutex::new(Pipe::new(max_buf_size)));
    let b_to_a = Arc::new(Mutex::new(Pipe::new(max_buf_size)));
    (
        DuplexStream { read: b_to_a.clone(), write: a_to_b.clone() },
        DuplexStream { read: a_to_b, write: b_to_a },
    )
}

impl AsyncRead for DuplexStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut pipe = lock(&self.read);
        if pipe.buf.is_empty() {
            if pipe.write_closed || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            pipe.read_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = pipe.buf.len().min(buf.remaining());
        let (front, back) = pipe.buf.as_slices();
        let from_front = n.min(front.len());
        buf.put_slice(&front[..from_front]);
        buf.put_slice(&back[..n - from_front]);
        pipe.buf.drain(..n);
        if let Some(w) = pipe.write_waker.take() {
            drop(pipe);
            w.wake();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for DuplexStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut pipe = lock(&self.write);
        if pipe.read_closed || pipe.write_closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the other end of the duplex is closed",
            )));
        }
        let room = pipe.max - pipe.buf.len();
        if room == 0 {
            pipe.write_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = room.min(buf.len());
        pipe.buf.extend(&buf[..n]);
        if let Some(w) = pipe.read_waker.take() {
            drop(pipe);
            w.wake();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        close_write(&self.write);
        Poll::Ready(Ok(()))
    }
}

fn close_write(pipe: &Mutex<Pipe>) {
    let mut p = lock(pipe);
    p.write_closed = true;
    let w = p.read_waker.take();
    drop(p);
    w.into_iter().for_each(Waker::wake);
}

impl Drop for DuplexStream {
    fn drop(&mut self) {
        close_write(&self.write);
        let mut p = lock(&self.read);
        p.read_closed = true;
        let w = p.write_waker.take();
        drop(p);
        w.into_iter().for_each(Waker::wake);
    }
}
