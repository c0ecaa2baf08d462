//! `JoinHandle` and `AbortHandle`: the owner's side of a spawned task.

use super::cell::JoinTarget;
use super::{Id, JoinError};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// An owned permission to await a spawned task's output.
///
/// It is a `Future` giving `Ok(output)`, or `Err(JoinError)` if the task panicked or was
/// cancelled. **Dropping a `JoinHandle` detaches the task**: it keeps running, and its output
/// is dropped when it finishes. Use [`JoinHandle::abort`] to stop it.
///
/// Awaiting a `JoinHandle` is cancel-safe: if the `await` is cancelled, the output is not
/// lost, and a later poll of the same handle returns it.
pub struct JoinHandle<T> {
    task: Arc<dyn JoinTarget<T>>,
}

/// A handle that can abort a task but not await it. Cloneable; dropping it does nothing.
#[derive(Clone)]
pub struct AbortHandle {
    task: Arc<dyn AbortTarget>,
}

/// `JoinTarget<T>` without the `T`, so `AbortHandle` need not be generic.
trait AbortTarget: Send + Sync {
    fn abort(self: Arc<Self>);
    fn is_finished(&self) -> bool;
    fn id(&self) -> Id;
}

/// Adapts a typed task to `AbortTarget`. Costs one extra allocation per `abort_handle()` call,
/// not per task.
struct Erased<T>(Arc<dyn JoinTarget<T>>);

impl<T: Send + 'static> AbortTarget for Erased<T> {
    fn abort(self: Arc<Self>) {
        self.0.clone().abort()
    }
    fn is_finished(&self) -> bool {
        self.0.header().state.load().is_complete()
    }
    fn id(&self) -> Id {
        self.0.header().id
    }
}

impl<T: Send + 'static> JoinHandle<T> {
    pub(crate) fn new(task: Arc<dyn JoinTarget<T>>) -> JoinHandle<T> {
        JoinHandle { task }
    }

    /// Cancels the task. If it is idle, its future is dropped by a worker soon; if it is being
    /// polled right now, it is dropped when that poll returns. Awaiting the handle afterwards
    /// gives `Err(JoinError::Cancelled)`, unless the task had already finished.
    pub fn abort(&self) {
        self.task.clone().abort()
    }

    /// True once the task has finished (with output, panic or cancellation).
    pub fn is_finished(&self) -> bool {
        self.task.header().state.load().is_complete()
    }

    /// A handle that can abort this task from elsewhere.
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle { task: Arc::new(Erased(self.task.clone())) }
    }

    /// The task's id.
    pub fn id(&self) -> Id {
        self.task.header().id
    }
}

impl<T> JoinHandle<T> {
    /// `abort` without the `T: Send` bound, for `JoinSet`'s `Drop`.
    pub(crate) fn abort_in_drop(&self) {
        self.task.clone().abort()
    }
}

impl<T> Unpin for JoinHandle<T> {}

impl<T: Send + 'static> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        std::task::ready!(super::coop::poll_proceed(cx));
        self.task.poll_join(cx)
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.task.drop_join_handle();
    }
}

impl<T: Send + 'static> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("id", &self.id()).finish()
    }
}

impl AbortHandle {
    /// Cancels the task; see [`JoinHandle::abort`].
    pub fn abort(&self) {
        self.task.clone().abort()
    }

    /// True once the task has finished.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// The task's id.
    pub fn id(&self) -> Id {
        self.task.id()
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle").field("id", &self.id()).finish()
    }
}
