//! The channel core shared by the bounded and unbounded flavours.
//!
//! Messages wait in a `VecDeque` behind a mutex; the receiver's waker sits beside them. A
//! bounded channel adds a `Semaphore` of send permits: a sender takes a permit before it
//! pushes, and the receiver gives one back for every message it pops, which is exactly
//! backpressure. Because the semaphore is fair, senders blocked on a full channel proceed in
//! the order they arrived.
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

    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        std::task::ready!(crate::task::coop::poll_proceed(cx));
        let mut state = lock(&self.state);
        if let Some(v) = state.queue.pop_front() {
            drop(state);
            self.release_permits(1);
            return Poll::Ready(Some(v));
        }
        if state.rx_closed || self.tx_count.load(Acquire) == 0 {
            return Poll::Ready(None);
        }
        match &state.rx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => state.rx_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    pub(crate) fn poll_recv_many(&self, cx: &mut Context<'_>, buf: &mut Vec<T>, limit: usize) -> Poll<usize> {
        if limit == 0 {
            return Poll::Ready(0);
        }
        std::task::ready!(crate::task::coop::poll_proceed(cx));
        let mut state = lock(&self.state);
        let n = limit.min(state.queue.len());
        if n > 0 {
            buf.extend(state.queue.drain(..n));
            drop(state);
            self.release_permits(n);
            return Poll::Ready(n);
        }
        if state.rx_closed || self.tx_count.load(Acquire) == 0 {
            return Poll::Ready(0);
        }
        match &state.rx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => state.rx_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut state = lock(&self.state);
        match state.queue.pop_front() {
            Some(v) => {
                drop(state);
                self.release_permits(1);
                Ok(v)
            }
            None if state.rx_closed || self.tx_count.load(Acquire) == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
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
    pub(crate) fn close_and_drain(&self) {
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

    pub(crate) fn len(&self) -> usize {
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
