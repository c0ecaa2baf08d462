//! The task state word: one `AtomicUsize` that says who may touch which part of a task.
//!
//! # The protocol
//!
//! A task is shared by its scheduler (run queues, wakers), its `JoinHandle` and its
//! `AbortHandle`s. Instead of a lock, one atomic word decides, at every moment, who owns which
//! field of the task cell. The rules, cited by number from `cell.rs` and `join.rs`:
//!
//! 1. **NOTIFIED** is a permit to be polled. Whoever sets it on an idle task (neither RUNNING
//!    nor COMPLETE) must submit the task to its scheduler exactly once. A queued task always
//!    carries the bit, so a task is never queued twice.
//! 2. **RUNNING** gives its holder exclusive access to the task's stage (the future, or later
//!    its output). It is taken only from a NOTIFIED, not-RUNNING, not-COMPLETE state.
//! 3. A wake that arrives while RUNNING only sets NOTIFIED; the poller sees it when it releases
//!    RUNNING and re-submits the task itself (this is also how `yield_now` works).
//! 4. **CANCELLED** asks for the future to be dropped. The holder of RUNNING, or whoever next
//!    acquires it, drops the future and completes the task with a cancellation error.
//! 5. **COMPLETE** is set once, by the holder of RUNNING, after the output has been written.
//!    From then on the stage belongs to the holder of JOIN_INTEREST, or, if JOIN_INTEREST was
//!    already gone when COMPLETE was set, to the completer, which drops the output.
//! 6. **JOIN_INTEREST** is held by the `JoinHandle`. Dropping the handle clears it, but only
//!    while the task is not COMPLETE (a compare-and-swap); once COMPLETE is set, the handle
//!    must drop the output itself.
//! 7. **JOIN_WAKER** guards the join waker slot. While it is clear, only the `JoinHandle` may
//!    write the slot; while it is set, the slot is read-only for everyone. The `JoinHandle`
//!    sets and clears it only while the task is not COMPLETE; the completer wakes the stored
//!    waker if JOIN_WAKER was set at the moment COMPLETE was set.
//!
//! Reference counts live in the `Arc` that holds the task, not in this word.

use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};

const RUNNING: usize = 0b00_0001;
const COMPLETE: usize = 0b00_0010;
const NOTIFIED: usize = 0b00_0100;
const CANCELLED: usize = 0b00_1000;
const JOIN_INTEREST: usize = 0b01_0000;
const JOIN_WAKER: usize = 0b10_0000;

/// A freshly spawned task: its JoinHandle exists, and the spawner holds the NOTIFIED permit
/// and will submit it (rule 1).
const INITIAL: usize = NOTIFIED | JOIN_INTEREST;

/// The atomic state word of one task.
pub(crate) struct State(AtomicUsize);

/// The answer of a JoinHandle's transition that found the task COMPLETE: the output is
/// there, and the JoinHandle owns it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Completed;

/// A copy of the state word at one instant.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(usize);

/// What `transition_to_running` found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToRunning {
    /// RUNNING acquired; poll the future.
    Poll,
    /// RUNNING acquired, but the task was cancelled: drop the future instead.
    Cancel,
    /// The task is already running or complete; drop this queue entry.
    Failed,
}

/// What `transition_to_idle` found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToIdle {
    /// RUNNING released; the task waits for a wake.
    Idle,
    /// RUNNING released, but a wake came during the poll: the caller owns the NOTIFIED
    /// permit and must re-submit the task (rule 3).
    Notified,
    /// The task was cancelled during the poll: RUNNING is kept; drop the future (rule 4).
    Cancelled,
}

