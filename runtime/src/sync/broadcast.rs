//! `broadcast`: every receiver sees every message (until it falls too far behind).
//!
//! # How it works
//! Messages go into a ring of `capacity` slots (rounded up to a power of two). Each slot
//! remembers the absolute position of the message it holds. A receiver is just a position:
//! it reads the slot for its position, clones the value if the slot still holds *that*
//! message, and moves on. If the slot already holds a newer message, the receiver has been
//! lapped: it gets `RecvError::Lagged(n)` once, with `n` the messages it missed, and continues
//! from the oldest message still in the ring. Lag is per receiver; a slow receiver never
//! slows the sender or the other receivers.
//!
//! Values stay in their slots until overwritten (at most `capacity` of them), so `T: Clone`
//! is required and each receiver gets its own clone.

use crate::loom::sync::lock;
use crate::loom::sync::Mutex;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll, Waker};

/// Errors of the broadcast channel.
pub mod error {
    use std::fmt;

    pub use crate::sync::send_error::SendError;

    /// Why `recv` returned no message.
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    pub enum RecvError {
        /// Every sender is gone and this receiver has seen every message.
        Closed,
        /// This receiver fell behind and `n` messages were overwritten before it read them.
        /// The next `recv` returns the oldest message still held.
        Lagged(u64),
    }

    /// Why `try_recv` returned no message.
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    pub enum TryRecvError {
        /// Nothing new yet.
        Empty,
        /// Every sender is gone and every message was seen.
        Closed,
        /// `n` messages were missed; see [`RecvError::Lagged`].
        Lagged(u64),
    }

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                RecvError::Closed => f.write_str("channel closed"),
                RecvError::Lagged(n) => write!(f, "channel lagged by {n}"),
            }
        }
    }

    impl std::error::Error for RecvError {}

    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TryRecvError::Empty => f.write_str("channel empty"),
                TryRecvError::Closed => f.write_str("channel closed"),
                TryRecvError::Lagged(n) => write!(f, "channel lagged by {n}"),
            }
        }
    }

    impl std::error::Error for TryRecvError {}
}

use error::{RecvError, SendError, TryRecvError};

/// A channel where every receiver sees every message; `capacity` messages are retained for
/// slow receivers (rounded up to a power of two).
///
/// # Panics
/// If `capacity` is 0, or above `usize::MAX / 2`.
#[track_caller]
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "broadcast channel capacity must be greater than 0");
    assert!(capacity <= usize::MAX >> 1, "broadcast channel capacity exceeded `usize::MAX / 2`");
    let capacity = capacity.next_power_of_two();
    let shared = Arc::new(Shared {
        buffer: (0..capacity).map(|_| RwLock::new(Slot { pos: u64::MAX, value: None })).collect(),
        mask: capacity as u64 - 1,
        tail: Mutex::new(Tail {
            pos: 0,
            rx_count: 1,
            tx_count: 1,
            closed: false,
            waiters: Vec::new(),
            wait_gen: 0,
        }),
    });
    (Sender { shared: shared.clone() }, Receiver { shared, next: 0, waiter: None })
}

struct Shared<T> {
    buffer: Box<[RwLock<Slot<T>>]>,
    mask: u64,
    tail: Mutex<Tail>,
}

struct Slot<T> {
    /// Absolute position of the message held; `u64::MAX` when never written.
    pos: u64,
    value: Option<T>,
}

struct Tail {
    /// Position the next message will take.
    pos: u64,
    rx_count: usize,
    tx_count: usize,
    closed: bool,
    /// Receivers waiting for the next message; emptied by every send.
    waiters: Vec<Option<Waker>>,
    /// Bumped whenever `waiters` is emptied, so a receiver knows its index went stale.
    wait_gen: u64,
}

/// Sends to every receiver. Cloneable.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// Receives every message sent after it was created.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    next: u64,
    /// Where this receiver's waker sits in `Tail::waiters`, and in which generation.
    waiter: Option<(u64, usize)>,
}

impl<T> Shared<T> {
    fn capacity(&self) -> u64 {
        self.mask + 1
    }

    fn wake_all(tail: &mut Tail) -> Vec<Waker> {
        tail.wait_gen = tail.wait_gen.wrapping_add(1);
        tail.waiters.drain(..).flatten().collect()
    }
}

