//! The IO reactor: `mio::Poll` plus, per registered source, the readiness it last reported and
//! the tasks waiting on it.
//!
//! Sources are registered **edge-triggered**: epoll reports a transition to readable or
//! writable once, and it is the task's job to read or write until `WouldBlock`. So the reactor
//! remembers readiness (`ScheduledIo::readiness`) until the task says it consumed it
//! ([`ScheduledIo::clear_readiness`]).
//!
//! A race hides there: the task sees "readable", reads until `WouldBlock`, and clears the flag,
//! but between its last read and its clear a new edge may arrive and set the flag again.
//! Clearing it then would lose that edge and the task would wait forever. So each dispatch
//! stamps the readiness with a **tick** (a counter of reactor turns), the task's clear carries
//! the tick of the readiness it acted on, and a clear whose tick is stale does nothing.
//!
//! Wakers are collected under the lock and woken after it is released, so a woken task that
//! runs at once on another worker never contends with the reactor.

use crate::loom::sync::lock;
use mio::{Events, Interest, Registry, Token};
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Token of the `mio::Waker` that unparks a thread blocked in `epoll_wait`.
pub(crate) const TOKEN_WAKEUP: Token = Token(usize::MAX);
/// Token of the signal pipe (see `signal/registry.rs`).
pub(crate) const TOKEN_SIGNAL: Token = Token(usize::MAX - 1);

/// Events fetched per `epoll_wait`. More events stay queued in the kernel for the next turn.
const EVENTS_CAPACITY: usize = 1024;

/// Bits of the `Ready` set, as packed into `ScheduledIo::readiness`.
pub(crate) mod ready {
    pub const READABLE: usize = 1;
    pub const WRITABLE: usize = 2;
    pub const READ_CLOSED: usize = 4;
    pub const WRITE_CLOSED: usize = 8;
    pub const ERROR: usize = 16;
    pub const PRIORITY: usize = 32;
    /// The driver is gone: every wait ends with an error.
    pub const SHUTDOWN: usize = 64;
    pub const MASK: usize = 0x7f;
    /// Closed-ness is sticky: a clear never removes it.
    pub const STICKY: usize = READ_CLOSED | WRITE_CLOSED | SHUTDOWN;
}

/// The direction a task waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    pub(crate) fn mask(self) -> usize {
        match self {
            Direction::Read => ready::READABLE | ready::READ_CLOSED | ready::ERROR | ready::PRIORITY,
            Direction::Write => ready::WRITABLE | ready::WRITE_CLOSED | ready::ERROR,
        }
    }
}

/// Readiness observed at one tick; pass it back to `clear_readiness`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadyEvent {
    pub(crate) tick: usize,
    pub(crate) ready: usize,
}

/// Per-source state shared between the reactor and the source's owner.
pub(crate) struct ScheduledIo {
    /// `ready bits | tick << 16`.
    readiness: AtomicUsize,
    waiters: Mutex<Waiters>,
}

#[derive(Default)]
struct Waiters {
    reader: Option<Waker>,
    writer: Option<Waker>,
}

const TICK_SHIFT: usize = 16;

impl ScheduledIo {
    fn new() -> ScheduledIo {
        ScheduledIo { readiness: AtomicUsize::new(0), waiters: Mutex::new(Waiters::default()) }
    }

    /// Records readiness from the reactor and collects the wakers it satisfies.
    fn set_readiness(&self, tick: usize, bits: usize, wake: &mut Vec<Waker>) {
        let _ = self.readiness.fetch_update(AcqRel, Acquire, |cur| {
            Some(((cur & ready::MASK) | bits) | ((tick & 0xffff) << TICK_SHIFT))
        });
        let mut waiters = lock(&self.waiters);
        if bits & Direction::Read.mask() != 0 || bits & ready::SHUTDOWN != 0 {
            wake.extend(waiters.reader.take());
        }
        if bits & Direction::Write.mask() != 0 || bits & ready::SHUTDOWN != 0 {
            wake.extend(waiters.writer.take());
        }
    }

