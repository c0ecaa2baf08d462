//! `Semaphore`: a fair, FIFO counting semaphore — the base of `Mutex`, `RwLock` and the
//! bounded `mpsc` channel.
//!
//! # How it works
//!
//! Free permits live in one atomic word, so an uncontended `acquire` or `try_acquire` is a
//! single compare-and-swap. When there are not enough, the acquirer joins a FIFO
//! [`WaiterQueue`](super::waiter_queue) behind a mutex. Releasing permits hands them to the waiters
//! in queue order *first* (a waiter that needs 5 may collect them 2 and 3 at a time), and only
//! what is left over goes back to the atomic. So free permits in the atomic mean nobody is
//! waiting for them, and a newcomer can never overtake a queued waiter: the semaphore is fair.
//!
//! The atomic is only ever *increased* under the waiters' lock, which is what makes "queue
//! empty, so take from the atomic" safe to decide under that lock.
//!
//! A queued waiter shares a small outcome flag with its entry. The releaser that completes a
//! waiter pops the entry and sets the flag (under the lock), then wakes it; the woken future
//! reads the flag without taking the lock again. Under contention that saves one lock
//! acquisition per wake-up, for the price of one small allocation when a waiter has to queue.
//!
//! # Cancellation
//!
//! Dropping an [`Acquire`] future removes it from the queue and gives back any permits it had
//! already been handed, to the next waiters. A cancelled `acquire` therefore never leaks
//! permits and never holds up the queue.

use super::deferred_wakes::DeferredWakes;
use super::waiter_queue::{Key, WaiterQueue};
use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};
use crate::loom::sync::{lock, Mutex};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// A waiter's outcome, shared by its queue entry and its future (through the loom shim, so
/// the models check it; the semaphore itself is in a plain `Arc` that users hold).
type Outcome = crate::loom::sync::Arc<AtomicUsize>;

/// The most permits a semaphore can hold (Tokio's limit: leaves room for flag bits).
pub const MAX_PERMITS: usize = usize::MAX >> 3;

const CLOSED: usize = 1;
const SHIFT: usize = 1;

/// A counting semaphore with fair (first-come, first-served) acquisition.
pub struct Semaphore {
    /// `free_permits << 1 | CLOSED`.
    permits: AtomicUsize,
    waiters: Mutex<WaiterQueue<Waiter>>,
}

struct Waiter {
    needed: usize,
    assigned: usize,
    waker: Option<Waker>,
    /// Shared with the waiting `Acquire`: set (under the lock) when the waiter leaves the
    /// queue, so the woken future learns its outcome without taking the lock again.
    outcome: Outcome,
}

/// `Waiter::outcome` values.
const QUEUED: usize = 0;
const ACQUIRED: usize = 1;
const CLOSED_OUT: usize = 2;

/// `acquire` failed because the semaphore was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquireError(());

/// `try_acquire` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// Not enough permits are free right now.
    NoPermits,
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}

impl std::error::Error for AcquireError {}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => f.write_str("semaphore closed"),
            TryAcquireError::NoPermits => f.write_str("no permits available"),
        }
    }
}

impl std::error::Error for TryAcquireError {}

impl Semaphore {
    /// The most permits a semaphore can hold.
    pub const MAX_PERMITS: usize = MAX_PERMITS;

    /// A semaphore with `permits` free permits.
    ///
    /// # Panics
    /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
    #[track_caller]
    pub fn new(permits: usize) -> Semaphore {
        assert!(permits <= MAX_PERMITS, "a semaphore holds at most {MAX_PERMITS} permits, not {permits}");
        Semaphore { permits: AtomicUsize::new(permits << SHIFT), waiters: Mutex::new(WaiterQueue::new()) }
    }

    /// Free permits right now.
    pub fn available_permits(&self) -> usize {
        self.permits.load(Acquire) >> SHIFT
    }

