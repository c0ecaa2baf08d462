//! `CachePadded<T>`: a value alone on its own cache lines.
//!
//! Two atomics written by different threads that happen to share a 64-byte cache line make
//! each core's writes evict the line from the other's cache ("false sharing"): every access
//! pays a cross-core transfer although the data is unrelated. Aligning the value to 128 bytes
//! (two lines, because x86's adjacent-line prefetcher moves lines in pairs) keeps its
//! neighbours off its lines.
//!
//! Used where one word is hammered by every thread right beside a lock and a list that only
//! queueing waiters write: a `Notify`'s state and its wait list. There it measured 1.67 ->
//! 1.27-1.31x Tokio's time for `notify_one` with 100 waiters (BENCHMARKS.md). Padding the
//! semaphore's wait list, or the scheduler's inject queue and idle set apart, did not pay
//! (no change, or slower where one thread touches all of them in turn, as a remote spawn does).

use std::ops::{Deref, DerefMut};

#[repr(align(128))]
#[derive(Default)]
pub(crate) struct CachePadded<T>(T);

impl<T> CachePadded<T> {
    pub(crate) const fn new(value: T) -> CachePadded<T> {
        CachePadded(value)
    }
}

impl<T> Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for CachePadded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}