    /// Waits until the source is ready in `direction`.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, direction: Direction) -> Poll<ReadyEvent> {
        let mask = direction.mask() | ready::SHUTDOWN;
        let cur = self.readiness.load(Acquire);
        if cur & mask != 0 {
            return Poll::Ready(event(cur, mask));
        }
        let mut waiters = lock(&self.waiters);
        let slot = match direction {
            Direction::Read => &mut waiters.reader,
            Direction::Write => &mut waiters.writer,
        };
        match slot {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        // The reactor sets readiness before it takes the lock to collect wakers, so checking
        // again under the lock closes the window between our first load and storing the waker.
        let cur = self.readiness.load(Acquire);
        if cur & mask != 0 {
            return Poll::Ready(event(cur, mask));
        }
        Poll::Pending
    }

    /// The readiness in `direction` right now, without registering interest: for `try_*`
    /// calls, which must not replace the waker of a task that is waiting.
    pub(crate) fn ready_now(&self, direction: Direction) -> Option<ReadyEvent> {
        let mask = direction.mask() | ready::SHUTDOWN;
        let cur = self.readiness.load(Acquire);
        (cur & mask != 0).then(|| event(cur, mask))
    }

    /// Forgets the readiness in `event`, unless the reactor reported newer readiness since.
    pub(crate) fn clear_readiness(&self, event: ReadyEvent) {
        let clear = event.ready & !ready::STICKY;
        let _ = self.readiness.fetch_update(AcqRel, Acquire, |cur| {
            if (cur >> TICK_SHIFT) != event.tick {
                return None; // a newer edge arrived: keep it
            }
            Some(cur & !clear)
        });
    }

    fn shutdown(&self) -> Vec<Waker> {
        let mut wake = Vec::new();
        self.set_readiness(0, ready::SHUTDOWN, &mut wake);
        wake
    }
}

fn event(cur: usize, mask: usize) -> ReadyEvent {
    ReadyEvent { tick: cur >> TICK_SHIFT, ready: cur & mask }
}

/// The side of the reactor that any thread may use: register sources, wake the poller.
pub(crate) struct IoHandle {
    registry: Registry,
    /// Whether the process-wide signal socket is registered with this reactor yet.
    signal_registered: std::sync::Once,
    signal_error: Mutex<Option<String>>,
    waker: mio::Waker,
    sources: Mutex<Slab>,
    /// Readiness events dispatched, for metrics.
    events: AtomicU64,
}

/// Registered sources. A token is `index | generation << 32`, so an event for a source that
/// was deregistered (and whose slot was reused) is recognised as stale and ignored.
#[derive(Default)]
struct Slab {
    entries: Vec<(u32, Option<Arc<ScheduledIo>>)>,
    free: Vec<usize>,
}

impl Slab {
    fn insert(&mut self, io: Arc<ScheduledIo>) -> usize {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.entries.push((0, None));
                self.entries.len() - 1
            }
        };
        let entry = &mut self.entries[index];
        entry.0 = entry.0.wrapping_add(1);
        entry.1 = Some(io);
        index | ((entry.0 as usize) << 32)
    }

    fn get(&self, token: usize) -> Option<&Arc<ScheduledIo>> {
        let (index, generation) = (token & 0xffff_ffff, (token >> 32) as u32);
        match self.entries.get(index) {
            Some((g, Some(io))) if *g == generation => Some(io),
            _ => None,
        }
    }

    fn remove(&mut self, token: usize) -> Option<Arc<ScheduledIo>> {
        let (index, generation) = (token & 0xffff_ffff, (token >> 32) as u32);
        match self.entries.get_mut(index) {
            Some((g, slot @ Some(_))) if *g == generation => {
                self.free.push(index);
                slot.take()
            }
            _ => None,
        }
    }
}

/// The side of the reactor that blocks in `epoll_wait`; owned by whichever thread parks on it.
pub(crate) struct IoDriver {
    poll: mio::Poll,
    events: Events,
    tick: usize,
    wake: Vec<Waker>,
}

pub(crate) fn new() -> io::Result<(IoDriver, IoHandle)> {
    let poll = mio::Poll::new()?;
    let registry = poll.registry().try_clone()?;
    let waker = mio::Waker::new(&registry, TOKEN_WAKEUP)?;
    let driver = IoDriver { poll, events: Events::with_capacity(EVENTS_CAPACITY), tick: 0, wake: Vec::new() };
    let handle = IoHandle {
        registry,
        signal_registered: std::sync::Once::new(),
        signal_error: Mutex::new(None),
        waker,
        sources: Mutex::new(Slab::default()),
        events: AtomicU64::new(0),
    };
    Ok((driver, handle))
}

