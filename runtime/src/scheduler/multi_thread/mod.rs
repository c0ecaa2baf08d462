//! The multi-thread, work-stealing scheduler.
//!
//! N worker threads, each owning a [`Core`](worker::Core): a local run queue (`queue.rs`), a
//! LIFO slot and a random number generator. Work finds its way to workers like this:
//!
//! - A task woken or spawned **on a worker** goes into that worker's LIFO slot, bumping the
//!   previous occupant to the back of the local queue. In message-passing code (task A sends to
//!   task B and waits for the reply) B then runs next, while A's data is still in cache.
//! - A task woken or spawned **elsewhere** (another thread, `block_on`) goes into the shared
//!   inject queue (`inject.rs`) and one parked worker is woken, unless one is already searching.
//! - A worker takes work from, in order: its LIFO slot, its local queue, the inject queue (a
//!   batch at a time), and other workers' queues (it steals half of one). Every
//!   `global_queue_interval` ticks it checks the inject queue *first*, so remote work is never
//!   starved by a busy local queue.
//! - Every `event_interval` ticks a busy worker polls the driver without blocking, so IO and
//!   timers make progress even when no worker is idle.
//! - A worker with nothing to do parks (`park.rs`): one idle worker sleeps in the driver, the
//!   rest on condvars. `idle.rs` decides whom to wake, with as few syscalls as it can.

mod idle;
pub(crate) mod park;
pub(crate) mod queue;
pub(crate) mod worker;

use crate::blocking::BlockingPool;
use crate::driver::{self, Driver};
use crate::scheduler::inject::Inject;
use crate::scheduler::metrics::WorkerMetrics;
use crate::scheduler::owned::OwnedTasks;
use crate::task::cell::{Notified, Schedule};
use crate::task::Header;
use idle::Idle;
use park::Parker;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Scheduler tunables, fixed at build time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    /// Ticks between non-blocking driver polls on a busy worker.
    pub(crate) event_interval: u32,
    /// Ticks between checks of the inject queue ahead of the local queue.
    pub(crate) global_queue_interval: u32,
    /// Time every poll into the workers' histograms.
    pub(crate) poll_time: bool,
}

/// What every worker and every handle of a multi-thread runtime share.
pub(crate) struct Shared {
    pub(crate) remotes: Box<[Remote]>,
    pub(crate) inject: Inject,
    idle: Idle,
    pub(crate) owned: OwnedTasks,
    pub(crate) driver: Mutex<Driver>,
    pub(crate) driver_handle: driver::Handle,
    pub(crate) blocking: Arc<BlockingPool>,
    pub(crate) config: Config,
    shutdown: AtomicBool,
}

/// The parts of a worker that other threads touch.
pub(crate) struct Remote {
    pub(crate) steal: queue::Steal<Notified>,
    pub(crate) parker: Parker,
    pub(crate) metrics: WorkerMetrics,
}

impl Shared {
    /// Builds the shared state and one core per worker (to be moved into worker threads).
    // Each core is boxed because it moves in and out of its worker's thread-local context on
    // every task poll: a pointer copy instead of a memcpy of the whole core.
    #[allow(clippy::vec_box)]
    pub(crate) fn new(
        workers: usize,
        driver: Driver,
        driver_handle: driver::Handle,
        blocking: Arc<BlockingPool>,
        config: Config,
    ) -> (Arc<Shared>, Vec<Box<worker::Core>>) {
        let mut remotes = Vec::with_capacity(workers);
        let mut cores = Vec::with_capacity(workers);
        for index in 0..workers {
            let (local, steal) = queue::local();
            remotes.push(Remote {
                steal,
                parker: Parker::new(),
                metrics: WorkerMetrics::new(config.poll_time),
            });
            cores.push(Box::new(worker::Core::new(index, local)));
        }
        let shared = Arc::new(Shared {
            remotes: remotes.into_boxed_slice(),
            inject: Inject::new(),
            idle: Idle::new(workers),
            owned: OwnedTasks::new(),
            driver: Mutex::new(driver),
            driver_handle,
            blocking,
            config,
            shutdown: AtomicBool::new(false),
        });
        (shared, cores)
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Asks every worker to stop and wakes them all so they notice.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        for remote in self.remotes.iter() {
            remote.parker.unpark(&self.driver_handle);
        }
        self.driver_handle.io.unpark();
    }

    /// A task arrives from outside any worker of this runtime.
    fn schedule_remote(&self, task: Notified) {
        if self.is_shutdown() {
            return; // dropped: shutdown cancels every task through the owned list
        }
        self.inject.push(task);
        self.notify_parked();
    }

    /// Wakes a parked worker if nobody is searching for work already.
    pub(crate) fn notify_parked(&self) {
        if let Some(index) = self.idle.worker_to_notify() {
            self.remotes[index].parker.unpark(&self.driver_handle);
        }
    }

    /// Tasks waiting in worker `index`'s local queue (a snapshot, for metrics).
    pub(crate) fn worker_queue_depth(&self, index: usize) -> usize {
        self.remotes[index].steal.len()
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: Notified, is_yield: bool) {
        if let Some(task) = worker::try_schedule_local(self, task, is_yield) {
            self.schedule_remote(task);
        }
    }

    fn release(&self, header: &Header) {
        self.owned.remove(header);
    }
}
