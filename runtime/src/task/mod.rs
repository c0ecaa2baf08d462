//! Tasks: the unit of work a runtime schedules.
//!
//! A task is a spawned future plus everything needed to run it and hand its output back. Each
//! spawn makes exactly one allocation (`cell.rs`); the scheduler, wakers, the `JoinHandle` and
//! `AbortHandle`s all point at it, and one atomic word (`state.rs`) says who may touch what.
//!
//! # Layout
//! - `state.rs`: the task state word and its numbered protocol rules.
//! - `cell.rs`: the allocation: header, future/output stage, join waker, waker vtable.
//! - `join.rs`: [`JoinHandle`] and [`AbortHandle`].
//! - `error.rs`: [`JoinError`].
//! - `join_set.rs`: [`JoinSet`], a set of tasks awaited in completion order.
//! - `coop.rs`: the cooperative budget ([`consume_budget`], [`unconstrained`]).
//! - `yield_now.rs`, `blocking.rs`: [`yield_now`] and [`spawn_blocking`].

pub(crate) mod cell;
pub(crate) mod coop;
mod error;
mod join;
pub(crate) mod state;

#[cfg(not(loom))]
mod blocking;
#[cfg(not(loom))]
mod join_set;
#[cfg(not(loom))]
mod spawn;
mod yield_now;

#[cfg(not(loom))]
pub use blocking::spawn_blocking;
pub use coop::{consume_budget, unconstrained, Unconstrained};
pub use error::JoinError;
pub use join::{AbortHandle, JoinHandle};
#[cfg(not(loom))]
pub use join_set::JoinSet;
#[cfg(not(loom))]
pub use spawn::spawn;
pub use yield_now::yield_now;

#[cfg(all(test, loom))]
mod loom_tests;

use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A task's id: unique among all tasks of the process for its lifetime.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(u64);

impl Id {
    pub(crate) fn next() -> Id {
        // Starts at 1 so that 0 never names a task.
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Id(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.0)
    }
}

/// The part of a task every holder can read without knowing the future's type.
pub(crate) struct Header {
    pub(crate) state: state::State,
    pub(crate) id: Id,
    /// Where `spawn` was called (`#[track_caller]`), for task dumps.
    pub(crate) location: &'static Location<'static>,
    /// Spawn time on the coarse clock (`util/coarse_clock.rs`), in nanoseconds.
    pub(crate) spawned_at: u64,
    /// The task's slot in its runtime's owned-task list (`usize::MAX` until bound). Written
    /// once, before the task is first scheduled.
    pub(crate) owned_slot: AtomicUsize,
}

impl Header {
    pub(crate) fn new(id: Id, location: &'static Location<'static>) -> Header {
        Header {
            state: state::State::new(),
            id,
            location,
            spawned_at: spawned_now(),
            owned_slot: AtomicUsize::new(usize::MAX),
        }
    }
}

#[cfg(not(loom))]
fn spawned_now() -> u64 {
    crate::util::coarse_clock::now_nanos()
}

#[cfg(loom)]
fn spawned_now() -> u64 {
    0
}
