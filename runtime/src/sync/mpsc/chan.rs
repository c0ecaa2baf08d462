//! The channel core shared by the bounded and unbounded flavours.
//!
//! Messages wait in a `VecDeque` behind a mutex; the receiver's waker sits beside them. A
//! bounded channel adds a `Semaphore` of send permits: a sender takes a permit before it
//! pushes, and the receiver gives one back for every message it pops, which is exactly
//! backpressure. Because the semaphore is fair, senders blocked on a full channel proceed in
//! the order they arrived.
//!
//! The receiver does not pop the shared queue one message at a time: when its own batch
//! ([`Rx`]) is empty it swaps the whole shared queue for its empty one, in one lock
//! acquisition, then pops the batch without any lock. Under contention the senders meet the
//! receiver at the lock once per batch instead of once per message; the two `VecDeque`s trade
//! places, so neither side allocates once both have grown.
//!
//! # Closing rules
//! - `recv` returns `None` once the buffer is empty and either every sender is gone or the
//!   receiver closed the channel. Messages sent before that are always delivered.
//! - Closing or dropping the receiver closes the semaphore (waiting senders fail at once) and
//!   wakes `Sender::closed()`; dropping it also drops every buffered message.

use super::error::{SendError, TryRecvError};
use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};
use crate::loom::sync::lock;
use crate::loom::sync::Mutex;
use crate::sync::notify::Notify;
use crate::sync::semaphore::Semaphore;
use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

pub(crate) struct Chan<T> {
    state: Mutex<State<T>>,
    /// Send permits: `Some` for a bounded channel.
    pub(crate) permits: Option<Semaphore>,
    pub(crate) capacity: usize,
    tx_count: AtomicUsize,
    /// Wakes `Sender::closed()` when the receiver goes away.
    closed: Notify,
}

struct State<T> {
    queue: VecDeque<T>,
    rx_closed: bool,
    rx_waker: Option<Waker>,
}

impl<T> Chan<T> {
    pub(crate) fn new(capacity: Option<usize>) -> Chan<T> {
        Chan {
            state: Mutex::new(State {
                queue: VecDeque::with_capacity(capacity.unwrap_or(0).min(1024)),
                rx_closed: false,
                rx_waker: None,
            }),
            permits: capacity.map(Semaphore::new),
            capacity: capacity.unwrap_or(usize::MAX),
            tx_count: AtomicUsize::new(1),
            closed: Notify::new(),
        }
    }

