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
//!
//! # How it works
//! One atomic word holds a mode and, above it, a count of `notify_waiters` calls (the
//! generation). The mode is `EMPTY`, `NOTIFIED` (a stored permit) or `WAITING` (the wait list
//! is not empty). Storing or taking the permit is a compare-and-swap without the lock; the lock
//! is taken only to queue, wake or remove waiters. The mode becomes `WAITING`, and leaves it,
//! only under the lock. As in the semaphore, a queued waiter shares an outcome flag with its
//! entry, so a woken `Notified` completes without taking the lock. The wait list has cache
//! lines of its own (`GAP`): the state word is what everyone hammers, the list what queueing
//! waiters write.

use super::deferred_wakes::DeferredWakes;
use super::waiter_queue::{Key, WaiterQueue};
use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};
use crate::loom::sync::{lock, Arc, Mutex};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

const EMPTY: usize = 0;
const NOTIFIED: usize = 1;
const WAITING: usize = 2;
const MODE: usize = 3;
const GEN_ONE: usize = 4;

fn mode(state: usize) -> usize {
    state & MODE
}

fn generation(state: usize) -> usize {
    state & !MODE
}

/// Notifies waiting tasks. See the module docs for the exact semantics.
#[repr(C)] // keeps the fields in this order, so the gaps sit where they are written
pub struct Notify {
    state: AtomicUsize,
    /// Keeps `waiters` off `state`'s cache lines (see `GAP`).
    _gap: [u8; GAP],
    waiters: Mutex<WaiterQueue<Waiter>>,
    /// Keeps whatever comes after a `Notify` in memory off `waiters`' cache lines.
    _tail: [u8; GAP],
}

/// Bytes on each side of the wait list. Queueing waiters write its lock and list while the
/// notifier and every task taking a stored permit hammer `state`; on one cache line, each
/// side's writes would evict the other's ("false sharing"), and likewise with the next object
/// the allocator puts after the `Notify` (in the notify benchmark: the tasks' shared counter).
/// 120 bytes keep them two lines apart (x86 prefetches lines in pairs) without raising the
/// type's alignment, which would make every `Arc` holding a `Notify` (each mpsc channel) an
/// aligned allocation. The cost is 240 bytes per `Notify`.
const GAP: usize = 120;

struct Waiter {
    waker: Option<Waker>,
    /// Shared with the waiting registration: set (under the lock) when a notification takes
    /// the waiter off the list, so the woken future needs no lock to learn it.
    outcome: Arc<AtomicUsize>,
}

impl Waiter {
    /// Wakes a waiter taken off the list, once the lock is released. Its half of the outcome
    /// flag is dropped here too, outside the critical section.
    fn wake(woken: Option<Waiter>) {
        if let Some(waker) = woken.and_then(|w| w.waker) {
            waker.wake();
        }
    }
}

/// `Waiter::outcome` values.
const NOT_YET: usize = 0;
const BY_ONE: usize = 1;
const BY_ALL: usize = 2;

/// The future returned by [`Notify::notified`].
#[must_use = "futures do nothing unless polled"]
pub struct Notified<'a> {
    notify: &'a Notify,
    stage: Stage,
}

/// A registration with a `Notify`, owned by whoever waits: the `Notified` future, or a
/// poll-based waiter such as a `watch::Receiver` used as a `Stream`.
pub(crate) enum Stage {
    /// Not polled yet; remembers the generation at creation.
    Init(usize),
    Waiting(Key, Arc<AtomicUsize>),
    Done,
}

impl Notify {
    /// A `Notify` with no stored permit.
    pub fn new() -> Notify {
        Notify {
            state: AtomicUsize::new(EMPTY),
            _gap: [0; GAP],
            waiters: Mutex::new(WaiterQueue::new()),
            _tail: [0; GAP],
        }
    }

