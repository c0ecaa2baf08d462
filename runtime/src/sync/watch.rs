//! `watch`: a single value that many receivers observe; they learn *that* it changed and
//! read the latest version, not every intermediate one.
//!
//! The value sits behind an `RwLock`; a version counter (bumped by every send, its low bit
//! marking "sender dropped") tells each receiver whether there is something it has not seen.
//! Receivers wait on a [`super::Notify`] with `notify_waiters` semantics; each waiting
//! `changed()` creates its `Notified` *before* checking the version, so a send between the
//! check and the wait is never missed.

use super::notify::{Notify, Stage};
use crate::loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, RwLock, RwLockReadGuard};

/// Errors of the watch channel.
pub mod error {
    use std::fmt;

    pub use crate::sync::send_error::SendError;

    /// The sender is gone and the receiver has seen its last value.
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    pub struct RecvError(pub(crate) ());

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }

    impl std::error::Error for RecvError {}
}

use error::{RecvError, SendError};

const CLOSED: u64 = 1;
const STEP: u64 = 2;

struct Shared<T> {
    value: RwLock<T>,
    /// `version * 2 | CLOSED`.
    version: AtomicU64,
    rx_count: AtomicUsize,
    changed: Notify,
    /// Wakes `Sender::closed()` when the last receiver drops.
    rx_gone: Notify,
}

/// Publishes new values.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// Observes the latest value. Cloneable; a clone starts having seen what its original saw.
///
/// It is also a `Stream` (for `T: Clone`): each item is the latest value after a change this
/// receiver has not seen; the stream ends when the sender is gone and nothing new remains.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    seen: u64,
    /// The `Stream` implementation's registration with `changed`, while it waits.
    stream_wait: Option<Stage>,
}

/// A read guard on the current value. Hold it briefly: senders wait while it exists.
pub struct Ref<'a, T> {
    guard: RwLockReadGuard<'a, T>,
    has_changed: bool,
}

/// A watch channel starting at `init`.
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: RwLock::new(init),
        version: AtomicU64::new(0),
        rx_count: AtomicUsize::new(1),
        changed: Notify::new(),
        rx_gone: Notify::new(),
    });
    (Sender { shared: shared.clone() }, Receiver { shared, seen: 0, stream_wait: None })
}

impl<T> Shared<T> {
    fn read(&self) -> RwLockReadGuard<'_, T> {
        self.value.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T> Sender<T> {
    /// Publishes `value`.
    ///
    /// # Errors
    /// `SendError(value)` if no receiver exists.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.shared.rx_count.load(Acquire) == 0 {
            return Err(SendError(value));
        }
        self.send_replace(value);
        Ok(())
    }

    /// Publishes `value` whether or not anyone listens, returning the previous value.
    pub fn send_replace(&self, value: T) -> T {
        let old = {
            let mut guard = self.shared.value.write().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *guard, value)
        };
        self.bump();
        old
    }

    /// Changes the value in place and notifies receivers.
    pub fn send_modify(&self, modify: impl FnOnce(&mut T)) {
        self.send_if_modified(|v| {
            modify(v);
            true
        });
    }

    /// Changes the value in place; notifies receivers only if `modify` returns true.
    pub fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        let modified = {
            let mut guard = self.shared.value.write().unwrap_or_else(|e| e.into_inner());
            modify(&mut guard)
        };
        if modified {
            self.bump();
        }
        modified
    }

    fn bump(&self) {
        self.shared.version.fetch_add(STEP, Release);
        self.shared.changed.notify_waiters();
    }

    /// The current value.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref { guard: self.shared.read(), has_changed: false }
    }

    /// A new receiver that has seen the current value.
    pub fn subscribe(&self) -> Receiver<T> {
        self.shared.rx_count.fetch_add(1, AcqRel);
        Receiver {
            shared: self.shared.clone(),
            seen: self.shared.version.load(Acquire) & !CLOSED,
            stream_wait: None,
        }
    }

    /// Receivers currently alive.
    pub fn receiver_count(&self) -> usize {
        self.shared.rx_count.load(Acquire)
    }

    /// True if no receiver exists.
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }

    /// Completes when every receiver is gone. Cancel-safe.
    pub async fn closed(&self) {
        loop {
            let notified = self.shared.rx_gone.notified();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.version.fetch_or(CLOSED, Release);
        self.shared.changed.notify_waiters();
    }
}