impl IoDriver {
    /// Waits up to `timeout` for events and wakes the tasks they satisfy. Returns how many
    /// events were dispatched, not counting unpark wake-ups.
    pub(crate) fn turn(&mut self, handle: &IoHandle, timeout: Option<Duration>) -> usize {
        self.tick = (self.tick + 1) & 0xffff;
        if let Err(e) = self.poll.poll(&mut self.events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                // epoll_wait only fails on EINTR or programming errors (bad fd, bad pointer).
                panic!("kiln: the reactor's epoll_wait failed: {e}");
            }
            return 0;
        }
        let mut dispatched = 0;
        let mut signalled = false;
        {
            let sources = lock(&handle.sources);
            for event in self.events.iter() {
                match event.token() {
                    TOKEN_WAKEUP => {}
                    TOKEN_SIGNAL => signalled = true,
                    Token(token) => {
                        if let Some(io) = sources.get(token) {
                            io.set_readiness(self.tick, readiness_bits(event), &mut self.wake);
                            dispatched += 1;
                        }
                    }
                }
            }
        }
        handle.events.fetch_add(dispatched as u64, Relaxed);
        for waker in self.wake.drain(..) {
            waker.wake();
        }
        if signalled {
            crate::signal::registry::dispatch();
            dispatched += 1;
        }
        dispatched
    }
}

fn readiness_bits(event: &mio::event::Event) -> usize {
    let mut bits = 0;
    if event.is_readable() {
        bits |= ready::READABLE;
    }
    if event.is_writable() {
        bits |= ready::WRITABLE;
    }
    if event.is_read_closed() {
        bits |= ready::READ_CLOSED;
    }
    if event.is_write_closed() {
        bits |= ready::WRITE_CLOSED;
    }
    if event.is_error() {
        bits |= ready::ERROR;
    }
    if event.is_priority() {
        bits |= ready::PRIORITY;
    }
    bits
}

impl IoHandle {
    /// Wakes the thread blocked in `turn`, if any.
    pub(crate) fn unpark(&self) {
        // The eventfd write can only fail if the counter overflows, which needs 2^64 wakes
        // without a read; ignore it.
        let _ = self.waker.wake();
    }

    pub(crate) fn register(
        &self,
        source: &mut impl mio::event::Source,
        interest: Interest,
    ) -> io::Result<(usize, Arc<ScheduledIo>)> {
        let io = Arc::new(ScheduledIo::new());
        let token = lock(&self.sources).insert(io.clone());
        if let Err(e) = self.registry.register(source, Token(token), interest) {
            lock(&self.sources).remove(token);
            return Err(e);
        }
        Ok((token, io))
    }

    pub(crate) fn reregister(
        &self,
        source: &mut impl mio::event::Source,
        token: usize,
        interest: Interest,
    ) -> io::Result<()> {
        self.registry.reregister(source, Token(token), interest)
    }

    pub(crate) fn deregister(&self, source: &mut impl mio::event::Source) -> io::Result<()> {
        self.registry.deregister(source)
    }

    /// Forgets a source's slot; events still in flight for it are then ignored.
    pub(crate) fn release(&self, token: usize) {
        let removed = lock(&self.sources).remove(token);
        drop(removed);
    }

    /// Registers the signal socket with this reactor, once.
    pub(crate) fn ensure_signal_registered(&self) -> io::Result<()> {
        self.signal_registered.call_once(|| {
            let fd = crate::signal::registry::receiver_fd();
            let mut source = mio::unix::SourceFd(&fd);
            if let Err(e) = self.registry.register(&mut source, TOKEN_SIGNAL, Interest::READABLE) {
                *lock(&self.signal_error) = Some(e.to_string());
            }
        });
        match &*lock(&self.signal_error) {
            None => Ok(()),
            Some(e) => Err(io::Error::other(format!("could not watch for signals: {e}"))),
        }
    }

    pub(crate) fn events_dispatched(&self) -> u64 {
        self.events.load(Relaxed)
    }

    /// Ends every pending wait with an error: the runtime is shutting down.
    pub(crate) fn shutdown(&self) {
        let all: Vec<Arc<ScheduledIo>> = {
            let sources = lock(&self.sources);
            sources.entries.iter().filter_map(|(_, io)| io.clone()).collect()
        };
        for io in all {
            for waker in io.shutdown() {
                waker.wake();
            }
        }
    }
}
