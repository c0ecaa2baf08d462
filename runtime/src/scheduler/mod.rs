//! Schedulers: who runs which task when.
//!
//! # Layout
//! - `multi_thread/`: the work-stealing scheduler (workers, local queues, parking).
//! - `current_thread.rs`: everything on the `block_on` thread.
//! - `inject.rs`: the shared queue for tasks scheduled from outside a worker.
//! - `owned.rs`: the list of every live task, for shutdown and dumps.
//! - `metrics.rs`: per-worker counters.
//!
//! [`Handle`] is the flavour-independent face the rest of the runtime uses.

pub(crate) mod current_thread;
pub(crate) mod inject;
pub(crate) mod metrics;
pub(crate) mod multi_thread;
pub(crate) mod owned;

use crate::blocking::{BlockingPool, BlockingSchedule, BlockingTask};
use crate::driver;
use crate::task::cell::{Notified, Schedule, TaskCell};
use crate::task::{Id, JoinHandle};
use owned::OwnedTasks;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

/// A reference to a running runtime's scheduler, of either flavour.
#[derive(Clone)]
pub(crate) enum Handle {
    CurrentThread(Arc<current_thread::Shared>),
    MultiThread(Arc<multi_thread::Shared>),
}

impl Handle {
    pub(crate) fn spawn<F>(&self, future: F, location: &'static Location<'static>) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self {
            Handle::CurrentThread(s) => spawn_on(s.clone(), &s.owned, future, location),
            Handle::MultiThread(s) => spawn_on(s.clone(), &s.owned, future, location),
        }
    }

    pub(crate) fn spawn_blocking<F, R>(&self, f: F, location: &'static Location<'static>) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let pool = self.blocking().clone();
        // From spawn until the closure has finished (or been dropped unrun), a paused clock
        // must not jump ahead: the task may be what the runtime is waiting for.
        let inhibit = self.driver().time.clock.is_paused().then(|| InhibitAutoAdvance::new(self));
        let f = move || {
            let _inhibit = inhibit;
            f()
        };
        let cell = TaskCell::new(BlockingTask::new(f), BlockingSchedule(pool.clone()), Id::next(), location);
        let join = JoinHandle::new(cell.clone());
        pool.push(Notified::first_poll(cell));
        join
    }

    pub(crate) fn driver(&self) -> &driver::Handle {
        match self {
            Handle::CurrentThread(s) => &s.driver_handle,
            Handle::MultiThread(s) => &s.driver_handle,
        }
    }

    pub(crate) fn blocking(&self) -> &Arc<BlockingPool> {
        match self {
            Handle::CurrentThread(s) => &s.blocking,
            Handle::MultiThread(s) => &s.blocking,
        }
    }

    pub(crate) fn owned(&self) -> &OwnedTasks {
        match self {
            Handle::CurrentThread(s) => &s.owned,
            Handle::MultiThread(s) => &s.owned,
        }
    }
}

struct InhibitAutoAdvance(Handle);

impl InhibitAutoAdvance {
    fn new(handle: &Handle) -> InhibitAutoAdvance {
        handle.driver().time.clock.inhibit_auto_advance();
        InhibitAutoAdvance(handle.clone())
    }
}

impl Drop for InhibitAutoAdvance {
    fn drop(&mut self) {
        self.0.driver().time.clock.allow_auto_advance();
    }
}

/// Allocates the task, records it in the owned list, and schedules it.
fn spawn_on<S, F>(
    scheduler: S,
    owned: &OwnedTasks,
    future: F,
    location: &'static Location<'static>,
) -> JoinHandle<F::Output>
where
    S: Schedule + Clone,
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let cell = TaskCell::new(future, scheduler.clone(), Id::next(), location);
    let join = JoinHandle::new(cell.clone());
    if let Some(notified) = owned.bind(cell) {
        scheduler.schedule(notified, false);
    }
    join
}
