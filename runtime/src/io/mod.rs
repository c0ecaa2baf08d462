//! The reactor's public face: register an IO source and wait for readiness.
//!
//! This is what `kiln-net` builds its sockets on, and what any crate can use to make another
//! `mio` source (a pipe, a serial port, an inotify fd) asynchronous on Kiln.
//!
//! The contract is the edge-triggered one described in `driver/io.rs`: wait for readiness,
//! do the non-blocking operation, and on `WouldBlock` clear the readiness *you acted on* (the
//! [`ReadyEvent`] you were given), then wait again. [`Registration::poll_read_io`] and
//! [`Registration::poll_write_io`] do that loop for you.

use crate::driver::io::{ready, Direction, ReadyEvent as RawEvent, ScheduledIo};
use crate::runtime::context;
use crate::scheduler;
use std::future::poll_fn;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};

pub use mio::Interest;

/// Readiness reported by the reactor for one source.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Ready(usize);

impl Ready {
    /// Data can be read (or a connection accepted).
    pub fn is_readable(self) -> bool {
        self.0 & ready::READABLE != 0
    }
    /// Data can be written.
    pub fn is_writable(self) -> bool {
        self.0 & ready::WRITABLE != 0
    }
    /// The peer closed its writing half: reads will return EOF.
    pub fn is_read_closed(self) -> bool {
        self.0 & ready::READ_CLOSED != 0
    }
    /// The peer closed its reading half: writes will fail.
    pub fn is_write_closed(self) -> bool {
        self.0 & ready::WRITE_CLOSED != 0
    }
    /// The source reported an error (for sockets, read it with `take_error`).
    pub fn is_error(self) -> bool {
        self.0 & ready::ERROR != 0
    }
}

impl std::fmt::Debug for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ready")
            .field("readable", &self.is_readable())
            .field("writable", &self.is_writable())
            .field("read_closed", &self.is_read_closed())
            .field("write_closed", &self.is_write_closed())
            .field("error", &self.is_error())
            .finish()
    }
}

/// Readiness observed at one reactor tick; hand it back to [`Registration::clear_readiness`].
#[derive(Clone, Copy, Debug)]
pub struct ReadyEvent(RawEvent);

impl ReadyEvent {
    /// What was ready.
    pub fn ready(&self) -> Ready {
        Ready(self.0.ready)
    }
}

/// An IO source registered with the current runtime's reactor.
///
/// Dropping it forgets the registration (in-flight events for it are then ignored); call
/// [`Registration::deregister`] before closing the source if it may outlive the runtime.
pub struct Registration {
    handle: scheduler::Handle,
    token: usize,
    io: Arc<ScheduledIo>,
}

impl Registration {
    /// Registers `source` with the current runtime's reactor, edge-triggered, for `interest`.
    ///
    /// # Errors
    /// If the OS refuses the registration.
    ///
    /// # Panics
    /// Outside a Kiln runtime.
    #[track_caller]
    pub fn new(source: &mut impl mio::event::Source, interest: Interest) -> io::Result<Registration> {
        let handle = context::with_handle(|h| h.clone());
        let (token, io) = handle.driver().io.register(source, interest)?;
        Ok(Registration { handle, token, io })
    }

    /// Changes the interest set.
    pub fn reregister(&self, source: &mut impl mio::event::Source, interest: Interest) -> io::Result<()> {
        self.handle.driver().io.reregister(source, self.token, interest)
    }

    /// Removes `source` from the reactor.
    pub fn deregister(&mut self, source: &mut impl mio::event::Source) -> io::Result<()> {
        self.handle.driver().io.deregister(source)
    }

    fn poll_ready(&self, cx: &mut Context<'_>, direction: Direction) -> Poll<io::Result<ReadyEvent>> {
        std::task::ready!(crate::task::coop::poll_proceed(cx));
        let event = std::task::ready!(self.io.poll_ready(cx, direction));
        if event.ready & ready::SHUTDOWN != 0 {
            return Poll::Ready(Err(io::Error::other(
                "the Kiln runtime this IO source belongs to has shut down",
            )));
        }
        Poll::Ready(Ok(ReadyEvent(event)))
    }

    /// Waits until the source is readable (or read-closed, or in error).
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<ReadyEvent>> {
        self.poll_ready(cx, Direction::Read)
    }

    /// Waits until the source is writable (or write-closed, or in error).
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<ReadyEvent>> {
        self.poll_ready(cx, Direction::Write)
    }

    /// `async` form of [`Registration::poll_read_ready`].
    pub async fn readable(&self) -> io::Result<ReadyEvent> {
        poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// `async` form of [`Registration::poll_write_ready`].
    pub async fn writable(&self) -> io::Result<ReadyEvent> {
        poll_fn(|cx| self.poll_write_ready(cx)).await
    }

    /// Forgets the readiness in `event`, unless newer readiness arrived since it was observed.
    pub fn clear_readiness(&self, event: ReadyEvent) {
        self.io.clear_readiness(event.0);
    }

    /// Repeats `f` (a non-blocking read) until it does not return `WouldBlock`, waiting for
    /// readability in between.
    pub fn poll_read_io<R>(
        &self,
        cx: &mut Context<'_>,
        mut f: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            let event = std::task::ready!(self.poll_read_ready(cx))?;
            match f() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_readiness(event),
                result => return Poll::Ready(result),
            }
        }
    }

    /// Repeats `f` (a non-blocking write) until it does not return `WouldBlock`, waiting for
    /// writability in between.
    pub fn poll_write_io<R>(
        &self,
        cx: &mut Context<'_>,
        mut f: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            let event = std::task::ready!(self.poll_write_ready(cx))?;
            match f() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_readiness(event),
                result => return Poll::Ready(result),
            }
        }
    }

    /// Tries `f` once if the source is known to be ready for `interest`; on `WouldBlock`,
    /// clears that readiness. Returns `WouldBlock` without calling `f` if not ready.
    pub fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        let direction = if interest.is_writable() { Direction::Write } else { Direction::Read };
        let Some(event) = self.io.ready_now(direction) else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        if event.ready & ready::SHUTDOWN != 0 {
            return Err(io::Error::other("the Kiln runtime this IO source belongs to has shut down"));
        }
        match f() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.io.clear_readiness(event);
                Err(e)
            }
            result => result,
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.handle.driver().io.release(self.token);
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration").field("token", &self.token).finish()
    }
}
