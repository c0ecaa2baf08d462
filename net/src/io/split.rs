//! `split`: one reader-writer value into a read half and a write half that can move to
//! different tasks.
//!
//! This works for any `AsyncRead + AsyncWrite` by putting the value behind an `Arc<Mutex<_>>`
//! that each half locks only for the duration of one `poll_*` call (nothing awaits under
//! it). Sockets have cheaper splits of their own that need no lock (`TcpStream::split`,
//! `TcpStream::into_split`).

use super::{AsyncRead, AsyncWrite, ReadBuf};
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

/// The read half from [`split`].
pub struct ReadHalf<T> {
    inner: Arc<Mutex<T>>,
}

/// The write half from [`split`].
pub struct WriteHalf<T> {
    inner: Arc<Mutex<T>>,
}

/// Splits `stream` into halves that can be used from different tasks.
pub fn split<T: AsyncRead + AsyncWrite>(stream: T) -> (ReadHalf<T>, WriteHalf<T>) {
    let inner = Arc::new(Mutex::new(stream));
    (ReadHalf { inner: inner.clone() }, WriteHalf { inner })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside a poll of the inner value poisons the lock; the value itself is as
    // consistent as that poll left it, which is all a poisoned std::io value promises too.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T> ReadHalf<T> {
    /// True if `other` is the write half of the same `split`.
    pub fn is_pair_of(&self, other: &WriteHalf<T>) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Joins the halves back into the original value.
    ///
    /// # Panics
    /// If `write` is not the other half of this one.
    pub fn unsplit(self, write: WriteHalf<T>) -> T {
        assert!(self.is_pair_of(&write), "ReadHalf::unsplit: the halves come from different splits");
        drop(write);
        let mutex = Arc::into_inner(self.inner).expect("both halves were given back");
        mutex.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ReadHalf<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(&self.inner)).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteHalf<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *lock(&self.inner)).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(&self.inner)).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(&self.inner)).poll_shutdown(cx)
    }
}

impl<T> fmt::Debug for ReadHalf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadHalf").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for WriteHalf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteHalf").finish_non_exhaustive()
    }
}
