//! `oneshot`: send one value from one task to another.
//!
//! The shared state is a small mutex-protected struct: one send and one receive touch it a
//! couple of times each, never under contention worth a lock-free design, and every wake
//! happens after the lock is released.

use crate::loom::sync::lock;
use crate::loom::sync::Mutex;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Errors of the oneshot channel.
pub mod error {
    use std::fmt;

    /// The sender was dropped without sending.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct RecvError(pub(crate) ());

    /// `try_recv` found no value.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum TryRecvError {
        /// No value yet; the sender still exists.
        Empty,
        /// The sender was dropped without sending, or the value was already taken.
        Closed,
    }

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }

    impl std::error::Error for RecvError {}

    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TryRecvError::Empty => f.write_str("channel empty"),
                TryRecvError::Closed => f.write_str("channel closed"),
            }
        }
    }

    impl std::error::Error for TryRecvError {}
}

use error::{RecvError, TryRecvError};

struct State<T> {
    value: Option<T>,
    /// The sender sent or was dropped: no value will come after this.
    tx_done: bool,
    /// The receiver closed or was dropped: a send would be lost.
    rx_closed: bool,
    rx_waker: Option<Waker>,
    tx_waker: Option<Waker>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
}

/// Sends the one value. See [`channel`].
pub struct Sender<T> {
    shared: Option<Arc<Shared<T>>>,
}

/// Receives the one value: it is a `Future` giving `Ok(value)`, or `Err(RecvError)` if the
/// sender was dropped without sending. Awaiting it is cancel-safe (no value is lost if the
/// await is cancelled: poll the same receiver again).
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// A channel for a single value.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            value: None,
            tx_done: false,
            rx_closed: false,
            rx_waker: None,
            tx_waker: None,
        }),
    });
    (Sender { shared: Some(shared.clone()) }, Receiver { shared })
}

impl<T> Sender<T> {
    /// Sends `value`, consuming the sender.
    ///
    /// # Errors
    /// `Err(value)` if the receiver is gone (dropped or closed).
    pub fn send(mut self, value: T) -> Result<(), T> {
        let shared = self.shared.take().expect("a sender sends once");
        let waker = {
            let mut state = lock(&shared.state);
            if state.rx_closed {
                return Err(value);
            }
            state.value = Some(value);
            state.tx_done = true;
            state.rx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// True if the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.shared.as_ref().is_none_or(|s| lock(&s.state).rx_closed)
    }

    /// Completes when the receiver is dropped or closed. Cancel-safe.
    pub async fn closed(&mut self) {
        poll_fn(|cx| self.poll_closed(cx)).await
    }

    /// Polls for the receiver going away.
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(shared) = &self.shared else { return Poll::Ready(()) };
        let mut state = lock(&shared.state);
        if state.rx_closed {
            return Poll::Ready(());
        }
        match &state.tx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => state.tx_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let Some(shared) = self.shared.take() else { return };
        let waker = {
            let mut state = lock(&shared.state);
            state.tx_done = true;
            state.rx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// Takes the value if it has been sent.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] if not sent yet, [`TryRecvError::Closed`] if it never will be.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut state = lock(&self.shared.state);
        match state.value.take() {
            Some(v) => Ok(v),
            None if state.tx_done => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Refuses the value: a later `send` fails and gives it back. A value sent before the
    /// close can still be received.
    pub fn close(&mut self) {
        let waker = {
            let mut state = lock(&self.shared.state);
            state.rx_closed = true;
            state.tx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Blocks the thread until the value arrives.
    ///
    /// # Errors
    /// [`RecvError`] if the sender was dropped without sending.
    ///
    /// # Panics
    /// Inside a Kiln runtime (a task or `block_on`): blocking there would stall the very
    /// thread that has to run the sender. Use `.await`, or call this from `spawn_blocking`.
    #[cfg(not(loom))]
    #[track_caller]
    pub fn blocking_recv(self) -> Result<T, RecvError> {
        super::assert_not_in_runtime("oneshot::Receiver::blocking_recv");
        crate::runtime::thread_block_on(self)
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        std::task::ready!(crate::task::coop::poll_proceed(cx));
        let mut state = lock(&self.shared.state);
        if let Some(v) = state.value.take() {
            return Poll::Ready(Ok(v));
        }
        if state.tx_done {
            return Poll::Ready(Err(RecvError(())));
        }
        match &state.rx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => state.rx_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (waker, value) = {
            let mut state = lock(&self.shared.state);
            state.rx_closed = true;
            (state.tx_waker.take(), state.value.take())
        };
        drop(value); // outside the lock: a value's Drop may do anything
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("closed", &self.is_closed()).finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}