impl<T: Clone> Sender<T> {
    /// Sends `value` to every current receiver; returns how many there are.
    ///
    /// # Errors
    /// `SendError(value)` if there is no receiver.
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let (wake, receivers) = {
            let mut tail = lock(&self.shared.tail);
            if tail.rx_count == 0 {
                return Err(SendError(value));
            }
            let old = {
                let mut slot = self.shared.buffer[(tail.pos & self.shared.mask) as usize]
                    .write()
                    .unwrap_or_else(|e| e.into_inner());
                slot.pos = tail.pos;
                slot.value.replace(value)
            };
            tail.pos += 1;
            let wake = Shared::<T>::wake_all(&mut tail);
            (wake, (tail.rx_count, old))
        };
        let (count, old) = receivers;
        drop(old); // the overwritten message, outside the locks
        wake.into_iter().for_each(Waker::wake);
        Ok(count)
    }

    /// A new receiver that will see messages sent from now on.
    pub fn subscribe(&self) -> Receiver<T> {
        let mut tail = lock(&self.shared.tail);
        tail.rx_count += 1;
        Receiver { shared: self.shared.clone(), next: tail.pos, waiter: None }
    }

    /// Receivers currently subscribed.
    pub fn receiver_count(&self) -> usize {
        lock(&self.shared.tail).rx_count
    }

    /// True if both senders feed the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        lock(&self.shared.tail).tx_count += 1;
        Sender { shared: self.shared.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let wake = {
            let mut tail = lock(&self.shared.tail);
            tail.tx_count -= 1;
            if tail.tx_count > 0 {
                return;
            }
            tail.closed = true;
            Shared::<T>::wake_all(&mut tail)
        };
        wake.into_iter().for_each(Waker::wake);
    }
}

impl<T: Clone> Receiver<T> {
    /// Receives the next message.
    ///
    /// Cancel-safe: if the future is dropped, no message is lost.
    ///
    /// # Errors
    /// [`RecvError::Lagged`] once after falling behind, [`RecvError::Closed`] when every sender
    /// is gone and every message was seen.
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Takes the next message if there is one.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`], [`TryRecvError::Lagged`] or [`TryRecvError::Closed`].
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        match self.recv_ref(None) {
            Poll::Ready(Ok(v)) => Ok(v),
            Poll::Ready(Err(RecvError::Closed)) => Err(TryRecvError::Closed),
            Poll::Ready(Err(RecvError::Lagged(n))) => Err(TryRecvError::Lagged(n)),
            Poll::Pending => Err(TryRecvError::Empty),
        }
    }

    /// Polls for the next message.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        std::task::ready!(crate::task::coop::poll_proceed(cx));
        self.recv_ref(Some(cx.waker()))
    }

    fn recv_ref(&mut self, waker: Option<&Waker>) -> Poll<Result<T, RecvError>> {
        let shared = &*self.shared;
        let index = (self.next & shared.mask) as usize;
        {
            let slot = shared.buffer[index].read().unwrap_or_else(|e| e.into_inner());
            if slot.pos == self.next {
                let value = slot.value.clone().expect("a written slot holds a value");
                self.next += 1;
                return Poll::Ready(Ok(value));
            }
        }
        let mut tail = lock(&shared.tail);
        if self.next < tail.pos {
            let oldest = tail.pos.saturating_sub(shared.capacity());
            if self.next < oldest {
                let missed = oldest - self.next;
                self.next = oldest;
                return Poll::Ready(Err(RecvError::Lagged(missed)));
            }
            // Written between our look at the slot and taking the lock: read it now.
            drop(tail);
            return self.recv_ref(waker);
        }
        if tail.closed {
            return Poll::Ready(Err(RecvError::Closed));
        }
        if let Some(waker) = waker {
            match self.waiter {
                Some((generation, i)) if generation == tail.wait_gen => tail.waiters[i] = Some(waker.clone()),
                _ => {
                    tail.waiters.push(Some(waker.clone()));
                    self.waiter = Some((tail.wait_gen, tail.waiters.len() - 1));
                }
            }
        }
        Poll::Pending
    }

    /// A new receiver positioned at the newest end, like [`Sender::subscribe`].
    pub fn resubscribe(&self) -> Receiver<T> {
        let mut tail = lock(&self.shared.tail);
        tail.rx_count += 1;
        Receiver { shared: self.shared.clone(), next: tail.pos, waiter: None }
    }

    /// Messages this receiver has not read yet that are still retained.
    pub fn len(&self) -> usize {
        let tail = lock(&self.shared.tail);
        (tail.pos - self.next).min(self.shared.capacity()) as usize
    }

    /// True if there is nothing new for this receiver.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut tail = lock(&self.shared.tail);
        tail.rx_count -= 1;
        if let Some((generation, i)) = self.waiter {
            if generation == tail.wait_gen {
                tail.waiters[i] = None;
            }
        }
    }
}

impl<T: Clone> futures_core::Stream for Receiver<T> {
    /// Messages, or `Err(Lagged(n))` when some were missed; the stream ends when the
    /// channel is closed.
    type Item = Result<T, RecvError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut().poll_recv(cx) {
            Poll::Ready(Err(RecvError::Closed)) => Poll::Ready(None),
            Poll::Ready(other) => Poll::Ready(Some(other)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Receiver").field("next", &self.next).finish()
    }
}