    /// True once [`Semaphore::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.permits.load(Acquire) & CLOSED != 0
    }

    /// Adds `n` permits, handing them to queued waiters first.
    ///
    /// # Panics
    /// If the total would exceed [`Semaphore::MAX_PERMITS`].
    #[track_caller]
    pub fn add_permits(&self, n: usize) {
        if n > 0 {
            self.release(n);
        }
    }

    /// Removes up to `n` free permits for good; returns how many were removed.
    pub fn forget_permits(&self, n: usize) -> usize {
        let mut cur = self.permits.load(Acquire);
        loop {
            let take = n.min(cur >> SHIFT);
            match self.permits.compare_exchange_weak(cur, cur - (take << SHIFT), AcqRel, Acquire) {
                Ok(_) => return take,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Closes the semaphore: pending and future acquires fail. Permits already held stay
    /// valid.
    pub fn close(&self) {
        let mut wake = DeferredWakes::new();
        {
            let mut waiters = lock(&self.waiters);
            self.permits.fetch_or(CLOSED, Release);
            let mut returned = 0;
            waiters.drain(|w| {
                returned += w.assigned;
                w.outcome.store(CLOSED_OUT, Release);
                wake.push(w.waker);
            });
            // Permits handed to waiters that will now fail go back, so `available_permits`
            // stays truthful.
            if returned > 0 {
                self.permits.fetch_add(returned << SHIFT, Release);
            }
        }
        wake.wake_all();
    }

    /// Takes `n` permits if they are free right now, without waiting.
    pub(crate) fn try_acquire_n(&self, n: usize) -> Result<(), TryAcquireError> {
        let mut cur = self.permits.load(Acquire);
        loop {
            if cur & CLOSED != 0 {
                return Err(TryAcquireError::Closed);
            }
            if cur >> SHIFT < n {
                return Err(TryAcquireError::NoPermits);
            }
            match self.permits.compare_exchange_weak(cur, cur - (n << SHIFT), AcqRel, Acquire) {
                Ok(_) => return Ok(()),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Gives `n` permits back: to the queue first, the rest to the atomic.
    pub(crate) fn release(&self, n: usize) {
        let mut waiters = lock(&self.waiters);
        if waiters.is_empty() {
            // The uncontended case (every unlock of an idle mutex): no wake list to build.
            self.return_permits(n);
            return;
        }
        let mut wake = DeferredWakes::new();
        self.release_locked(n, &mut waiters, &mut wake);
        drop(waiters);
        wake.wake_all();
    }

    fn release_locked(&self, mut n: usize, waiters: &mut WaiterQueue<Waiter>, wake: &mut DeferredWakes) {
        while n > 0 {
            let Some(head) = waiters.front_mut() else { break };
            let give = n.min(head.needed - head.assigned);
            head.assigned += give;
            n -= give;
            if head.assigned == head.needed {
                let done = waiters.pop_front().expect("the head was just seen");
                done.outcome.store(ACQUIRED, Release);
                wake.push(done.waker);
            }
        }
        if n > 0 {
            self.return_permits(n);
        }
    }

    /// Adds `n` free permits to the atomic. Under the waiters lock, with nobody queued.
    fn return_permits(&self, n: usize) {
        let prev = self.permits.fetch_add(n << SHIFT, Release);
        assert!((prev >> SHIFT) + n <= MAX_PERMITS, "a semaphore holds at most {MAX_PERMITS} permits");
    }

    /// Waits for `n` permits.
    pub(crate) fn acquire_n(&self, n: usize) -> Acquire<'_> {
        Acquire { semaphore: self, needed: n, queued: None }
    }

    /// Waits for one permit. The permit is released when the returned guard drops.
    ///
    /// Cancel-safe in the sense that matters: dropping the future gives back its place in the
    /// queue and any permits it had been handed. (Its place is lost, so re-awaiting starts at
    /// the back.)
    ///
    /// # Errors
    /// If the semaphore is closed.
    pub async fn acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.acquire_n(1).await?;
        Ok(SemaphorePermit { semaphore: self, permits: 1 })
    }

    /// Waits for `n` permits at once (first-come, first-served: a large request is not
    /// overtaken by later small ones).
    ///
    /// # Errors
    /// If the semaphore is closed.
    pub async fn acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.acquire_n(n as usize).await?;
        Ok(SemaphorePermit { semaphore: self, permits: n })
    }

    /// Takes one permit if one is free and nobody is queued.
    ///
    /// # Errors
    /// [`TryAcquireError::NoPermits`] or [`TryAcquireError::Closed`].
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_n(1)?;
        Ok(SemaphorePermit { semaphore: self, permits: 1 })
    }

    /// Takes `n` permits if they are free.
    ///
    /// # Errors
    /// [`TryAcquireError::NoPermits`] or [`TryAcquireError::Closed`].
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_n(n as usize)?;
        Ok(SemaphorePermit { semaphore: self, permits: n })
    }

    /// Like [`Semaphore::acquire`], for a semaphore in an `Arc`; the permit owns a reference.
    ///
    /// # Errors
    /// If the semaphore is closed.
    pub async fn acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.acquire_n(1).await?;
        Ok(OwnedSemaphorePermit { semaphore: self, permits: 1 })
    }

    /// Like [`Semaphore::acquire_many`], for a semaphore in an `Arc`.
    ///
    /// # Errors
    /// If the semaphore is closed.
    pub async fn acquire_many_owned(self: Arc<Self>, n: u32) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.acquire_n(n as usize).await?;
        Ok(OwnedSemaphorePermit { semaphore: self, permits: n })
    }

    /// Like [`Semaphore::try_acquire`], for a semaphore in an `Arc`.
    ///
    /// # Errors
    /// [`TryAcquireError::NoPermits`] or [`TryAcquireError::Closed`].
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_acquire_n(1)?;
        Ok(OwnedSemaphorePermit { semaphore: self, permits: 1 })
    }
}

