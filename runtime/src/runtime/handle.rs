//! `Handle`: a cloneable reference to a running runtime.

use super::{context, thread_block_on, Dump, EnterGuard, RuntimeFlavor, RuntimeMetrics};
use crate::scheduler;
use crate::task::JoinHandle;
use std::fmt;
use std::future::Future;
use std::panic::Location;

/// A cloneable reference to a runtime: spawn onto it, block on it, enter it, inspect it.
///
/// A `Handle` does not keep the runtime running: once the `Runtime` is dropped, tasks spawned
/// through a handle are cancelled at once.
#[derive(Clone)]
pub struct Handle {
    pub(crate) inner: scheduler::Handle,
}

/// Returned by [`Handle::try_current`] outside a runtime.
#[derive(Debug)]
pub struct TryCurrentError(());

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no Kiln runtime is current on this thread")
    }
}

impl std::error::Error for TryCurrentError {}

impl Handle {
    /// The runtime this thread is running in.
    ///
    /// # Panics
    /// Outside a runtime. Use [`Handle::try_current`] to check.
    #[track_caller]
    pub fn current() -> Handle {
        context::with_handle(|h| Handle { inner: h.clone() })
    }

    /// The runtime this thread is running in, if any.
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        context::try_with_handle(|h| Handle { inner: h.clone() }).ok_or(TryCurrentError(()))
    }

    /// Spawns a task on this runtime; see [`crate::spawn`].
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.spawn(future, Location::caller())
    }

    /// Runs a closure on this runtime's blocking pool.
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.inner.spawn_blocking(f, Location::caller())
    }

    /// Runs `future` to completion on this thread; see [`super::Runtime::block_on`].
    ///
    /// # Panics
    /// If called from inside a runtime.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _driving = context::enter_driving();
        let _ctx = context::enter(self.inner.clone());
        match &self.inner {
            scheduler::Handle::CurrentThread(shared) => shared.block_on(future),
            scheduler::Handle::MultiThread(_) => thread_block_on::block_on(future),
        }
    }

    /// Makes this runtime current on this thread until the guard drops.
    pub fn enter(&self) -> EnterGuard {
        context::enter(self.inner.clone())
    }

    /// The runtime's counters: tasks, polls, steals, parks, queues, timers, IO events.
    pub fn metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics::new(self.inner.clone())
    }

    /// Every live task with its spawn location, age and state.
    pub fn dump(&self) -> Dump {
        Dump::capture(&self.inner)
    }

    /// The runtime's flavour.
    pub fn runtime_flavor(&self) -> RuntimeFlavor {
        match self.inner {
            scheduler::Handle::CurrentThread(_) => RuntimeFlavor::CurrentThread,
            scheduler::Handle::MultiThread(_) => RuntimeFlavor::MultiThread,
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").field("flavor", &self.runtime_flavor()).finish()
    }
}
