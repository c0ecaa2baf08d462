//! The one place that chooses between `std` and `loom` primitives.
//!
//! Code that the `loom` models check (the task state word, the local run queue, the
//! JoinHandle/waker handshake) imports its atomics and cells from here, so that under
//! `RUSTFLAGS="--cfg loom"` the very same code runs inside loom's model checker, which explores
//! every interleaving of the threads in a model. Everything else uses `std` directly.

#[cfg(not(loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::atomic;
    pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

    /// Locks, ignoring poisoning: no user code runs under Kiln's internal locks, so a poisoned
    /// lock can only come from a panic in Kiln itself, and the data is still consistent.
    pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        match m.lock() {
            Ok(g) => g,
            Err(e) => e.into_inner(),
        }
    }
}

#[cfg(loom)]
pub(crate) mod sync {
    pub(crate) use loom::sync::atomic;
    pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};

    /// Locks, ignoring poisoning: no user code runs under Kiln's internal locks, so a poisoned
    /// lock can only come from a panic in Kiln itself, and the data is still consistent.
    pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        match m.lock() {
            Ok(g) => g,
            Err(e) => e.into_inner(),
        }
    }
}

/// An `UnsafeCell` with loom's closure-based API, so that loom can track every access.
#[cfg(not(loom))]
pub(crate) mod cell {
    /// `std::cell::UnsafeCell` behind the `with` / `with_mut` API that loom's cell has.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(loom)]
pub(crate) mod cell {
    pub(crate) use loom::cell::UnsafeCell;
}
