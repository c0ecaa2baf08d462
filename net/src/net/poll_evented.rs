//! `PollEvented`: a non-blocking mio socket married to its reactor registration.
//!
//! Every Kiln socket is one of these. A read goes: ask the registration whether the socket is
//! readable (if not, the task's waker is stored and the reactor will wake it on the next edge);
//! try the non-blocking syscall; on `WouldBlock`, clear the readiness (with the tick it was
//! observed at, so an edge that arrived meanwhile is not lost) and wait again.
//!
//! One more rule saves a syscall per read: with edge-triggered epoll, a read that returns
//! fewer bytes than asked for has drained the socket's buffer, so readiness is cleared at once
//! instead of being discovered by a read that fails with `WouldBlock`. Writes use the same rule.

use crate::io::ReadBuf;
use kiln_runtime::io::{Interest, Registration};
use std::io::{self, Read, Write};
use std::task::{ready, Context, Poll};

/// A mio source registered with the current runtime's reactor.
pub(crate) struct PollEvented<E: mio::event::Source> {
    /// `Some` until drop, which deregisters it before closing it.
    io: Option<E>,
    registration: Registration,
}

impl<E: mio::event::Source> PollEvented<E> {
    /// Registers `io` for reads and writes.
    ///
    /// # Panics
    /// Outside a Kiln runtime (the reactor lives in the runtime).
    #[track_caller]
    pub(crate) fn new(io: E) -> io::Result<PollEvented<E>> {
        PollEvented::with_interest(io, Interest::READABLE | Interest::WRITABLE)
    }

    #[track_caller]
    pub(crate) fn with_interest(mut io: E, interest: Interest) -> io::Result<PollEvented<E>> {
        let registration = Registration::new(&mut io, interest)?;
        Ok(PollEvented { io: Some(io), registration })
    }

    pub(crate) fn get_ref(&self) -> &E {
        self.io.as_ref().expect("PollEvented used after drop")
    }

    pub(crate) fn registration(&self) -> &Registration {
        &self.registration
    }

    /// Deregisters and hands the mio source back.
    pub(crate) fn into_inner(mut self) -> io::Result<E> {
        let mut io = self.io.take().expect("PollEvented used after drop");
        self.registration.deregister(&mut io)?;
        Ok(io)
    }
}

impl<E: mio::event::Source> PollEvented<E>
where
    for<'a> &'a E: Read + Write,
{
    /// Reads into `buf`. Shared by every stream type.
    pub(crate) fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let event = ready!(self.registration.poll_read_ready(cx))?;
            let unfilled = buf.unfilled_mut();
            let want = unfilled.len();
            match self.get_ref().read(unfilled) {
                Ok(n) => {
                    if n > 0 && n < want {
                        self.registration.clear_readiness(event);
                    }
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.registration.clear_readiness(event),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Writes from `buf`. Shared by every stream type.
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let event = ready!(self.registration.poll_write_ready(cx))?;
            match self.get_ref().write(buf) {
                Ok(n) => {
                    if n > 0 && n < buf.len() {
                        self.registration.clear_readiness(event);
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.registration.clear_readiness(event),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Writes from several buffers in one syscall.
    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.registration.poll_write_io(cx, || self.get_ref().write_vectored(bufs))
    }
}

impl<E: mio::event::Source> Drop for PollEvented<E> {
    fn drop(&mut self) {
        if let Some(mut io) = self.io.take() {
            // Errors here mean the runtime is already gone; closing the fd below removes it
            // from epoll in any case.
            let _ = self.registration.deregister(&mut io);
        }
    }
}
