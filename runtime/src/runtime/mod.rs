//! The runtime: a scheduler, a driver (IO + timers) and a blocking pool, started together.
//!
//! # Layout
//! - `builder.rs`: [`Builder`].
//! - `handle.rs`: [`Handle`], a cloneable reference to a running runtime.
//! - `context.rs`: the thread-local "current runtime" behind `kiln::spawn` and friends.
//! - `thread_block_on.rs`: blocking a plain thread on a future (`block_on` of the multi-thread flavour).
//! - `metrics.rs`, `dump.rs`: [`RuntimeMetrics`] and [`Dump`], always on.
//! - `trim.rs`: [`trim_allocator`], freed heap memory back to the operating system.

mod builder;
pub(crate) mod context;
mod dump;
mod handle;
mod metrics;
mod thread_block_on;
mod trim;

pub use builder::{
    Builder, DEFAULT_EVENT_INTERVAL, DEFAULT_GLOBAL_QUEUE_INTERVAL, DEFAULT_MAX_BLOCKING_THREADS,
    DEFAULT_THREAD_KEEP_ALIVE,
};
pub use context::EnterGuard;
pub use dump::{Dump, TaskInfo, TaskState};
pub use handle::{Handle, TryCurrentError};
pub use metrics::RuntimeMetrics;
pub(crate) use thread_block_on::block_on as thread_block_on;
pub use trim::trim_allocator;

use crate::blocking::BlockingPool;
use crate::scheduler;
use crate::task::JoinHandle;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Which scheduler a runtime uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuntimeFlavor {
    /// Every task runs on the thread inside `block_on`.
    CurrentThread,
    /// Work-stealing worker threads.
    MultiThread,
}

pub(crate) type Flavor = RuntimeFlavor;

/// A Kiln runtime: the executor, the IO and timer driver, and the blocking pool.
///
/// Dropping it shuts it down: workers stop, every pending task's future is dropped (so
/// awaiting their `JoinHandle`s gives a cancellation error), and it waits for running
/// blocking tasks to finish (use [`Runtime::shutdown_timeout`] to bound that wait).
pub struct Runtime {
    handle: Handle,
    flavor: Flavor,
    workers: Vec<std::thread::JoinHandle<()>>,
    blocking: Arc<BlockingPool>,
    /// Set once shut down, so `Drop` after `shutdown_timeout` does nothing.
    is_shut_down: bool,
}

impl Runtime {
    /// A multi-thread runtime with default settings.
    ///
    /// # Errors
    /// If the OS refuses the runtime's resources (see [`Builder::build`]).
    pub fn new() -> std::io::Result<Runtime> {
        Builder::new_multi_thread().enable_all().build()
    }

    pub(crate) fn from_parts(
        handle: Handle,
        flavor: Flavor,
        workers: Vec<std::thread::JoinHandle<()>>,
        blocking: Arc<BlockingPool>,
    ) -> Runtime {
        Runtime { handle, flavor, workers, blocking, is_shut_down: false }
    }

    /// Runs `future` to completion on the current thread and returns its output.
    ///
    /// On a current-thread runtime this thread also runs every spawned task meanwhile; on a
    /// multi-thread runtime the workers run them and this thread sleeps until `future` is
    /// woken.
    ///
    /// # Panics
    /// If called from inside a runtime (a task, or another `block_on`): that would block the
    /// thread that should be running tasks. Use `.await` instead.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Spawns a task on this runtime; see [`crate::spawn`].
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs a closure on the blocking pool; see [`crate::task::spawn_blocking`].
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking(f)
    }

    /// A cloneable handle to this runtime.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Makes this runtime current on this thread until the guard drops, so `kiln::spawn`
    /// works outside `block_on`.
    pub fn enter(&self) -> EnterGuard {
        self.handle.enter()
    }

    /// Shuts down, waiting at most `timeout` for running blocking tasks. Blocking threads
    /// still running after that are left to finish on their own.
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        self.shutdown(Some(timeout));
    }

    /// Shuts down without waiting for blocking tasks.
    pub fn shutdown_background(self) {
        self.shutdown_timeout(Duration::ZERO)
    }

    fn shutdown(&mut self, blocking_timeout: Option<Duration>) {
        if std::mem::replace(&mut self.is_shut_down, true) {
            return;
        }
        let _ctx = context::enter(self.handle.inner.clone());
        match &self.handle.inner {
            scheduler::Handle::MultiThread(shared) => {
                shared.begin_shutdown();
                for worker in self.workers.drain(..) {
                    if worker.thread().id() != std::thread::current().id() {
                        let _ = worker.join();
                    }
                }
                shared.inject.close();
                shared.owned.close_and_shutdown_all();
            }
            scheduler::Handle::CurrentThread(shared) => shared.shutdown(),
        }
        // From inside another runtime, waiting on threads would stall its worker.
        let timeout = if context::is_driving() { Some(Duration::ZERO) } else { blocking_timeout };
        self.blocking.shutdown(timeout);
        self.handle.inner.driver().io.shutdown();
    }

    /// The flavour this runtime was built with.
    pub fn flavor(&self) -> RuntimeFlavor {
        self.flavor
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown(None);
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("flavor", &self.flavor).finish()
    }
}

#[cfg(feature = "criterion")]
impl criterion::async_executor::AsyncExecutor for &Runtime {
    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        Runtime::block_on(self, future)
    }
}

#[cfg(feature = "criterion")]
impl criterion::async_executor::AsyncExecutor for Runtime {
    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        Runtime::block_on(self, future)
    }
}