/// The future behind every wait for permits.
pub(crate) struct Acquire<'a> {
    semaphore: &'a Semaphore,
    needed: usize,
    /// Our entry in the queue and its outcome flag, once we had to wait.
    queued: Option<(Key, Outcome)>,
}

impl Future for Acquire<'_> {
    type Output = Result<(), AcquireError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        std::task::ready!(crate::task::coop::poll_proceed(cx));
        let this = &mut *self;
        let sem = this.semaphore;
        if let Some((key, outcome)) = &this.queued {
            // Woken (or polled again): the outcome flag tells without the lock.
            match outcome.load(Acquire) {
                ACQUIRED => {
                    this.queued = None;
                    return Poll::Ready(Ok(()));
                }
                CLOSED_OUT => {
                    this.queued = None;
                    return Poll::Ready(Err(AcquireError(())));
                }
                _ => {}
            }
            let mut waiters = lock(&sem.waiters);
            // Still queued: the outcome is only set under this lock, so check once more.
            match outcome.load(Acquire) {
                QUEUED => {}
                o => {
                    drop(waiters);
                    this.queued = None;
                    return Poll::Ready(if o == ACQUIRED { Ok(()) } else { Err(AcquireError(())) });
                }
            }
            let waiter = waiters.get_mut(*key).expect("a queued acquire keeps its entry");
            match &waiter.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => waiter.waker = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        match sem.try_acquire_n(this.needed) {
            Ok(()) => return Poll::Ready(Ok(())),
            Err(TryAcquireError::Closed) => return Poll::Ready(Err(AcquireError(()))),
            Err(TryAcquireError::NoPermits) => {}
        }
        // Allocate the flag and clone the waker before taking the lock: the critical section
        // is what releasers and every other acquirer queue behind.
        let outcome = Outcome::new(AtomicUsize::new(QUEUED));
        let waker = cx.waker().clone();
        let mut waiters = lock(&sem.waiters);
        let mut assigned = 0;
        if waiters.is_empty() {
            // Nobody queued: take what is free now (it can only shrink under the lock).
            let mut cur = sem.permits.load(Acquire);
            loop {
                if cur & CLOSED != 0 {
                    return Poll::Ready(Err(AcquireError(())));
                }
                let take = this.needed.min(cur >> SHIFT);
                match sem.permits.compare_exchange_weak(cur, cur - (take << SHIFT), AcqRel, Acquire) {
                    Ok(_) => {
                        assigned = take;
                        break;
                    }
                    Err(actual) => cur = actual,
                }
            }
            if assigned == this.needed {
                return Poll::Ready(Ok(()));
            }
        } else if sem.permits.load(Acquire) & CLOSED != 0 {
            return Poll::Ready(Err(AcquireError(())));
        }
        let key = waiters.push_back(Waiter {
            needed: this.needed,
            assigned,
            waker: Some(waker),
            outcome: outcome.clone(),
        });
        this.queued = Some((key, outcome));
        Poll::Pending
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some((key, outcome)) = self.queued.take() else { return };
        if outcome.load(Acquire) == CLOSED_OUT {
            return;
        }
        let mut wake = DeferredWakes::new();
        {
            let mut waiters = lock(&self.semaphore.waiters);
            // Whatever we were handed and will not use goes to the next in line.
            let give_back = match outcome.load(Acquire) {
                ACQUIRED => self.needed,
                CLOSED_OUT => 0,
                _ => waiters.remove(key).map_or(0, |w| w.assigned),
            };
            if give_back > 0 {
                self.semaphore.release_locked(give_back, &mut waiters, &mut wake);
            }
        }
        wake.wake_all();
    }
}

/// Permits borrowed from a [`Semaphore`]; released when dropped.
#[must_use = "the permits are released as soon as this is dropped"]
pub struct SemaphorePermit<'a> {
    semaphore: &'a Semaphore,
    permits: u32,
}

/// Permits from a [`Semaphore`] in an `Arc`; released when dropped.
#[must_use = "the permits are released as soon as this is dropped"]
pub struct OwnedSemaphorePermit {
    semaphore: Arc<Semaphore>,
    permits: u32,
}

impl SemaphorePermit<'_> {
    /// Keeps the permits taken for good: they are not released on drop.
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.permits as usize
    }
}

impl OwnedSemaphorePermit {
    /// Keeps the permits taken for good: they are not released on drop.
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.permits as usize
    }

    /// The semaphore the permits came from.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.semaphore
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.semaphore.release(self.permits as usize);
        }
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.semaphore.release(self.permits as usize);
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").field("permits", &self.permits).finish()
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit").field("permits", &self.permits).finish()
    }
}
