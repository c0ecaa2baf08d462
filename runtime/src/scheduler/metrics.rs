//! Per-worker counters behind `Handle::metrics()`.
//!
//! Each counter has exactly one writer (its worker), so it is bumped with a plain load and
//! store rather than an atomic read-modify-write: no locked instruction on the hot path.
//! Readers on other threads may see a slightly stale value, which is fine for metrics.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// The poll-time histogram's upper bucket edges; a last bucket holds the longer polls.
pub(crate) const POLL_TIME_EDGES: [Duration; 9] = [
    Duration::from_micros(10),
    Duration::from_micros(25),
    Duration::from_micros(50),
    Duration::from_micros(100),
    Duration::from_micros(250),
    Duration::from_micros(500),
    Duration::from_millis(1),
    Duration::from_micros(2500),
    Duration::from_millis(10),
];

/// Aligned to a cache line so two workers' counters never share one.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct WorkerMetrics {
    pub(crate) polls: AtomicU64,
    pub(crate) steals: AtomicU64,
    pub(crate) parks: AtomicU64,
    /// Whether polls are timed into `poll_time` (two clock reads per poll: opt-in).
    pub(crate) timed: bool,
    /// Polls by duration, bucket `i` up to `POLL_TIME_EDGES[i]`.
    pub(crate) poll_time: [AtomicU64; POLL_TIME_EDGES.len() + 1],
    /// Every timed poll's duration summed, ns.
    pub(crate) poll_time_sum_ns: AtomicU64,
}

impl WorkerMetrics {
    /// Counters, timing polls if `timed`.
    pub(crate) fn new(timed: bool) -> WorkerMetrics {
        WorkerMetrics { timed, ..WorkerMetrics::default() }
    }

    /// Runs one poll, timed into the histogram when enabled.
    #[inline]
    pub(crate) fn poll<R>(&self, run: impl FnOnce() -> R) -> R {
        if !self.timed {
            return run();
        }
        let start = Instant::now();
        let out = run();
        let took = start.elapsed();
        let bucket = POLL_TIME_EDGES.iter().position(|edge| took <= *edge).unwrap_or(POLL_TIME_EDGES.len());
        Self::bump(&self.poll_time[bucket]);
        Self::add(&self.poll_time_sum_ns, u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
        out
    }

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
