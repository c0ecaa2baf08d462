//! Synchronisation for tasks: channels, locks, semaphores and notification, with Tokio's
//! semantics and paths (`kiln::sync::mpsc`, `kiln::sync::Mutex`, …).
//!
//! # Which one?
//! | need | use |
//! |---|---|
//! | many producers, one consumer, with backpressure | [`mpsc::channel`] |
//! | … without backpressure | [`mpsc::unbounded_channel`] |
//! | one reply to one request | [`oneshot`] |
//! | every subscriber sees every message (chat rooms, events) | [`broadcast`] |
//! | everyone sees the *latest* value (config, shutdown flag, state) | [`watch`] |
//! | exclusive access held across `.await` | [`Mutex`] (otherwise `std::sync::Mutex`) |
//! | many readers or one writer | [`RwLock`] |
//! | limit concurrency to N (connection pools, rate limits) | [`Semaphore`] |
//! | "something happened", no data | [`Notify`] |
//! | N tasks meet before going on | [`Barrier`] |
//! | lazy async initialisation | [`OnceCell`] |
//!
//! # Layout
//! - `waiter_queue.rs`: the FIFO waiter queue with stable keys behind the fair primitives.
//! - `semaphore.rs`: the fair batch semaphore; `mutex.rs` and `rwlock.rs` sit on it, and so
//!   does the bounded `mpsc` channel (`mpsc/chan.rs`).
//! - `notify.rs`; `oneshot.rs`; `broadcast.rs`; `watch.rs`; `barrier.rs`; `once_cell.rs`.
//!
//! # Cancellation
//! Every wait is cancelled by dropping its future. Receives (`recv`, `changed`) are
//! cancel-safe: nothing is lost. Queued waits (`lock`, `acquire`, `notified`) give back their
//! place in the queue and anything they were already handed, which passes to the next waiter.
//! Each method's docs say which kind it is.

mod barrier;
pub mod broadcast;
mod deferred_wakes;
pub mod mpsc;
mod mutex;
mod notify;
mod once_cell;
pub mod oneshot;
mod rwlock;
mod semaphore;
mod send_error;
mod waiter_queue;
pub mod watch;

pub use barrier::{Barrier, BarrierWaitResult};
pub use mutex::{Mutex, MutexGuard, OwnedMutexGuard, TryLockError};
pub use notify::{Notified, Notify};
pub use once_cell::{OnceCell, SetError};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TryAcquireError};

#[cfg(all(test, loom))]
mod loom_tests;

/// Panics if this thread drives a runtime: a blocking call here would stall the thread that
/// must run the task it is waiting for.
#[cfg(not(loom))]
#[track_caller]
pub(crate) fn assert_not_in_runtime(what: &str) {
    if crate::runtime::context::is_driving() {
        panic!(
            "{what} was called from inside a Kiln runtime: blocking here would stall the thread that \
             runs the task it waits for. Use `.await` instead, or call it from `spawn_blocking` or a \
             plain thread."
        );
    }
}
