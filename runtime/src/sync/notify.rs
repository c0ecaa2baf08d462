//! `Notify`: wake one task, or every waiting task, without sending data.
//!
//! # Semantics (Tokio's)
//! - `notify_one` wakes the longest-waiting task; if none waits, it stores **one** permit, which
//!   the next `notified().await` consumes at once. Several `notify_one`s with nobody waiting
//!   still store one permit.
//! - `notify_waiters` wakes every task waiting *now* (and every `Notified` future created
//!   before the call, even if not yet polled) and stores nothing.
//! - Waiters are woken in FIFO order.
//! - A `Notified` future that was handed a `notify_one` notification and is then dropped
//!   before it is polled again passes the notification on to the next waiter (or back to the
//!   permit), so no notification is lost to cancellation.

use super::semaphore::lock;
use super::wait_list::{Key, WaitList};
use crate::loom::sync::Mutex;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Notifies waiting tasks. See the module docs for the exact semantics.
pub struct Notify {
    state: Mutex<State>,
}

struct State {
    /// A stored `notify_one` that found nobody waiting.
    permit: bool,
    /// Bumped by every `notify_waiters`; a `Notified` created before the bump completes.
    generation: u64,
    waiters: WaitList<Waiter>,
}

struct Waiter {
    waker: Option<Waker>,
    notified: Option<Kind>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    One,
    All,
}

/// The future returned by [`Notify::notified`].
#[must_use = "futures do nothing unless polled"]
pub struct Notified<'a> {
    notify: &'a Notify,
    stage: Stage,
}

enum Stage {
    /// Not polled yet; remembers the generation at creation.
    Init(u64),
    Waiting(Key),
    Done,
}

impl Notify {
    /// A `Notify` with no stored permit.
    pub fn new() -> Notify {
        Notify { state: Mutex::new(State { permit: false, generation: 0, waiters: WaitList::new() }) }
    }

    /// Waits for a notification.
    ///
    /// The returned future already counts for `notify_waiters` calls made after it was
    /// created, even before it is first polled; for `notify_one` it takes its place in the
    /// queue when first polled. Dropping it after it was handed a `notify_one` passes that
    /// notification on.
    pub fn notified(&self) -> Notified<'_> {
        let generation = lock(&self.state).generation;
        Notified { notify: self, stage: Stage::Init(generation) }
    }

    /// Wakes the longest-waiting task, or stores a permit if none waits.
    pub fn notify_one(&self) {
        let waker = {
            let mut state = lock(&self.state);
            notify_one_locked(&mut state)
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Wakes every task waiting now. Stores nothing.
    pub fn notify_waiters(&self) {
        let mut wake = Vec::new();
        {
            let mut state = lock(&self.state);
            state.generation = state.generation.wrapping_add(1);
            state.waiters.unlink_all(|w| {
                w.notified = Some(Kind::All);
                wake.extend(w.waker.take());
            });
        }
        wake.into_iter().for_each(Waker::wake);
    }
}

fn notify_one_locked(state: &mut State) -> Option<Waker> {
    match state.waiters.front_mut() {
        Some(w) => {
            w.notified = Some(Kind::One);
            let waker = w.waker.take();
            state.waiters.unlink_front();
            waker
        }
        None => {
            state.permit = true;
            None
        }
    }
}

impl Default for Notify {
    fn default() -> Notify {
        Notify::new()
    }
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut state = lock(&this.notify.state);
        match this.stage {
            Stage::Init(generation) => {
                if state.generation != generation || std::mem::take(&mut state.permit) {
                    this.stage = Stage::Done;
                    return Poll::Ready(());
                }
                let key = state.waiters.push_back(Waiter { waker: Some(cx.waker().clone()), notified: None });
                this.stage = Stage::Waiting(key);
                Poll::Pending
            }
            Stage::Waiting(key) => {
                let waiter = state.waiters.get_mut(key).expect("a waiting Notified keeps its entry");
                if waiter.notified.is_some() {
                    state.waiters.remove(key);
                    this.stage = Stage::Done;
                    return Poll::Ready(());
                }
                match &waiter.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => waiter.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            Stage::Done => Poll::Ready(()),
        }
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let Stage::Waiting(key) = self.stage else { return };
        let waker = {
            let mut state = lock(&self.notify.state);
            match state.waiters.remove(key) {
                // Handed a notify_one we will never use: pass it on.
                Some(Waiter { notified: Some(Kind::One), .. }) => notify_one_locked(&mut state),
                _ => None,
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify").finish_non_exhaustive()
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified").finish_non_exhaustive()
    }
}