impl State {
    pub(crate) fn new() -> State {
        State(AtomicUsize::new(INITIAL))
    }

    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.0.load(Acquire))
    }

    /// Applies `f` until the compare-and-swap succeeds; `f` returns the new word (or `None`
    /// to leave it alone) and a result.
    fn update<R>(&self, mut f: impl FnMut(usize) -> (Option<usize>, R)) -> R {
        let mut cur = self.0.load(Acquire);
        loop {
            let (next, result) = f(cur);
            let Some(next) = next else { return result };
            match self.0.compare_exchange_weak(cur, next, AcqRel, Acquire) {
                Ok(_) => return result,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Rule 2: a queued (NOTIFIED) task is about to be polled.
    pub(crate) fn transition_to_running(&self) -> ToRunning {
        self.update(|cur| {
            if cur & (RUNNING | COMPLETE) != 0 || cur & NOTIFIED == 0 {
                return (None, ToRunning::Failed);
            }
            let next = (cur & !NOTIFIED) | RUNNING;
            let result = if cur & CANCELLED != 0 { ToRunning::Cancel } else { ToRunning::Poll };
            (Some(next), result)
        })
    }

    /// Rules 3 and 4: the poll returned `Pending`.
    pub(crate) fn transition_to_idle(&self) -> ToIdle {
        self.update(|cur| {
            debug_assert!(cur & RUNNING != 0);
            if cur & CANCELLED != 0 {
                return (None, ToIdle::Cancelled);
            }
            let result = if cur & NOTIFIED != 0 { ToIdle::Notified } else { ToIdle::Idle };
            (Some(cur & !RUNNING), result)
        })
    }

    /// Rule 5: the output is written. Returns the word as it was just before.
    pub(crate) fn transition_to_complete(&self) -> Snapshot {
        let prev = Snapshot(self.0.fetch_xor(RUNNING | COMPLETE, AcqRel));
        debug_assert!(prev.is_running() && !prev.is_complete());
        prev
    }

    /// Rules 1 and 3: a waker fired. Returns true if the caller must submit the task.
    pub(crate) fn transition_to_notified(&self) -> bool {
        self.update(|cur| {
            if cur & (COMPLETE | NOTIFIED) != 0 {
                (None, false)
            } else if cur & RUNNING != 0 {
                (Some(cur | NOTIFIED), false)
            } else {
                (Some(cur | NOTIFIED), true)
            }
        })
    }

    /// Rule 4 for `abort`: marks the task cancelled. Returns true if the caller must submit
    /// it, so that a worker drops the future.
    pub(crate) fn transition_to_notified_and_cancel(&self) -> bool {
        self.update(|cur| {
            if cur & (COMPLETE | CANCELLED) != 0 {
                (None, false)
            } else if cur & (RUNNING | NOTIFIED) != 0 {
                // The poller, or the worker that will run the queued entry, sees CANCELLED.
                (Some(cur | CANCELLED), false)
            } else {
                (Some(cur | CANCELLED | NOTIFIED), true)
            }
        })
    }

    /// Rule 4 for runtime shutdown: marks the task cancelled and, if it is idle, acquires
    /// RUNNING so the caller can drop the future right here. Returns true if it did.
    pub(crate) fn transition_to_shutdown(&self) -> bool {
        self.update(|cur| {
            let idle = cur & (RUNNING | COMPLETE) == 0;
            let next = cur | CANCELLED | if idle { RUNNING } else { 0 };
            (Some(next), idle)
        })
    }

    /// Rule 6: the JoinHandle is dropped. Also clears JOIN_WAKER, so the caller may drop the
    /// stored waker. `Err(Completed)`: the task is COMPLETE and the caller owns the output.
    pub(crate) fn unset_join_interested(&self) -> Result<(), Completed> {
        self.update(|cur| {
            debug_assert!(cur & JOIN_INTEREST != 0);
            if cur & COMPLETE != 0 {
                return (None, Err(Completed));
            }
            (Some(cur & !(JOIN_INTEREST | JOIN_WAKER)), Ok(()))
        })
    }

    /// Rule 7: the JoinHandle has written the waker slot and publishes it.
    /// `Err(Completed)`: the task completed first and will not read the slot.
    pub(crate) fn set_join_waker(&self) -> Result<(), Completed> {
        self.update(|cur| {
            debug_assert!(cur & JOIN_INTEREST != 0 && cur & JOIN_WAKER == 0);
            if cur & COMPLETE != 0 {
                return (None, Err(Completed));
            }
            (Some(cur | JOIN_WAKER), Ok(()))
        })
    }

    /// Rule 7: the JoinHandle takes the slot back to store a different waker.
    /// `Err(Completed)`: the task completed meanwhile, and the slot stays frozen.
    pub(crate) fn unset_join_waker(&self) -> Result<(), Completed> {
        self.update(|cur| {
            debug_assert!(cur & JOIN_INTEREST != 0 && cur & JOIN_WAKER != 0);
            if cur & COMPLETE != 0 {
                return (None, Err(Completed));
            }
            (Some(cur & !JOIN_WAKER), Ok(()))
        })
    }
}

impl Snapshot {
    pub(crate) fn is_running(self) -> bool {
        self.0 & RUNNING != 0
    }
    pub(crate) fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    pub(crate) fn is_notified(self) -> bool {
        self.0 & NOTIFIED != 0
    }
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }
    pub(crate) fn is_join_interested(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    pub(crate) fn is_join_waker_set(self) -> bool {
        self.0 & JOIN_WAKER != 0
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("running", &self.is_running())
            .field("complete", &self.is_complete())
            .field("notified", &self.is_notified())
            .field("cancelled", &self.is_cancelled())
            .field("join_interest", &self.is_join_interested())
            .field("join_waker", &self.is_join_waker_set())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn wake_while_running_is_handed_back_to_the_poller() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert!(!s.transition_to_notified(), "a running task is not submitted by the waker");
        assert_eq!(s.transition_to_idle(), ToIdle::Notified);
        // The poller re-submitted it; a second wake must not queue it twice.
        assert!(!s.transition_to_notified());
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_idle(), ToIdle::Idle);
        assert!(s.transition_to_notified());
    }

    #[test]
    fn abort_of_an_idle_task_submits_it_once() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_idle(), ToIdle::Idle);
        assert!(s.transition_to_notified_and_cancel());
        assert!(!s.transition_to_notified_and_cancel());
        assert!(!s.transition_to_notified());
        assert_eq!(s.transition_to_running(), ToRunning::Cancel);
    }

    #[test]
    fn join_interest_cannot_be_dropped_after_completion() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        let prev = s.transition_to_complete();
        assert!(prev.is_join_interested());
        assert!(s.unset_join_interested().is_err());
        assert!(s.load().is_complete() && !s.load().is_running());
    }
}
