//! `RuntimeMetrics`: the runtime's counters, stable and always on.
//!
//! Counters are cheap to keep (each worker bumps its own, see `scheduler/metrics.rs`) and
//! cheap to read, so they are not hidden behind a feature flag. Values read while the
//! runtime runs are snapshots that may be a little stale.

use crate::scheduler::metrics::{WorkerMetrics, POLL_TIME_EDGES};
use crate::scheduler::Handle;
use std::time::Duration;

/// A view of a runtime's counters. Get one with `Handle::metrics()`.
#[derive(Clone)]
pub struct RuntimeMetrics {
    handle: Handle,
}

impl RuntimeMetrics {
    pub(crate) fn new(handle: Handle) -> RuntimeMetrics {
        RuntimeMetrics { handle }
    }

    /// Worker threads (1 for the current-thread flavour).
    pub fn num_workers(&self) -> usize {
        match &self.handle {
            Handle::CurrentThread(_) => 1,
            Handle::MultiThread(s) => s.remotes.len(),
        }
    }

    /// Tasks spawned and not yet completed. A task leaves this count just after its
    /// `JoinHandle` resolves (the worker releases it once its output is stored).
    pub fn num_alive_tasks(&self) -> usize {
        self.handle.owned().live()
    }

    /// Tasks spawned since the runtime started.
    pub fn spawned_tasks_count(&self) -> u64 {
        self.handle.owned().spawned()
    }

    /// Tasks waiting in the shared inject queue.
    pub fn global_queue_depth(&self) -> usize {
        match &self.handle {
            Handle::CurrentThread(s) => s.inject.len(),
            Handle::MultiThread(s) => s.inject.len(),
        }
    }

    /// Tasks waiting in worker `worker`'s local queue.
    pub fn worker_local_queue_depth(&self, worker: usize) -> usize {
        match &self.handle {
            Handle::CurrentThread(s) => s.local_queue_depth(),
            Handle::MultiThread(s) => s.worker_queue_depth(worker),
        }
    }

    fn worker(&self, worker: usize) -> &WorkerMetrics {
        match &self.handle {
            Handle::CurrentThread(s) => &s.metrics,
            Handle::MultiThread(s) => &s.remotes[worker].metrics,
        }
    }

    /// Task polls run by worker `worker`.
    pub fn worker_poll_count(&self, worker: usize) -> u64 {
        WorkerMetrics::get(&self.worker(worker).polls)
    }

    /// Successful steals by worker `worker`.
    pub fn worker_steal_count(&self, worker: usize) -> u64 {
        WorkerMetrics::get(&self.worker(worker).steals)
    }

    /// Times worker `worker` parked for lack of work.
    pub fn worker_park_count(&self, worker: usize) -> u64 {
        WorkerMetrics::get(&self.worker(worker).parks)
    }

    /// Task polls across all workers.
    pub fn total_polls(&self) -> u64 {
        (0..self.num_workers()).map(|w| self.worker_poll_count(w)).sum()
    }

    /// Steals across all workers.
    pub fn total_steals(&self) -> u64 {
        (0..self.num_workers()).map(|w| self.worker_steal_count(w)).sum()
    }

    /// Parks across all workers.
    pub fn total_parks(&self) -> u64 {
        (0..self.num_workers()).map(|w| self.worker_park_count(w)).sum()
    }

    /// Threads in the blocking pool.
    pub fn num_blocking_threads(&self) -> usize {
        self.handle.blocking().num_threads()
    }

    /// Blocking-pool threads waiting for work.
    pub fn num_idle_blocking_threads(&self) -> usize {
        self.handle.blocking().num_idle_threads()
    }

    /// Blocking tasks waiting for a thread.
    pub fn blocking_queue_depth(&self) -> usize {
        self.handle.blocking().queue_depth()
    }

    /// Timers registered in the timer wheel.
    pub fn active_timers(&self) -> usize {
        self.handle.driver().time.active_timers()
    }

    /// Whether polls are timed (`Builder::enable_metrics_poll_time_histogram`).
    pub fn poll_time_histogram_enabled(&self) -> bool {
        self.worker(0).timed
    }

    /// The histogram's buckets: the last one is unbounded.
    pub fn poll_time_histogram_num_buckets(&self) -> usize {
        POLL_TIME_EDGES.len() + 1
    }

    /// The durations bucket `bucket` holds: from the previous edge (exclusive) to its own
    /// (inclusive); the last bucket's end is `Duration::MAX`.
    pub fn poll_time_histogram_bucket_range(&self, bucket: usize) -> std::ops::Range<Duration> {
        let start = if bucket == 0 { Duration::ZERO } else { POLL_TIME_EDGES[bucket - 1] };
        start..POLL_TIME_EDGES.get(bucket).copied().unwrap_or(Duration::MAX)
    }

    /// Polls by worker `worker` whose duration fell in bucket `bucket` (0 when not timed).
    pub fn poll_time_histogram_bucket_count(&self, worker: usize, bucket: usize) -> u64 {
        WorkerMetrics::get(&self.worker(worker).poll_time[bucket])
    }

    /// Every timed poll's duration by worker `worker`, summed.
    pub fn worker_total_poll_time(&self, worker: usize) -> Duration {
        Duration::from_nanos(WorkerMetrics::get(&self.worker(worker).poll_time_sum_ns))
    }

    /// IO readiness events the reactor has dispatched.
    pub fn io_ready_count(&self) -> u64 {
        self.handle.driver().io.events_dispatched()
    }
}

impl std::fmt::Debug for RuntimeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeMetrics")
            .field("num_workers", &self.num_workers())
            .field("num_alive_tasks", &self.num_alive_tasks())
            .field("spawned_tasks_count", &self.spawned_tasks_count())
            .field("total_polls", &self.total_polls())
            .field("total_steals", &self.total_steals())
            .field("total_parks", &self.total_parks())
            .field("global_queue_depth", &self.global_queue_depth())
            .field("num_blocking_threads", &self.num_blocking_threads())
            .field("active_timers", &self.active_timers())
            .field("io_ready_count", &self.io_ready_count())
            .finish()
    }
}
