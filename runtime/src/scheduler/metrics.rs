//! Per-worker counters behind `Handle::metrics()`.
//!
//! Each counter has exactly one writer (its worker), so it is bumped with a plain load and
//! store rather than an atomic read-modify-write: no locked instruction on the hot path.
//! Readers on other threads may see a slightly stale value, which is fine for metrics.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Aligned to a cache line so two workers' counters never share one.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct WorkerMetrics {
    pub(crate) polls: AtomicU64,
    pub(crate) steals: AtomicU64,
    pub(crate) parks: AtomicU64,
}

impl WorkerMetrics {
    #[inline]
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.store(counter.load(Relaxed) + 1, Relaxed);
    }

    #[inline]
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.store(counter.load(Relaxed) + n, Relaxed);
    }

    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }
}
