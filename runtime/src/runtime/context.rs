//! The thread-local "current runtime".
//!
//! `kiln::spawn`, `sleep` and socket constructors find their runtime here. It is set while a
//! thread runs `block_on`, on worker and blocking-pool threads, and inside a
//! `Handle::enter()` guard.

use crate::scheduler::Handle;
use std::cell::{Cell, RefCell};

thread_local! {
    static CURRENT: RefCell<Option<Handle>> = const { RefCell::new(None) };
    /// True while this thread drives a runtime (`block_on`, a worker): blocking it again
    /// with a nested `block_on` would deadlock.
    static DRIVING: Cell<bool> = const { Cell::new(false) };
}

const NO_RUNTIME: &str = "there is no reactor running, must be called from the context of a Kiln runtime \
     (inside `block_on`, `#[kiln::main]`, a spawned task, or a `Handle::enter()` guard)";

/// Calls `f` with the current runtime.
///
/// # Panics
/// Outside a runtime, with a message that says so.
#[track_caller]
pub(crate) fn with_handle<R>(f: impl FnOnce(&Handle) -> R) -> R {
    // `f` runs inside the `RefCell` borrow; none of its callers enters another runtime from
    // within `f` (that would need a mutable borrow and panic), they only spawn or register.
    let result = CURRENT.try_with(|c| c.borrow().as_ref().map(f));
    match result {
        Ok(Some(r)) => r,
        _ => panic!("{}", NO_RUNTIME),
    }
}

/// Calls `f` with the current runtime, if there is one.
pub(crate) fn try_with_handle<R>(f: impl FnOnce(&Handle) -> R) -> Option<R> {
    CURRENT.try_with(|c| c.borrow().as_ref().map(f)).ok().flatten()
}

/// Makes `handle` current until the guard drops (restoring the previous one).
pub(crate) fn enter(handle: Handle) -> EnterGuard {
    let prev = CURRENT.with(|c| c.replace(Some(handle)));
    EnterGuard { prev, _not_send: std::marker::PhantomData }
}

/// Restores the previous runtime context when dropped.
pub struct EnterGuard {
    prev: Option<Handle>,
    /// The guard restores this thread's context; moving it to another thread would corrupt both.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = CURRENT.try_with(|c| c.replace(prev));
    }
}

impl std::fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnterGuard")
    }
}

/// Marks this thread as driving a runtime until the guard drops.
///
/// # Panics
/// If the thread already drives one: a nested `block_on` would block the thread that is
/// supposed to run the tasks it waits for.
#[track_caller]
pub(crate) fn enter_driving() -> DrivingGuard {
    if DRIVING.with(|d| d.replace(true)) {
        panic!(
            "Cannot start a runtime from within a runtime. This happens because a function (like \
             `block_on`) attempted to block the current thread while the thread is being used to \
             drive asynchronous tasks. Use `.await` or `spawn_blocking` instead."
        );
    }
    DrivingGuard(())
}

pub(crate) struct DrivingGuard(());

impl Drop for DrivingGuard {
    fn drop(&mut self) {
        DRIVING.with(|d| d.set(false));
    }
}

pub(crate) fn is_driving() -> bool {
    DRIVING.with(|d| d.get())
}