    /// Pushes a message whose permit (if bounded) is already held.
    pub(crate) fn push(&self, value: T) -> Result<(), SendError<T>> {
        let waker = {
            let mut state = lock(&self.state);
            if state.rx_closed {
                return Err(SendError(value));
            }
            state.queue.push_back(value);
            state.rx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Moves every queued message into `batch` (which is empty). With nothing queued: the
    /// channel is `Disconnected` (closed, or every sender gone), or `Empty`, in which case
    /// `waker` (if any) is registered to hear of the next message.
    fn refill(&self, batch: &mut VecDeque<T>, waker: Option<&Waker>) -> Result<(), TryRecvError> {
        debug_assert!(batch.is_empty());
        let mut state = lock(&self.state);
        if !state.queue.is_empty() {
            std::mem::swap(&mut state.queue, batch);
            return Ok(());
        }
        if state.rx_closed || self.tx_count.load(Acquire) == 0 {
            return Err(TryRecvError::Disconnected);
        }
        if let Some(waker) = waker {
            match &state.rx_waker {
                Some(w) if w.will_wake(waker) => {}
                _ => state.rx_waker = Some(waker.clone()),
            }
        }
        Err(TryRecvError::Empty)
    }

    /// `refill` for a poll: `Ready(true)` with messages in `batch`, `Ready(false)` when the
    /// channel is closed and drained, `Pending` with the waker registered.
    fn poll_refill(&self, batch: &mut VecDeque<T>, cx: &mut Context<'_>) -> Poll<bool> {
        match self.refill(batch, Some(cx.waker())) {
            Ok(()) => Poll::Ready(true),
            Err(TryRecvError::Disconnected) => Poll::Ready(false),
            Err(TryRecvError::Empty) => Poll::Pending,
        }
    }

    fn release_permits(&self, n: usize) {
        if let Some(permits) = &self.permits {
            permits.release(n);
        }
    }

    /// The receiver closes the channel: no more sends; buffered messages stay receivable.
    pub(crate) fn close(&self) {
        lock(&self.state).rx_closed = true;
        if let Some(permits) = &self.permits {
            permits.close();
        }
        self.closed.notify_waiters();
    }

    /// The receiver is dropped: close, and drop every buffered message.
    fn close_and_drain(&self) {
        self.close();
        let drained: VecDeque<T> = std::mem::take(&mut lock(&self.state).queue);
        drop(drained); // outside the lock
    }

    pub(crate) fn is_rx_closed(&self) -> bool {
        lock(&self.state).rx_closed
    }

    pub(crate) fn is_closed_for_rx(&self) -> bool {
        let state = lock(&self.state);
        state.rx_closed || self.tx_count.load(Acquire) == 0
    }

    fn queued(&self) -> usize {
        lock(&self.state).queue.len()
    }

    pub(crate) fn add_sender(&self) {
        self.tx_count.fetch_add(1, Relaxed);
    }

    /// A sender is dropped; the last one wakes the receiver so it can see the end.
    pub(crate) fn drop_sender(&self) {
        if self.tx_count.fetch_sub(1, AcqRel) == 1 {
            let waker = lock(&self.state).rx_waker.take();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Completes when the receiver has closed or been dropped.
    pub(crate) async fn closed(&self) {
        loop {
            // Created before the check, so a close between the check and the await counts.
            let notified = self.closed.notified();
            if self.is_rx_closed() {
                return;
            }
            notified.await;
        }
    }
}

/// The receiving end: the channel plus the batch taken from it (see the module docs).
pub(crate) struct Rx<T> {
    pub(crate) chan: Arc<Chan<T>>,
    batch: VecDeque<T>,
}

impl<T> Rx<T> {
    pub(crate) fn new(chan: Arc<Chan<T>>) -> Rx<T> {
        Rx { chan, batch: VecDeque::new() }
    }

    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        std::task::ready!(crate::task::coop::poll_proceed(cx));
        if self.batch.is_empty() && !std::task::ready!(self.chan.poll_refill(&mut self.batch, cx)) {
            return Poll::Ready(None);
        }
        let v = self.batch.pop_front();
        self.chan.release_permits(1);
        Poll::Ready(v)
    }

    pub(crate) fn poll_recv_many(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        if limit == 0 {
            return Poll::Ready(0);
        }
        std::task::ready!(crate::task::coop::poll_proceed(cx));
        if self.batch.is_empty() && !std::task::ready!(self.chan.poll_refill(&mut self.batch, cx)) {
            return Poll::Ready(0);
        }
        let n = limit.min(self.batch.len());
        buf.extend(self.batch.drain(..n));
        self.chan.release_permits(n);
        Poll::Ready(n)
    }

    pub(crate) fn try_recv(&mut self) -> Result<T, TryRecvError> {
        if self.batch.is_empty() {
            self.chan.refill(&mut self.batch, None)?;
        }
        let v = self.batch.pop_front().expect("a refill moves at least one message");
        self.chan.release_permits(1);
        Ok(v)
    }

    /// Messages waiting: this end's batch and the shared queue.
    pub(crate) fn len(&self) -> usize {
        self.batch.len() + self.chan.queued()
    }
}

// Messages are moved in and out, never pinned, so a pinned receiver may move its batch.
impl<T> Unpin for Rx<T> {}

impl<T> Drop for Rx<T> {
    fn drop(&mut self) {
        self.chan.close_and_drain();
        // `batch` drops with the struct, after the channel is closed to senders.
    }
}