impl<T> Receiver<T> {
    /// The current value, without marking it seen.
    pub fn borrow(&self) -> Ref<'_, T> {
        let version = self.shared.version.load(Acquire) & !CLOSED;
        Ref { guard: self.shared.read(), has_changed: version != self.seen }
    }

    /// The current value, marking it seen.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        // Read the version before the value: if a send lands in between, we mark an older
        // version seen and will be told about the newer one, never the other way round.
        let version = self.shared.version.load(Acquire) & !CLOSED;
        let has_changed = version != self.seen;
        self.seen = version;
        Ref { guard: self.shared.read(), has_changed }
    }

    /// True if a value was sent that this receiver has not seen.
    ///
    /// # Errors
    /// [`RecvError`] if the sender is gone and nothing new remains.
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        let v = self.shared.version.load(Acquire);
        if v & !CLOSED != self.seen {
            Ok(true)
        } else if v & CLOSED != 0 {
            Err(RecvError(()))
        } else {
            Ok(false)
        }
    }

    /// Waits for a value this receiver has not seen, and marks it seen. A value sent just
    /// before the sender dropped is still reported.
    ///
    /// Cancel-safe.
    ///
    /// # Errors
    /// [`RecvError`] once the sender is gone and nothing new remains.
    pub async fn changed(&mut self) -> Result<(), RecvError> {
        // A sender that publishes constantly would make this always ready: spend budget so a
        // `while rx.changed().await.is_ok()` loop still lets other tasks run.
        crate::task::coop::consume_budget().await;
        loop {
            let notified = self.shared.changed.notified();
            let v = self.shared.version.load(Acquire);
            if v & !CLOSED != self.seen {
                self.seen = v & !CLOSED;
                return Ok(());
            }
            if v & CLOSED != 0 {
                return Err(RecvError(()));
            }
            notified.await;
        }
    }

    /// Waits until the value satisfies `predicate` (checking the current value first), and
    /// returns it, marked seen.
    ///
    /// # Errors
    /// [`RecvError`] if the sender goes away before that.
    pub async fn wait_for(&mut self, mut predicate: impl FnMut(&T) -> bool) -> Result<Ref<'_, T>, RecvError> {
        loop {
            {
                let version = self.shared.version.load(Acquire) & !CLOSED;
                let guard = self.shared.read();
                if predicate(&guard) {
                    self.seen = version;
                    drop(guard);
                    // Re-borrow with the right lifetime.
                    return Ok(Ref { guard: self.shared.read(), has_changed: true });
                }
                self.seen = version;
            }
            self.changed().await?;
        }
    }

    /// Marks the current value unseen, so the next `changed()` returns at once.
    pub fn mark_changed(&mut self) {
        self.seen = self.seen.wrapping_sub(STEP);
    }

    /// Marks the current value seen.
    pub fn mark_unchanged(&mut self) {
        self.seen = self.shared.version.load(Acquire) & !CLOSED;
    }

    /// True if both receivers watch the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.rx_count.fetch_add(1, AcqRel);
        Receiver { shared: self.shared.clone(), seen: self.seen, stream_wait: None }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let Some(mut stage) = self.stream_wait.take() {
            self.shared.changed.release_stage(&mut stage);
        }
        if self.shared.rx_count.fetch_sub(1, AcqRel) == 1 {
            self.shared.rx_gone.notify_waiters();
        }
    }
}

impl<T: Clone> futures_core::Stream for Receiver<T> {
    type Item = T;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        use std::task::Poll;
        let this = self.get_mut();
        std::task::ready!(crate::task::coop::poll_proceed(cx));
        loop {
            // Register before checking, as `changed` does, so a send in between is not missed.
            let stage = this.stream_wait.get_or_insert_with(|| this.shared.changed.fresh_stage());
            let v = this.shared.version.load(Acquire);
            if v & !CLOSED != this.seen || v & CLOSED != 0 {
                let mut stage = this.stream_wait.take().expect("just inserted");
                this.shared.changed.release_stage(&mut stage);
                if v & !CLOSED == this.seen {
                    return Poll::Ready(None);
                }
                this.seen = v & !CLOSED;
                return Poll::Ready(Some(this.shared.read().clone()));
            }
            match this.shared.changed.poll_stage(stage, cx) {
                Poll::Ready(()) => this.stream_wait = None, // notified: look again
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<T> Ref<'_, T> {
    /// True if this value was new to the receiver that borrowed it.
    pub fn has_changed(&self) -> bool {
        self.has_changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Debug> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Sender").field("value", &*self.borrow()).finish()
    }
}

impl<T: fmt::Debug> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Receiver").field("value", &*self.borrow()).finish()
    }
}