    /// Waits for a notification.
    ///
    /// The returned future already counts for `notify_waiters` calls made after it was
    /// created, even before it is first polled; for `notify_one` it takes its place in the
    /// queue when first polled. Dropping it after it was handed a `notify_one` passes that
    /// notification on.
    pub fn notified(&self) -> Notified<'_> {
        Notified { notify: self, stage: self.fresh_stage() }
    }

    /// A new registration, counting `notify_waiters` calls from now on.
    pub(crate) fn fresh_stage(&self) -> Stage {
        Stage::Init(generation(self.state.load(Acquire)))
    }

    /// Wakes the longest-waiting task, or stores a permit if none waits.
    pub fn notify_one(&self) {
        let mut cur = self.state.load(Acquire);
        // Fast path: nobody waits, so store the permit (or find it already stored).
        while mode(cur) != WAITING {
            match self.state.compare_exchange(cur, generation(cur) | NOTIFIED, AcqRel, Acquire) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
        let woken = {
            let mut waiters = lock(&self.waiters);
            self.notify_one_locked(&mut waiters)
        };
        Waiter::wake(woken);
    }

    /// Hands a notification to the first waiter, or stores the permit. Under the lock; the
    /// caller wakes the returned waiter after releasing it.
    fn notify_one_locked(&self, waiters: &mut WaiterQueue<Waiter>) -> Option<Waiter> {
        let cur = self.state.load(Acquire);
        if mode(cur) != WAITING {
            // The last waiter left before we took the lock: store the permit.
            let _ = self.state.fetch_update(AcqRel, Acquire, |s| Some(generation(s) | NOTIFIED));
            return None;
        }
        let w = waiters.pop_front().expect("WAITING means the list is not empty");
        w.outcome.store(BY_ONE, Release);
        if waiters.is_empty() {
            self.state.store(generation(cur) | EMPTY, Release);
        }
        Some(w)
    }

    /// Wakes every task waiting now. Stores nothing.
    pub fn notify_waiters(&self) {
        // Fast path: nobody is queued, so a new generation is all there is to do (it releases
        // `Notified` futures created but not yet polled). A waiter queues only by moving the
        // mode to WAITING with a compare-and-swap on this same word, so it either sees the new
        // generation, or made the swap first and we take the slow path.
        let mut cur = self.state.load(Acquire);
        while mode(cur) != WAITING {
            match self.state.compare_exchange(cur, cur.wrapping_add(GEN_ONE), AcqRel, Acquire) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
        let mut waiters = lock(&self.waiters);
        // A new generation; WAITING becomes EMPTY (all are woken), a stored permit stays.
        let _ = self.state.fetch_update(AcqRel, Acquire, |s| {
            let m = if mode(s) == WAITING { EMPTY } else { mode(s) };
            Some(generation(s).wrapping_add(GEN_ONE) | m)
        });
        let mut wake = DeferredWakes::new();
        waiters.drain(|w| {
            w.outcome.store(BY_ALL, Release);
            wake.push(w.waker);
        });
        drop(waiters);
        wake.wake_all();
    }

    /// Removes a waiter, keeping the mode truthful if the list empties. Under the lock.
    fn remove_locked(&self, waiters: &mut WaiterQueue<Waiter>, key: Key) -> Option<Waiter> {
        let removed = waiters.remove(key);
        if waiters.is_empty() {
            let cur = self.state.load(Acquire);
            if mode(cur) == WAITING {
                self.state.store(generation(cur) | EMPTY, Release);
            }
        }
        removed
    }
}

impl Default for Notify {
    fn default() -> Notify {
        Notify::new()
    }
}

impl Notify {
    /// Polls a registration: `Ready` once it has been notified. See [`Notified`].
    pub(crate) fn poll_stage(&self, stage: &mut Stage, cx: &mut Context<'_>) -> Poll<()> {
        match *stage {
            Stage::Init(created_in) => {
                // Fast path: a stored permit to take, or a notify_waiters since creation. The
                // first attempt guesses the state (a permit, nothing since creation) rather
                // than reading it first: on a word other threads keep writing, a read then a
                // compare-and-swap fetch the cache line twice, a lone compare-and-swap once.
                let mut cur = match self.state.compare_exchange(
                    created_in | NOTIFIED,
                    created_in | EMPTY,
                    AcqRel,
                    Acquire,
                ) {
                    Ok(_) => {
                        *stage = Stage::Done;
                        return Poll::Ready(());
                    }
                    Err(actual) => actual,
                };
                loop {
                    if generation(cur) != created_in {
                        *stage = Stage::Done;
                        return Poll::Ready(());
                    }
                    if mode(cur) != NOTIFIED {
                        break;
                    }
                    match self.state.compare_exchange(cur, generation(cur) | EMPTY, AcqRel, Acquire) {
                        Ok(_) => {
                            *stage = Stage::Done;
                            return Poll::Ready(());
                        }
                        Err(actual) => cur = actual,
                    }
                }
                // Allocate and clone before taking the lock: the critical section is what
                // the notifier and every other waiter queue behind.
                let outcome = Arc::new(AtomicUsize::new(NOT_YET));
                let waiter = Waiter { waker: Some(cx.waker().clone()), outcome: outcome.clone() };
                let mut waiters = lock(&self.waiters);
                let mut cur = self.state.load(Acquire);
                loop {
                    if generation(cur) != created_in {
                        *stage = Stage::Done;
                        return Poll::Ready(());
                    }
                    let next = match mode(cur) {
                        NOTIFIED => generation(cur) | EMPTY,
                        EMPTY => generation(cur) | WAITING,
                        _ => break, // already WAITING: just queue
                    };
                    match self.state.compare_exchange(cur, next, AcqRel, Acquire) {
                        Ok(_) if mode(cur) == NOTIFIED => {
                            *stage = Stage::Done;
                            return Poll::Ready(());
                        }
                        Ok(_) => break,
                        Err(actual) => cur = actual,
                    }
                }
                let key = waiters.push_back(waiter);
                *stage = Stage::Waiting(key, outcome);
                Poll::Pending
            }
            Stage::Waiting(key, ref outcome) => {
                if outcome.load(Acquire) != NOT_YET {
                    *stage = Stage::Done;
                    return Poll::Ready(());
                }
                let mut waiters = lock(&self.waiters);
                // The outcome is only set under this lock: check once more now we hold it.
                if outcome.load(Acquire) != NOT_YET {
                    drop(waiters);
                    *stage = Stage::Done;
                    return Poll::Ready(());
                }
                let waiter = waiters.get_mut(key).expect("a waiting registration keeps its entry");
                match &waiter.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => waiter.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            Stage::Done => Poll::Ready(()),
        }
    }

    /// Ends a registration that will not be polled again; a `notify_one` it had been handed
    /// passes to the next waiter.
    pub(crate) fn release_stage(&self, stage: &mut Stage) {
        let Stage::Waiting(key, outcome) = std::mem::replace(stage, Stage::Done) else { return };
        if outcome.load(Acquire) == BY_ALL {
            return;
        }
        let woken = {
            let mut waiters = lock(&self.waiters);
            match outcome.load(Acquire) {
                // Handed a notify_one we will never use: pass it on.
                BY_ONE => self.notify_one_locked(&mut waiters),
                BY_ALL => None,
                _ => {
                    self.remove_locked(&mut waiters, key);
                    None
                }
            }
        };
        Waiter::wake(woken);
    }
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.notify.poll_stage(&mut this.stage, cx)
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        self.notify.release_stage(&mut self.stage);
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_wait_list_shares_no_cache_line_pair_with_its_neighbours() {
        // The gaps are a measured speed-up (BENCHMARKS.md, the sync group); this keeps an edit
        // (or a lost `repr(C)`) from silently undoing them.
        let n = Notify::new();
        let start = std::ptr::addr_of!(n) as usize;
        let state = std::ptr::addr_of!(n.state) as usize;
        let waiters = std::ptr::addr_of!(n.waiters) as usize;
        let waiters_end = waiters + std::mem::size_of_val(&n.waiters);
        assert!(waiters >= state + 128, "the wait list must start two cache lines after the state word");
        assert!(
            start + std::mem::size_of::<Notify>() >= waiters_end + 120,
            "the next object in memory must start two cache lines after the wait list ends"
        );
    }
}
